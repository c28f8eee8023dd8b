"""How many samples the protocols' metrics need, checked from the counts alone before any sampling or feature work.

Per compared set (reference, samples, proposals of one object family, floor): FHID fits a
covariance to D-dimensional backbone features and needs more than D samples (D = the
backbone's feature size, 256 for the shipped ones); precision / recall needs k + 1 for its
k-nearest-neighbour radii; KHID and diversity need 2. The strictest is the minimum
(:func:`min_set_size`). The protocols (evaluation/protocol.py, evaluation/object_protocol.py)
find out only after minutes of sampling and feature extraction; these checks read only the
files' row counts and the settings, so that a command refuses at once.

Messages name the settings as the caller calls them (``names``: a command line passes its
option names, e.g. {"num": "--num"}).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import DataError
from interhandgen_core.evaluation.configuration import MetricsConfig
from interhandgen_core.evaluation.protocol import ProtocolConfig


def min_set_size(feature_dim: int, metrics: MetricsConfig) -> int:
    """The fewest samples one compared set may hold: FHID's > D, precision / recall's k + 1, and 2."""
    return max(feature_dim + 1, metrics.pr_k + 1, 2)


def _why(feature_dim: int, need: int) -> str:
    return f"FHID of {feature_dim}-D backbone features needs at least {need} per set"


def check_protocol_sizes(config: ProtocolConfig, feature_dim: int, names: Mapping[str, str] | None = None) -> None:
    """Refuse (DataError) a two-hand protocol whose reference, hands files or samples per variant are too few.

    Reads the reference's and each hands-file variant's scene count (the files are checked as
    the protocol reads them); a file that does not exist is left to the protocol, which names all
    the missing ones at once. ``names``: how the caller names "num_samples" and "reference".
    """
    name = {"num_samples": "num_samples", "reference": "reference", **(names or {})}
    need = min_set_size(feature_dim, config.metrics)
    reference = _scenes(config.reference)
    if reference is not None and reference < need:
        raise DataError(
            f"{name['reference']} {config.reference} holds {reference} scenes; {_why(feature_dim, need)}: "
            f"make a larger held-out set"
        )
    if config.num_samples < need:
        raise DataError(
            f"{name['num_samples']} is {config.num_samples} samples per variant; {_why(feature_dim, need)}: "
            f"use at least {need}"
        )
    for variant, spec in config.variants.items():
        if spec.samples is None:
            continue
        rows = _scenes(spec.samples)
        if rows is not None and rows < need:
            raise DataError(
                f"{variant}: {spec.samples} holds {rows} scenes; {_why(feature_dim, need)}: sample at least {need}"
            )


def _scenes(path: Path) -> int | None:
    """The scenes of a hands file, or None where there is no such file."""
    return load_twohand_params(path)[0].batch_size if Path(path).is_file() else None


def check_object_sizes(
    reference: GraspSet,
    grasps_per_object: int,
    feature_dim: int,
    metrics: MetricsConfig,
    floor: GraspSet | None = None,
    names: Mapping[str, str] | None = None,
) -> None:
    """Refuse (DataError) an object-family evaluation in which no family could be scored, or the floor of a scored
    family is too small.

    As evaluation/object_protocol.py counts: a family is scored when both its reference grasps and
    its proposals (its objects x ``grasps_per_object``) reach :func:`min_set_size`; a scored
    family's floor grasps (matched by family name) must reach it too. ``names``: how the caller
    names "grasps_per_object", "reference" and "floor".
    """
    name = {"grasps_per_object": "grasps_per_object", "reference": "reference", "floor": "floor", **(names or {})}
    need = min_set_size(feature_dim, metrics)
    families = reference.objects.family
    grasps = torch.bincount(families[reference.object_index], minlength=len(reference.objects.family_names))
    objects = torch.bincount(families, minlength=len(reference.objects.family_names))
    scored = [f for f in range(len(grasps)) if int(grasps[f]) >= need and int(objects[f]) * grasps_per_object >= need]
    if not scored:
        largest = int(grasps.max()) if len(grasps) else 0
        if largest < need:
            raise DataError(
                f"no object family of the {name['reference']} set has {need} grasps (the most: {largest}); "
                f"{_why(feature_dim, need)}: make a larger held-out grasp set (more objects or grasps per object)"
            )
        most_objects = max(int(objects[f]) for f in range(len(grasps)) if int(grasps[f]) >= need)
        enough = -(-need // most_objects)
        raise DataError(
            f"{name['grasps_per_object']} is {grasps_per_object} proposals per object: no object family would get "
            f"{need} of them ({most_objects} objects at most in a family with enough reference grasps); "
            f"{_why(feature_dim, need)}: use at least {enough}"
        )
    if floor is None:
        return
    floor_grasps = torch.bincount(floor.objects.family[floor.object_index], minlength=len(floor.objects.family_names))
    for f in scored:
        family = reference.objects.family_names[f]
        count = (
            int(floor_grasps[floor.objects.family_names.index(family)]) if family in floor.objects.family_names else 0
        )
        if count < need:
            raise DataError(
                f"{name['floor']}: object family {family} has {count} grasps there; {_why(feature_dim, need)}: "
                "use a larger grasp set as the floor"
            )
