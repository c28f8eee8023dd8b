"""Object-conditioned two-hand synthesis per object category (paper section 4.2, Table 1b).

Protocol: a held-out grasp set (data/grasp_synth.py; objects of a seed no training set uses)
is the reference. For each of its objects the prior proposes ``grasps_per_object`` grasps from
the object's surface cloud (the same cloud the reference grasps were made on, object frame).
Per object family (the reference's ``objects.family_names``: the procedural families of
data/procedural_objects.py, or the template meshes of data/articulated_objects.py such as
ARCTIC's objects), the proposals of that family's objects are compared with the reference
grasps of that family through the object-conditional feature backbone (hands and object
points in one labelled cloud, S.4.1): FHID, KHID, diversity, precision and recall; plus
hand-hand penetration volume (as the two-hand protocol) and hand-object penetration depth
against the object's exact solid (primitive union or mesh). The average over families is
the summary row, as the paper reports. ``floor``: the same figures for another real grasp set
(e.g. the training set's grasps of the same families) against the reference, i.e. what data
alone scores.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.evaluation.configuration import MetricsConfig
from interhandgen_core.evaluation.feature_backbone import FeatureBackbone, hand_vertices
from interhandgen_core.evaluation.metrics import interaction_measures
from interhandgen_core.evaluation.protocol import feature_metrics
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.pipelines.grasp import GraspPipeline

_COLUMNS = (
    ("fhid", "FHID", 1.0),
    ("khid", "KHID (x1e-1)", 10.0),
    ("diversity", "Diversity", 1.0),
    ("precision", "Precision", 1.0),
    ("recall", "Recall", 1.0),
    ("penetration_volume_cm3", "PenVol (cm^3)", 1.0),
    ("hand_object_depth_mm", "H-O depth (mm)", 1.0),
)


def _grasp_measures(
    backbone: FeatureBackbone,
    right_layer: HandLayer,
    left_layer: HandLayer,
    left: HandParams,
    right: HandParams,
    object_clouds: torch.Tensor,
    signed_distance: Any,
    metrics: MetricsConfig,
) -> dict[str, torch.Tensor]:
    """Grasps (N rows, object frame) with their objects' clouds (N, P, 3) -> features and per-grasp figures."""
    lv, rv = hand_vertices(left_layer, left), hand_vertices(right_layer, right)
    features = backbone.features_of(lv, rv, object_clouds)
    _, _, volume = interaction_measures(lv, left_layer.faces, rv, right_layer.faces, metrics.voxel_m)
    depth = torch.maximum(torch.relu(-signed_distance(lv)).amax(-1), torch.relu(-signed_distance(rv)).amax(-1))
    return {"features": features, "volume": volume, "hand_object_depth": depth}


def _compare(
    reference: dict[str, torch.Tensor], fake: dict[str, torch.Tensor], metrics: MetricsConfig
) -> dict[str, float]:
    return {
        **feature_metrics(reference["features"], fake["features"], metrics, metrics.seed),
        "penetration_volume_cm3": float(fake["volume"].double().mean()) * 1e6,
        "hand_object_depth_mm": float(fake["hand_object_depth"].double().mean()) * 1000,
    }


def _measure_set(
    grasps: GraspSet, backbone: FeatureBackbone, right_layer: HandLayer, left_layer: HandLayer, metrics: MetricsConfig
) -> dict[str, torch.Tensor]:
    clouds = grasps.object_points[grasps.object_index]
    rows = grasps.object_index

    def sdf(points: torch.Tensor) -> torch.Tensor:
        return grasps.objects.signed_distance(points, rows)

    return _grasp_measures(backbone, right_layer, left_layer, grasps.left, grasps.right, clouds, sdf, metrics)


def evaluate_object_categories(
    model: GraspPipeline,
    reference: GraspSet,
    backbone: FeatureBackbone,
    grasps_per_object: int,
    metrics: MetricsConfig,
    floor: GraspSet | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The protocol of the module docstring -> {"families": {name: {"ours": {...}, "floor": {...}}}, "average": ...}."""
    if model.prior.object_encoder is None:
        raise ConfigError("object-category evaluation needs an object-conditioned prior")
    if not backbone.config.with_object:
        raise ConfigError("object-category evaluation needs an object-conditional feature backbone (with_object)")
    right_layer, left_layer = model.right_layer, model.left_layer
    ref = _measure_set(reference, backbone, right_layer, left_layer, metrics)
    floor_measures = None if floor is None else _measure_set(floor, backbone, right_layer, left_layer, metrics)
    lefts, rights, index = [], [], []
    num_objects = reference.object_points.shape[0]
    for m in tqdm(range(num_objects), desc="objects", disable=not progress):  # one cloud per call
        grasps = model.sample(
            grasps_per_object,
            seed=m,
            object_points=reference.object_points[m],
            object_normals=reference.object_normals[m],
        )
        lefts.append(grasps.left.to("cpu"))
        rights.append(grasps.right.to("cpu"))
        index.append(torch.full((grasps_per_object,), m))
    proposals = GraspSet(
        reference.objects,
        reference.object_points,
        reference.object_normals,
        torch.cat(index),
        HandParams.cat(lefts),
        HandParams.cat(rights),
        torch.zeros(num_objects * grasps_per_object, dtype=torch.long),
        torch.zeros(num_objects * grasps_per_object),
        torch.zeros(num_objects * grasps_per_object),
        0,
        reference.kind_names,
    )
    ours = _measure_set(proposals, backbone, right_layer, left_layer, metrics)
    families: dict[str, dict[str, Any]] = {}
    for f, name in enumerate(reference.objects.family_names):
        ref_rows = (reference.objects.family[reference.object_index] == f).nonzero().flatten()
        if ref_rows.numel() == 0:
            continue
        our_rows = (reference.objects.family[proposals.object_index] == f).nonzero().flatten()
        entry: dict[str, Any] = {"reference_grasps": int(ref_rows.numel()), "proposals": int(our_rows.numel())}
        fewest = min(ref_rows.numel(), our_rows.numel())
        if fewest <= backbone.config.feature_dim:
            # A family too small for a covariance of the features is listed, not scored.
            entry["skipped"] = (
                f"{fewest} grasps; FHID of {backbone.config.feature_dim}-D features needs more than "
                f"{backbone.config.feature_dim} per set"
            )
            families[name] = entry
            continue
        try:
            entry["ours"] = _compare(_rows(ref, ref_rows), _rows(ours, our_rows), metrics)
            if floor is not None and floor_measures is not None:
                # The floor is matched by family name: its objects may number their families otherwise.
                floor_f = floor.objects.family_names.index(name) if name in floor.objects.family_names else -1
                floor_rows = (floor.objects.family[floor.object_index] == floor_f).nonzero().flatten()
                entry["floor"] = _compare(_rows(ref, ref_rows), _rows(floor_measures, floor_rows), metrics)
        except DataError as exc:
            raise DataError(f"object family {name}: {exc}") from None
        families[name] = entry
    scored = [e for e in families.values() if "skipped" not in e]
    if not scored:
        raise DataError(
            f"no object family of the reference has more than {backbone.config.feature_dim} grasps; "
            "make a larger held-out grasp set (more objects or grasps per object)"
        )
    average = {
        who: {key: statistics.fmean(e[who][key] for e in scored) for key, *_ in _COLUMNS}
        for who in ("ours", "floor")
        if all(who in e for e in scored)
    }
    return {"families": families, "average": average, "grasps_per_object": grasps_per_object}


def _rows(measures: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[rows] for k, v in measures.items()}


def object_markdown(report: dict[str, Any]) -> str:
    """Table 1b's columns, one row per family (and the floor beneath it), then the average."""
    header = "| Family | Method | " + " | ".join(title for _, title, _ in _COLUMNS) + " |"
    lines = ["**Object-conditioned two-hand synthesis per object family (paper Table 1b)**", "", header]
    lines.append("|---" * (len(_COLUMNS) + 2) + "|")

    def row(family: str, who: str, values: dict[str, float]) -> str:
        cells = " | ".join(f"{values[key] * scale:.3f}" for key, _, scale in _COLUMNS)
        return f"| {family} | {who} | {cells} |"

    for name, entry in report["families"].items():
        if "skipped" in entry:
            lines.append(f"| {name} | not scored: {entry['skipped']} |" + " |" * len(_COLUMNS))
            continue
        lines.append(row(f"{name} ({entry['reference_grasps']} ref.)", "Ours", entry["ours"]))
        if "floor" in entry:
            lines.append(row(name, "Data (floor)", entry["floor"]))
    for who, values in report["average"].items():
        lines.append(row("**average of the scored families**", "Ours" if who == "ours" else "Data (floor)", values))
    return "\n".join(lines) + "\n"


def write_object_report(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "objects.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "objects.md").write_text(object_markdown(report), encoding="utf-8")
