"""Synthetic bimanual grasps: two hands holding a procedural object, optimised through the hand model.

Each candidate starts from a placement kind (where each hand goes on the object and how it
is articulated), randomised in shape, articulation and placement, and is then optimised
through the differentiable hand layers against the object's exact signed distance
(geometry/primitives.py): designated contact points (palm centre, fingertips) are pulled
onto the surface, every hand vertex is pushed out of the object, and the two hands are
kept apart. Candidates that still penetrate or do not touch are rejected.

Placement kinds (object frame, z up; which hand takes which role is random):
    opposite_sides   palms on opposite sides of the object, facing each other
    same_side        both hands side by side on one face
    support_below    one palm under the object, the other hand on its top or side
    pinch_and_power  one hand pinches with thumb and index, the other wraps it

Objectives (``objective``):
    contact        the designated contact points onto the surface, hand-object and hand-hand
                   penetration out (the shipped training set's)
    force-closure  DexGraspNet's and BimanGrasp's energy over 16 candidate contacts per hand
                   (fingertips, finger pads, palm): both hands' contacts in one force-closure
                   term, contact distance, penetration, joint limits
                   (data/force_closure_objective.py, contact/force_closure.py)

Acceptance (exact, per candidate): hand-object penetration depth of both hands at most
``max_penetration_m``; hand-hand penetration depth at most ``max_penetration_m``; each hand
touches: its closest vertex within ``contact_m`` of the surface and at least
``min_contacts`` of its designated contact points within ``contact_m``. With
``physics_filter``, a candidate must also hold its object in all six push directions of the
physics validation (data/grasp_physics_filter.py, default GraspPhysicsConfig).

Everything is batched over candidates (of many objects at once); the only loops are over
optimisation iterations and fixed-size chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from interhandgen_core.array_files import read_npz
from interhandgen_core.contact.grasp_measures import GraspFigures, GraspStatistics, measure_grasps
from interhandgen_core.contact.interaction import measure_interaction
from interhandgen_core.contact.penetration import hand_pair_depths, margin_penetration
from interhandgen_core.data import force_closure_objective as fco
from interhandgen_core.data.articulated_objects import ArticulatedObjects
from interhandgen_core.data.grasp_physics_filter import PhysicsFilter
from interhandgen_core.data.hand_pair_synthesis import (
    Candidates,
    HandOffsets,
    HandPairSynthesizer,
    Rounds,
    collect_plausible,
)
from interhandgen_core.data.procedural_objects import ProceduralObjects
from interhandgen_core.errors import ConfigError, DataError, InterHandGenError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer, HandOutput
from interhandgen_core.hands.placement import hand_frame, palm_centre_offset, palm_vertex_index

GRASP_KINDS: tuple[str, ...] = ("opposite_sides", "same_side", "support_below", "pinch_and_power")
OBJECTIVES: tuple[str, ...] = ("contact", "force-closure")
_TIPS = [KEYPOINT_NAMES.index(f"{f}_tip") for f in ("thumb", "index", "middle", "ring", "pinky")]
_PALM_GAP_M = 0.012  # palm centre (a joint average) to the palm's skin
_NUM_TARGETS = 6  # five fingertips, then the palm
_HAND_MARGIN_M = 0.001  # hand-hand penetration counts from this far in front of the other hand's skin
_DEEP_M = 0.03  # vertices deeper than this behind the other hand: the hands pass through each other


class GraspSynthesisError(InterHandGenError):
    """Too few grasps passed the plausibility check."""


@dataclass(frozen=True)
class GraspSynthConfig:
    """Settings of the synthetic grasp generator (lengths in metres).

    grasps_per_object: accepted grasps to keep per object. kinds: placement kinds, uniform.
    chunk_size: candidates optimised together. iterations: Adam steps per candidate.
    nn_refresh_every: steps between hand-hand nearest-neighbour searches.
    beta_std, pose_noise_std: spread of hand shapes and of articulation.
    max_penetration_m, contact_m, min_contacts: acceptance test (module docstring).
    max_rounds: give up on an object after this many rounds of candidates.
    objective: "contact" or "force-closure" (module docstring). fc_weight, distance_weight,
    joints_weight: the force-closure objective's w_fc, w_dis (per cm), w_joints (per radian).
    pad_probability: chance that a used fingertip's two pads are contacts too.
    physics_filter: keep only candidates that hold in the physics validation.
    draw_factor: each round draws this many candidates per grasp an object still misses.
    """

    grasps_per_object: int = 12
    seed: int = 0
    kinds: tuple[str, ...] = GRASP_KINDS
    chunk_size: int = 256
    iterations: int = 50
    nn_refresh_every: int = 5
    beta_std: float = 0.8
    pose_noise_std: float = 0.05
    max_penetration_m: float = 0.003
    contact_m: float = 0.005
    min_contacts: int = 2
    max_rounds: int = 6
    objective: str = "contact"
    fc_weight: float = 2.0
    distance_weight: float = 1.0
    joints_weight: float = 10.0
    pad_probability: float = 0.5
    physics_filter: bool = False
    draw_factor: int = 2

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose from {list(OBJECTIVES)}")
        if min(self.fc_weight, self.distance_weight, self.joints_weight) < 0 or not 0 <= self.pad_probability <= 1:
            raise ConfigError("fc_weight, distance_weight, joints_weight must be >= 0 and pad_probability in [0, 1]")
        if self.draw_factor < 1:
            raise ConfigError(f"draw_factor must be >= 1, got {self.draw_factor}")
        unknown = sorted(set(self.kinds) - set(GRASP_KINDS))
        if unknown or not self.kinds:
            raise ConfigError(f"unknown grasp kinds {unknown}; choose from {list(GRASP_KINDS)}")
        if self.grasps_per_object < 1 or self.chunk_size < 1 or self.nn_refresh_every < 1 or self.iterations < 0:
            raise ConfigError("grasps_per_object, chunk_size, nn_refresh_every must be >= 1 and iterations >= 0")
        if self.min_contacts < 1 or self.max_rounds < 1:
            raise ConfigError("min_contacts and max_rounds must be >= 1")


# The force-closure recipe (training/README.md): more iterations than the contact objective (its
# terms pull 32 contacts rather than 12 points), the physics filter, and two candidates drawn per
# grasp an object misses: about half the candidates hold, and four per grasp threw half the holds away.
HOLDING_ITERATIONS = 100
HOLDING_DRAW_FACTOR = 2


def holding_config(seed: int, physics_filter: bool = True, **overrides: Any) -> GraspSynthConfig:
    """The force-closure recipe's GraspSynthConfig (objective, iterations, filter, draws); ``overrides`` win."""
    settings: dict[str, Any] = {
        "objective": "force-closure",
        "iterations": HOLDING_ITERATIONS,
        "draw_factor": HOLDING_DRAW_FACTOR,
        "physics_filter": physics_filter,
    }
    settings.update(overrides)
    return GraspSynthConfig(seed=seed, **settings)


class ConvertedScenes(Protocol):
    """What a dataset converter returns (ARCTIC's ArcticSplit), as ``GraspSet.from_converted`` reads it.

    N scenes of M object instances, object frame, metres: objects; points, normals (M, P, 3)
    surface clouds; object_index (N,) long into objects; left, right HandParams (N,); kind (N,)
    long. Structural, so ArcticSplit fits without the converters and the synthesizers importing each
    other (pyproject.toml's "datasets" independence contract).
    """

    @property
    def objects(self) -> ProceduralObjects | ArticulatedObjects: ...
    @property
    def points(self) -> Tensor: ...
    @property
    def normals(self) -> Tensor: ...
    @property
    def object_index(self) -> Tensor: ...
    @property
    def left(self) -> HandParams: ...
    @property
    def right(self) -> HandParams: ...
    @property
    def kind(self) -> Tensor: ...


@dataclass
class GraspSet:
    """N grasps of M objects, hands in the object frame (origin at the object's surface centroid).

    object_index (N,) long into ``objects``: procedural primitive unions (the synthesizer's) or
    articulated meshes (ARCTIC's converter); both name their families with ``family_names``.
    kind (N,) long into ``kind_names`` (the synthesizer's GRASP_KINDS; ARCTIC's ("grab", "use"));
    object_points, object_normals (M, P, 3) surface samples; the figures are exact measurements
    (metres), NaN where nobody measured them (converted datasets).
    """

    objects: ProceduralObjects | ArticulatedObjects
    object_points: Tensor
    object_normals: Tensor
    object_index: Tensor
    left: HandParams
    right: HandParams
    kind: Tensor
    hand_object_depth: Tensor  # (N,) deeper of the two hands' penetration into the object
    hand_hand_depth: Tensor  # (N,)
    attempts: int
    kind_names: tuple[str, ...] = GRASP_KINDS
    # How the synthesis went beyond ``attempts`` (candidates, passed the geometric test, held in
    # physics, seconds); empty for loaded or converted sets.
    synthesis: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.object_index.shape[0])

    @staticmethod
    def from_converted(scenes: ConvertedScenes, kind_names: tuple[str, ...]) -> GraspSet:
        """A converted dataset's scenes (ConvertedScenes) -> the GraspSet training and the object protocol read.

        kind_names: what ``scenes.kind`` indexes (ARCTIC_ACTIONS for ARCTIC). attempts is N. The
        penetration figures are NaN: they are the generator's acceptance measurements, which
        nobody made for captured data.
        """
        n = int(scenes.object_index.shape[0])
        not_measured = torch.full((n,), float("nan"))
        return GraspSet(
            scenes.objects,
            scenes.points,
            scenes.normals,
            scenes.object_index,
            scenes.left,
            scenes.right,
            scenes.kind,
            not_measured,
            not_measured,
            n,
            kind_names=kind_names,
        )

    @staticmethod
    def cat(sets: list[GraspSet]) -> GraspSet:
        """Several grasp sets of procedural objects -> one: objects, clouds and grasps in the order given.

        Each set's object_index is offset by the objects before it; attempts add up; ``synthesis``
        records are summed where every set has them (candidates, held, seconds) and the success
        ratios recomputed. The sets must share the cloud size and kind names.
        """
        if not sets:
            raise DataError("nothing to merge: give at least one grasp set")
        if not all(isinstance(s.objects, ProceduralObjects) for s in sets):
            raise DataError("only grasp sets of procedural objects can be merged (ARCTIC sets carry mesh templates)")
        clouds = {tuple(s.object_points.shape[1:]) for s in sets}
        names = {s.kind_names for s in sets}
        if len(clouds) > 1 or len(names) > 1:
            raise DataError(
                f"grasp sets to merge must share the object cloud size and grasp kind names; got clouds "
                f"{sorted(clouds)} and kind names {sorted(names)}"
            )
        offsets = np.cumsum([0] + [len(s.objects) for s in sets[:-1]]).tolist()
        objects = ProceduralObjects.cat([s.objects for s in sets])  # type: ignore[misc]
        return GraspSet(
            objects,
            torch.cat([s.object_points for s in sets]),
            torch.cat([s.object_normals for s in sets]),
            torch.cat([s.object_index + o for s, o in zip(sets, offsets, strict=True)]),
            HandParams.cat([s.left for s in sets]),
            HandParams.cat([s.right for s in sets]),
            torch.cat([s.kind for s in sets]),
            torch.cat([s.hand_object_depth for s in sets]),
            torch.cat([s.hand_hand_depth for s in sets]),
            sum(s.attempts for s in sets),
            sets[0].kind_names,
            _merged_synthesis([s.synthesis for s in sets]),
        )

    def kind_counts(self) -> dict[str, int]:
        """Grasps per kind, every name of ``kind_names`` listed in its order."""
        counts = torch.bincount(self.kind, minlength=len(self.kind_names)).tolist()
        return dict(zip(self.kind_names, counts, strict=True))

    def family_counts(self) -> dict[str, int]:
        """Objects (M, not grasps) per family, every name of ``objects.family_names`` listed in its order."""
        counts = torch.bincount(self.objects.family, minlength=len(self.objects.family_names)).tolist()
        return dict(zip(self.objects.family_names, counts, strict=True))

    def measure(self, left_layer: HandLayer, right_layer: HandLayer) -> GraspFigures:
        """Each grasp measured against its object's exact signed distance -> GraspFigures, (N,) each, metres.

        left_layer, right_layer: the hand layers the set's parameters are for. The figures are
        contact/grasp_measures.py's (hand-object and hand-hand depth, each hand's gap), object frame.
        """
        with torch.no_grad():
            left_vertices = left_layer(self.left).vertices
            right_vertices = right_layer(self.right).vertices
        return measure_grasps(
            left_vertices,
            left_layer.faces,
            right_vertices,
            right_layer.faces,
            lambda points, rows: self.objects.signed_distance(points, self.object_index[rows]),
        )

    def summary(self, config: GraspSynthConfig, statistics: GraspStatistics, hand_model: str) -> dict[str, Any]:
        """The .json beside a synthesised grasp set: what was asked for, what it took, what came out.

        config: the settings that made this set (seed). statistics: ``grasp_statistics(measure(...))``
        (millimetres, ratios). hand_model: the hand model's name. Keys, in order: objects (M),
        grasps (N), seed, attempts, acceptance_ratio (N / attempts), kinds (grasps per kind),
        families (objects per family), statistics, hand_model, and ``synthesis`` (objective,
        physics success of the candidates) where the synthesizer recorded it.
        """
        extra: dict[str, Any] = {"synthesis": self.synthesis} if self.synthesis else {}
        return {
            "objects": len(self.objects),
            "grasps": len(self),
            "seed": config.seed,
            "attempts": self.attempts,
            "acceptance_ratio": len(self) / max(self.attempts, 1),
            "kinds": self.kind_counts(),
            "families": self.family_counts(),
            "statistics": statistics.as_dict(),
            "hand_model": hand_model,
            **extra,
        }

    def save(self, path: str | Path) -> None:
        """One .npz (no pickles): hands as in the hands-file schema plus the objects and their clouds."""
        arrays: dict[str, np.ndarray] = {
            "object_index": self.object_index.numpy(),
            "object_cloud_points": self.object_points.numpy(),
            "object_cloud_normals": self.object_normals.numpy(),
            "grasp_kind": self.kind.numpy(),
            "hand_object_depth": self.hand_object_depth.numpy(),
            "hand_hand_depth": self.hand_hand_depth.numpy(),
            "grasp_kind_names": np.array(self.kind_names),  # unicode, so it loads without pickles
            **self.objects.to_arrays(),
        }
        arrays.update(self.left.to_arrays("left"))
        arrays.update(self.right.to_arrays("right"))
        path = Path(path)
        if path.suffix != ".npz":
            raise DataError(f"{path}: a grasp set file must end in .npz")
        if not path.parent.is_dir():
            raise DataError(f"{path.parent}: output folder does not exist")
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @staticmethod
    def load(path: str | Path) -> GraspSet:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such grasp set")
        arrays = read_npz(path, "grasp set")
        needed = ["object_index", "object_cloud_points", "object_cloud_normals", "grasp_kind"]
        needed += [f"{s}_{n}" for s in ("left", "right") for n in ("pose", "betas", "rotation", "translation")]
        missing = [k for k in needed if k not in arrays]
        if missing:
            raise DataError(f"{path}: not a grasp set (missing {', '.join(missing)})")

        index = torch.as_tensor(arrays["object_index"]).long()
        points = torch.as_tensor(arrays["object_cloud_points"]).float()
        if index.numel() and (index.min() < 0 or index.max() >= points.shape[0]):
            raise DataError(f"{path}: object_index refers to objects outside 0..{points.shape[0] - 1}")
        objects: ProceduralObjects | ArticulatedObjects
        try:
            # Articulated meshes (ARCTIC) carry templates; files without them hold primitive unions.
            if "object_template_names" in arrays:
                objects = ArticulatedObjects.from_arrays(arrays)
            else:
                objects = ProceduralObjects.from_arrays(arrays)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
        if len(objects) != points.shape[0]:
            raise DataError(f"{path}: {len(objects)} objects but {points.shape[0]} object clouds; they must match")
        kind_names = _kind_names(path, arrays)
        kind = torch.as_tensor(arrays["grasp_kind"]).long()
        if kind.numel() and (kind.min() < 0 or kind.max() >= len(kind_names)):
            raise DataError(
                f"{path}: grasp_kind must index grasp_kind_names {list(kind_names)} (0..{len(kind_names) - 1})"
            )
        n = index.shape[0]
        return GraspSet(
            objects,
            points,
            torch.as_tensor(arrays["object_cloud_normals"]).float(),
            index,
            HandParams.from_arrays(arrays, "left"),
            HandParams.from_arrays(arrays, "right"),
            kind,
            torch.as_tensor(arrays.get("hand_object_depth", np.zeros(n))).float(),
            torch.as_tensor(arrays.get("hand_hand_depth", np.zeros(n))).float(),
            0,
            kind_names,
        )


def _merged_synthesis(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Synthesis records of merged sets: counts and seconds summed, success ratios recomputed; {} unless all have them."""
    if not records or not all(records) or len({r.get("objective") for r in records}) > 1:
        return {}
    counted = ("physics_filter", "candidates", "passed_geometric_test", "held_in_physics", "physics_seconds")
    merged: dict[str, Any] = {"objective": records[0]["objective"]}
    for key in counted:
        if all(key in r for r in records):
            merged[key] = float(sum(r[key] for r in records))
    merged["physics_filter"] = float(all(r.get("physics_filter") for r in records))
    if "held_in_physics" in merged:
        merged["physics_success_of_candidates"] = merged["held_in_physics"] / max(merged["candidates"], 1.0)
        merged["physics_success_of_geometric"] = merged["held_in_physics"] / max(merged["passed_geometric_test"], 1.0)
    return merged


def _kind_names(path: Path, arrays: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The names ``grasp_kind`` indexes; files written before they were stored used GRASP_KINDS."""
    if "grasp_kind_names" not in arrays:
        return GRASP_KINDS
    names = arrays["grasp_kind_names"]
    if names.ndim != 1 or names.dtype.kind != "U" or names.size == 0:
        raise DataError(
            f"{path}: grasp_kind_names must be a non-empty 1-D unicode array, got dtype {names.dtype} shape {names.shape}"
        )
    return tuple(str(name) for name in names.tolist())


def _pick(points: Tensor, normals: Tensor, target: Tensor, facing: Tensor, min_cos: float) -> tuple[Tensor, Tensor]:
    """Per row, the surface sample nearest to ``target`` among those whose normal is within acos(min_cos) of ``facing``.

    points, normals (B, P, 3); target, facing (B, 3) -> point (B, 3), normal (B, 3). Rows with no
    sample facing that way fall back to all samples.
    """
    ok = (normals * facing[:, None]).sum(-1) >= min_cos
    ok = ok | ~ok.any(-1, keepdim=True)
    d = (points - target[:, None]).norm(dim=-1).masked_fill(~ok, math.inf)
    i = d.argmin(-1)
    rows = torch.arange(points.shape[0])
    return points[rows, i], normals[rows, i]


def _support(points: Tensor, normals: Tensor, direction: Tensor) -> tuple[Tensor, Tensor]:
    """The outermost sample along ``direction`` (B, 3) among those facing it: (B, 3) point and normal."""
    far = direction * 10.0  # metres: far outside any object, so "nearest to it" means "outermost"
    return _pick(points, normals, far, direction, 0.5)


def _tangent(normal: Tensor, preferred: Tensor) -> Tensor:
    """Unit vectors (B, 3) perpendicular to ``normal``, as close as possible to ``preferred`` (fallback: any)."""
    t = preferred - (preferred * normal).sum(-1, keepdim=True) * normal
    fallback = torch.cross(normal, torch.tensor([0.0, 0.0, 1.0]).expand_as(normal), dim=-1)
    fallback = torch.where(
        fallback.norm(dim=-1, keepdim=True) < 1e-3,
        torch.cross(normal, torch.eye(3)[0].expand_as(normal), dim=-1),
        fallback,
    )
    t = torch.where(t.norm(dim=-1, keepdim=True) < 1e-3, fallback, t)
    return torch.nn.functional.normalize(t, dim=-1)


def _rotate_about(v: Tensor, axis: Tensor, angle: Tensor) -> Tensor:
    """Rotate v (B, 3) about unit axis (B, 3) by angle (B,) radians."""
    return (axis_angle_to_matrix(axis * angle[:, None]) @ v[..., None])[..., 0]


@dataclass
class _Placement:
    """Where one hand starts: surface point and normal, finger direction, articulation, contact targets."""

    point: Tensor  # (B, 3)
    normal: Tensor  # (B, 3) outward
    fingers: Tensor  # (B, 3)
    curl: Tensor  # (B, 5)
    spread: Tensor  # (B,)
    targets: Tensor  # (B, 6) weights of five fingertips and the palm


def _placements(
    kind: Tensor, points: Tensor, normals: Tensor, generator: torch.Generator
) -> tuple[_Placement, _Placement]:
    """kind (B,) long, surface samples (B, P, 3) -> (placement of hand A, placement of hand B)."""
    b = kind.shape[0]
    ez = torch.tensor([0.0, 0.0, 1.0]).expand(b, 3)

    def u(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand((b, *shape), generator=generator)

    azimuth = u(-math.pi, math.pi)
    horizontal = torch.stack([azimuth.cos(), azimuth.sin(), torch.zeros(b)], -1)
    k = {name: (kind == i)[:, None] for i, name in enumerate(GRASP_KINDS)}

    # Direction from the object's centre to each hand.
    top_or_side = torch.where(u(0, 1, 1) < 0.4, ez, horizontal)
    dir_a = horizontal.clone()
    dir_b = torch.where(k["opposite_sides"] | k["pinch_and_power"], -horizontal, top_or_side)
    dir_a = torch.where(k["support_below"], -ez, dir_a)
    dir_b = torch.where(k["same_side"], dir_a, dir_b)
    dir_a = torch.where(k["same_side"], top_or_side, dir_a)
    dir_b = torch.where(k["same_side"], top_or_side, dir_b)

    point_a, normal_a = _support(points, normals, dir_a)
    point_b, normal_b = _support(points, normals, dir_b)
    # Same side: the two hands side by side, about a hand's width apart along the face.
    side = _tangent(normal_a, torch.cross(ez, dir_a, dim=-1) + 1e-3 * horizontal)
    offset = u(0.045, 0.07, 1)
    near_a, n_near_a = _pick(points, normals, point_a + offset * side, normal_a, 0.7)
    near_b, n_near_b = _pick(points, normals, point_a - offset * side, normal_a, 0.7)
    same = k["same_side"]
    point_a, normal_a = torch.where(same, near_a, point_a), torch.where(same, n_near_a, normal_a)
    point_b, normal_b = torch.where(same, near_b, point_b), torch.where(same, n_near_b, normal_b)

    # Fingers: up the object when on its side, any horizontal way on top or below, rolled randomly.
    def fingers(normal: Tensor, roll: float) -> Tensor:
        base = _tangent(normal, torch.where((normal * ez).sum(-1, keepdim=True).abs() > 0.7, horizontal, ez))
        return _rotate_about(base, normal, u(-roll, roll))

    fingers_a, fingers_b = fingers(normal_a, 1.0), fingers(normal_b, 1.0)
    across = _tangent(normal_a, torch.cross(normal_a, side, dim=-1))
    fingers_a = torch.where(same, across, fingers_a)
    fingers_b = torch.where(same, across, fingers_b)

    power = torch.ones(b, _NUM_TARGETS)
    curl_a = torch.cat([u(0.1, 0.4, 1), u(0.1, 0.5, 4)], 1)
    curl_b = torch.cat([u(0.1, 0.4, 1), u(0.1, 0.5, 4)], 1)
    # Pinch (hand A of pinch_and_power): thumb and index reach, the other fingers tuck in.
    pinch = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0]).expand(b, _NUM_TARGETS)
    targets_a = torch.where(k["pinch_and_power"], pinch, power)
    curl_pinch = torch.cat([u(0.3, 0.6, 2), u(0.75, 1.0, 3)], 1)
    curl_a = torch.where(k["pinch_and_power"], curl_pinch, curl_a)
    return (
        _Placement(point_a, normal_a, fingers_a, curl_a, u(-0.3, 0.4), targets_a),
        _Placement(point_b, normal_b, fingers_b, curl_b, u(-0.3, 0.4), power.clone()),
    )


def _choose(condition: Tensor, a: _Placement, b: _Placement) -> _Placement:
    """Row-wise a where condition (B,) holds, else b."""

    def pick(x: Tensor, y: Tensor) -> Tensor:
        return torch.where(condition.reshape(-1, *([1] * (x.ndim - 1))), x, y)

    return _Placement(*(pick(getattr(a, f), getattr(b, f)) for f in _Placement.__dataclass_fields__))


class GraspSynthesizer(HandPairSynthesizer):
    """Generates bimanual grasps of procedural objects with a right and a left hand layer."""

    def __init__(self, right_layer: HandLayer, left_layer: HandLayer) -> None:
        super().__init__(right_layer, left_layer)
        self.palm_vertex = {"right": palm_vertex_index(right_layer), "left": palm_vertex_index(left_layer)}
        # The force-closure objective's candidate contacts and joint limits (data/force_closure_objective.py).
        self.contact_vertex = {"right": fco.contact_vertices(right_layer), "left": fco.contact_vertices(left_layer)}
        self.joint_limits = {"right": fco.joint_limits("right"), "left": fco.joint_limits("left")}

    def _contact_points(self, side: str, out: HandOutput) -> Tensor:
        """(B, 6, 3): five fingertips and the palm's skin."""
        palm = out.vertices[:, self.palm_vertex[side]][:, None]
        return torch.cat([out.keypoints[:, _TIPS], palm], dim=1)

    def _chunk(
        self,
        objects: ProceduralObjects,
        object_index: Tensor,
        points: Tensor,
        normals: Tensor,
        kind: Tensor,
        generator: torch.Generator,
        config: GraspSynthConfig,
    ) -> tuple[HandParams, HandParams, Tensor, Tensor]:
        """Optimise one chunk of candidates -> (left, right, left contact weights, right contact weights):
        (B, 6) over the tip keypoints and the palm (contact objective) or (B, 16) over the candidate
        contact vertices (force-closure objective)."""
        b = kind.shape[0]
        place_a, place_b = _placements(kind, points[object_index], normals[object_index], generator)
        a_is_right = torch.rand(b, generator=generator) < 0.5
        right_place = _choose(a_is_right, place_a, place_b)
        left_place = _choose(a_is_right, place_b, place_a)

        start: dict[str, HandParams] = {}
        for side, layer, place in (("right", self.right_layer, right_place), ("left", self.left_layer, left_place)):
            betas = (torch.randn(b, 10, generator=generator) * config.beta_std).clamp(-2, 2)
            wobble = axis_angle_to_matrix(torch.randn(b, 3, generator=generator) * 0.1)
            rotation = wobble @ hand_frame(side, place.fingers, -place.normal)  # type: ignore[arg-type]
            palm = place.point + _PALM_GAP_M * place.normal
            translation = palm - (rotation @ palm_centre_offset(layer, betas)[..., None])[..., 0]
            pose = curl_pose(place.curl, place.spread) + torch.randn(b, 45, generator=generator) * config.pose_noise_std
            if side == "left":  # curl_pose speaks the right hand's convention
                pose = HandParams(pose, betas, rotation, translation).mirrored().pose
            start[side] = HandParams(pose, betas, rotation, translation)

        right, left = HandOffsets.around(start["right"]), HandOffsets.around(start["left"])
        if config.objective == "force-closure":
            weights = {
                side: fco.contact_weights(place.targets, config.pad_probability, generator)
                for side, place in (("right", right_place), ("left", left_place))
            }
        force_closure = config.objective == "force-closure"

        def loss(lo: HandOutput, ro: HandOutput, right_to_left: Tensor, left_to_right: Tensor) -> Tensor:
            total = torch.zeros(b)
            for side, out, place, offsets in (("right", ro, right_place, right), ("left", lo, left_place, left)):
                sdf = objects.signed_distance(out.vertices, object_index)
                # Penetration in cm, with a 2 mm margin so that touching skin does not sink in.
                total = total + (torch.relu(0.002 - sdf) * 100).pow(2).sum(-1)
                if not force_closure:
                    contact_sdf = objects.signed_distance(self._contact_points(side, out), object_index)
                    total = total + (place.targets * (contact_sdf * 100).pow(2)).sum(-1)
                else:
                    pose = offsets.start.pose + offsets.pose
                    total = total + config.joints_weight * fco.joint_energy(pose, self.joint_limits[side])
                total = total + 0.5 * offsets.pose.pow(2).sum(-1) + 2.0 * offsets.rotation.pow(2).sum(-1)
            if force_closure:
                # DexGraspNet's E_fc with BimanGrasp's contacts of both hands together, and E_dis.
                e_fc, e_dis = fco.force_closure_terms(
                    lambda p: objects.signed_distance(p, object_index),
                    lo.vertices[:, self.contact_vertex["left"]],
                    ro.vertices[:, self.contact_vertex["right"]],
                    weights["left"],
                    weights["right"],
                )
                total = total + config.fc_weight * e_fc + config.distance_weight * e_dis
            depths = hand_pair_depths(
                lo.vertices, self.left_layer.faces, ro.vertices, self.right_layer.faces, right_to_left, left_to_right
            )
            # Hand against hand (contact/penetration.py: Eq. 8's depth, squared), each hand's term scaled
            # by the share of its vertices less than 3 cm behind the other, which weakens it while the
            # hands pass through each other (deep down, the nearest vertex's normal says little about
            # the way out).
            for depth in (depths.right_depth, depths.left_depth):
                total = total + margin_penetration(depth, _HAND_MARGIN_M) * (depth < _DEEP_M).float().mean(-1)
            return total

        left_out, right_out = self.optimise(left, right, loss, config.iterations, config.nn_refresh_every)
        if force_closure:  # judged on the contacts it pulled onto the surface
            return left_out, right_out, weights["left"], weights["right"]
        return left_out, right_out, left_place.targets, right_place.targets

    def _accept(
        self,
        objects: ProceduralObjects,
        object_index: Tensor,
        left: HandParams,
        right: HandParams,
        left_targets: Tensor,
        right_targets: Tensor,
        config: GraspSynthConfig,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """-> (accepted (B,) bool, hand-object depth (B,), hand-hand depth (B,)) metres."""
        with torch.no_grad():
            lo = self.left_layer(left)
            ro = self.right_layer(right)
            ok = torch.ones(object_index.shape[0], dtype=torch.bool)
            depth = torch.zeros(object_index.shape[0])
            for side, out, targets in (("left", lo, left_targets), ("right", ro, right_targets)):
                sdf = objects.signed_distance(out.vertices, object_index)
                depth = torch.maximum(depth, torch.relu(-sdf).max(-1).values)
                ok &= sdf.min(-1).values.abs() <= config.contact_m
                contacts = (
                    self._contact_points(side, out)
                    if targets.shape[1] == _NUM_TARGETS
                    else out.vertices[:, self.contact_vertex[side]]
                )
                touching = objects.signed_distance(contacts, object_index).abs() <= config.contact_m
                needed = torch.clamp(targets.sum(-1), max=float(config.min_contacts))
                ok &= (touching.float() * (targets > 0)).sum(-1) >= needed
            hand_depth, _ = measure_interaction(lo.vertices, self.left_layer.faces, ro.vertices, self.right_layer.faces)
            ok &= (depth <= config.max_penetration_m) & (hand_depth <= config.max_penetration_m)
            ok &= torch.isfinite(left.to_vector()).all(-1) & torch.isfinite(right.to_vector()).all(-1)
        return ok, depth, hand_depth

    def generate(
        self,
        objects: ProceduralObjects,
        config: GraspSynthConfig,
        cloud_points: int = 2048,
        progress: bool = True,
    ) -> GraspSet:
        """``config.grasps_per_object`` accepted grasps for every object (fewer where an object defeats the generator)."""
        generator = torch.Generator().manual_seed(config.seed)
        points, normals = objects.sample_surface(cloud_points, seed=config.seed)
        kinds = torch.tensor([GRASP_KINDS.index(k) for k in config.kinds])
        physics = PhysicsFilter(objects, self.left_layer, self.right_layer) if config.physics_filter else None
        counts = {"candidates": 0, "geometric": 0, "held": 0}

        def attempt(object_index: Tensor) -> tuple[Candidates, Tensor]:
            kind = kinds[torch.randint(len(kinds), (object_index.numel(),), generator=generator)]
            left, right, lt, rt = self._chunk(objects, object_index, points, normals, kind, generator, config)
            ok, depth, hand_depth = self._accept(objects, object_index, left, right, lt, rt, config)
            counts["candidates"] += int(ok.numel())
            counts["geometric"] += int(ok.sum())
            if physics is not None and bool(ok.any()):
                rows = ok.nonzero()[:, 0]
                with torch.no_grad():
                    held = physics.held(
                        object_index[rows],
                        self.left_layer(left.select(rows)).vertices,
                        self.right_layer(right.select(rows)).vertices,
                    )
                ok[rows] = held
                counts["held"] += int(held.sum())
            figures = {"object_index": object_index, "kind": kind, "depth": depth, "hand_depth": hand_depth}
            return Candidates(left, right, figures), ok

        # A group per object; each round draws ``draw_factor`` times what an object misses (at least 2).
        parts, attempts = collect_plausible(
            torch.full((len(objects),), config.grasps_per_object),
            attempt,
            Rounds(config.chunk_size, 2, max_rounds=config.max_rounds, draw_factor=config.draw_factor),
            "synth grasps",
            "grasp",
            progress,
        )
        if sum(len(p) for p in parts) == 0:
            raise GraspSynthesisError(
                f"no grasp passed the plausibility check after {attempts} candidates; raise iterations or loosen contact_m"
            )
        accepted = Candidates.cat(parts)
        return GraspSet(
            objects,
            points,
            normals,
            accepted.figures["object_index"],
            accepted.left,
            accepted.right,
            accepted.figures["kind"],
            accepted.figures["depth"],
            accepted.figures["hand_depth"],
            attempts,
            synthesis={
                "objective": config.objective,
                "physics_filter": float(config.physics_filter),
                "candidates": float(counts["candidates"]),
                "passed_geometric_test": float(counts["geometric"]),
                **(
                    {
                        "held_in_physics": float(counts["held"]),
                        "physics_success_of_candidates": counts["held"] / max(counts["candidates"], 1),
                        "physics_success_of_geometric": counts["held"] / max(counts["geometric"], 1),
                        "physics_seconds": physics.seconds,
                    }
                    if physics is not None
                    else {}
                ),
            },
        )
