"""Grasp proposals on held-out procedural objects, measured exactly against the objects' solids.

Protocol: ``num_objects`` objects drawn by data/procedural_objects.py with a seed that no
training set uses (the recipes use seeds 0 and 1; the default here is 1000), each sampled
at ``cloud_points`` surface points with their normals. With ``sensor=True`` each cloud is
instead made to look like one depth camera's view (pipelines/sensor_cloud.corrupt_like_sensor:
the side facing a random camera only, 2 mm Gaussian noise, 5% outliers) and its normals are
left for the preprocessing to estimate, given the camera's position as a depth driver's cloud
gives it (``unknown_viewpoint``: without it). The prior proposes ``grasps_per_object`` grasps per
cloud (seed = object index); hand-object penetration and contact are then measured with the
object's exact signed distance (not the cloud), hand-hand penetration exactly as for two
hands (contact/interaction.py); where the back of a one-sided cloud was inferred, the inferred
points' distance to the exact surface too. With ``physics`` every proposal is tried in MuJoCo with the human
hands (physics/grasp_validation.py); with ``robot`` as well, each proposal is also retargeted onto
two robot hands and tried with them (retargeting/robot_grasp_physics.py), on the same object body,
and both are reported in the same figures (PhysicsStatistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from interhandgen_core.contact.grasp_measures import GraspFigures, GraspStatistics, grasp_statistics, measure_grasps
from interhandgen_core.data.procedural_objects import OBJECT_FAMILIES, ProceduralObjects, generate_objects
from interhandgen_core.errors import ConfigError
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.grasp_validation import (
    DIRECTIONS,
    GraspPhysicsResult,
    PosedHands,
    PushOutcome,
    validate_grasps,
)
from interhandgen_core.physics.hand_bodies import HandParts
from interhandgen_core.physics.object_body import object_body_from_mesh
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.sensor_cloud import PreparedCloud, corrupt_like_sensor
from interhandgen_core.retargeting.robot_grasp_physics import (
    RobotGraspPhysicsConfig,
    RobotGraspPhysicsResult,
    validate_robot_grasps,
)
from interhandgen_core.retargeting.robot_hand import load_robot_hand


@dataclass
class PhysicsStatistics:
    """Physics outcome of every proposal, and of the top_k ranked ones of each object.

    success_all   fraction of all proposals that hold the object in all six directions
    success_top_k fraction of each object's top_k proposals by score (GraspFigures.score) that do
    score_auc     how well the score predicts success over all proposals: the area under the ROC
                  curve (the probability that a grasp that holds outscores one that does not; 0.5 is
                  chance), from the Mann-Whitney U statistic (scipy); NaN when all or none hold
    held_per_direction  fraction of all proposals holding each push, DIRECTIONS order
    """

    grasps: int
    top_k: int
    success_all: float
    success_top_k: float
    score_auc: float
    held_per_direction: dict[str, float]
    grasps_per_second: float
    object_build_seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def summary(self) -> str:
        per_direction = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.held_per_direction.items())
        return (
            f"physics: {100 * self.success_all:.1f}% of {self.grasps} proposals hold in all six directions, "
            f"top {self.top_k} per object {100 * self.success_top_k:.1f}%, score ROC AUC {self.score_auc:.3f} "
            f"(held per direction: {per_direction}); "
            f"{self.grasps_per_second:.1f} grasps/s, objects built in {self.object_build_seconds:.1f} s"
        )


def physics_statistics(
    results: Sequence[PushOutcome],
    scores: list[torch.Tensor],
    top_k: int,
    object_build_seconds: float,
) -> PhysicsStatistics:
    """Per-object physics results (human or robot hands) and proposal scores (N_i,) -> PhysicsStatistics."""
    success = np.concatenate([r.success for r in results])
    held = np.concatenate([r.held for r in results])
    top = np.concatenate(
        [
            r.success[torch.argsort(s, descending=True, stable=True)[:top_k].numpy()]
            for r, s in zip(results, scores, strict=True)
        ]
    )
    seconds = sum(r.seconds for r in results)
    return PhysicsStatistics(
        grasps=int(success.size),
        top_k=top_k,
        success_all=float(success.mean()),
        success_top_k=float(top.mean()),
        score_auc=roc_auc(torch.cat(scores).double().numpy(), success),
        held_per_direction={d: float(rate) for d, rate in zip(DIRECTIONS, held.mean(axis=0), strict=True)},
        grasps_per_second=float(success.size / max(seconds, 1e-9)),
        object_build_seconds=object_build_seconds,
    )


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """scores (N,), positive (N,) bool -> the area under the ROC curve of ranking by score (ties count half),
    U / (n_positive n_negative) of scipy's Mann-Whitney test; NaN when either class is empty."""
    wins, losses = scores[positive], scores[~positive]
    if wins.size == 0 or losses.size == 0:
        return float("nan")
    return float(mannwhitneyu(wins, losses).statistic / (wins.size * losses.size))


@dataclass
class HeldoutResult:
    """Figures over all grasps, per object, and the proposals themselves (input frame = object frame)."""

    statistics: GraspStatistics
    per_object: list[dict[str, object]]
    figures: GraspFigures
    objects: ProceduralObjects
    proposals: list[GraspSamples]
    physics: PhysicsStatistics | None = None
    physics_per_object: list[GraspPhysicsResult] = field(default_factory=list)
    robot_physics: PhysicsStatistics | None = None
    robot_physics_per_object: list[RobotGraspPhysicsResult] = field(default_factory=list)


def inferred_point_accuracy(cloud: PreparedCloud, objects: ProceduralObjects, i: int) -> dict[str, object]:
    """How far the points inferred for a one-sided cloud (sensor_cloud.complete_one_sided) lie from object i's
    exact surface: their count, mean |signed distance| and mean signed distance (negative: inside the object,
    where hands settling on them sink in) in mm; empty where none were inferred."""
    _, inferred = cloud.seen_and_inferred()
    if inferred is None:
        return {}
    points = torch.as_tensor(inferred, dtype=torch.float32)[None]
    distance = objects.signed_distance(points, torch.tensor([i]))
    return {
        "inferred_points": len(inferred),
        "inferred_mean_distance_mm": 1000.0 * float(distance.abs().mean()),
        "inferred_mean_signed_distance_mm": 1000.0 * float(distance.mean()),
    }


def evaluate_heldout_grasps(
    model: GraspPipeline,
    num_objects: int = 20,
    grasps_per_object: int = 32,
    seed: int = 1000,
    sensor: bool = False,
    penetration_guidance_weight: float | None = None,
    contact_weight: float | None = None,
    settle_iterations: int | None = None,
    cloud_points: int = 4096,
    progress: bool = True,
    physics: GraspPhysicsConfig | None = None,
    top_k: int = 4,
    physics_rank: GraspPhysicsConfig | None = None,
    robot: RobotGraspPhysicsConfig | None = None,
    families: tuple[str, ...] = OBJECT_FAMILIES,
    unknown_viewpoint: bool = False,
) -> HeldoutResult:
    """Run the protocol of the module docstring -> HeldoutResult (physics figures with ``physics``; the robot
    hands' too with ``robot``, which needs ``physics``).

    ``physics_rank``: the proposals are ranked by physics on each cloud's reconstruction
    (GraspPipeline.sample's physics_rank), never on the exact solid that ``physics`` measures with.
    ``families``: the object families drawn from (data/procedural_objects.py; ALL_FAMILIES adds plates,
    rods, tumbled and non-convex shapes); the default keeps the objects of a seed what they were.
    ``unknown_viewpoint``: a sensor cloud is given without the position of the camera that saw it (normals
    oriented by propagation, the view from the mean normal; pipelines/sensor_cloud.py), as before stop 36.
    """
    if model.prior.object_encoder is None:
        raise ConfigError("held-out grasp evaluation needs an object-conditioned prior")
    if num_objects < 1 or grasps_per_object < 1:
        raise ConfigError(f"num_objects and grasps_per_object must be >= 1, got {num_objects}, {grasps_per_object}")
    if robot is not None and physics is None:
        raise ConfigError("the robot hands' physics (robot) needs the physics validation (physics)")
    objects = generate_objects(num_objects, seed=seed, families=families)
    points, normals = objects.sample_surface(cloud_points, seed=seed)
    parts: list[GraspFigures] = []
    per_object: list[dict[str, object]] = []
    proposals: list[GraspSamples] = []
    physics_results: list[GraspPhysicsResult] = []
    robot_results: list[RobotGraspPhysicsResult] = []
    robot_hand = load_robot_hand(robot.robot) if robot is not None else None
    build_seconds = 0.0
    if physics is not None:
        left_parts = HandParts.from_layer(model.left_layer)
        right_parts = HandParts.from_layer(model.right_layer)
    for i in tqdm(range(num_objects), desc="held-out objects", disable=not progress):  # one cloud per call
        if sensor:
            view = corrupt_like_sensor(points[i].numpy(), normals[i].numpy(), seed=seed + i)
            cloud, cloud_normals = torch.as_tensor(view.points), None
            viewpoint = None if unknown_viewpoint else view.camera
        else:
            cloud, cloud_normals, viewpoint = points[i], normals[i], None
        grasps = model.sample(
            grasps_per_object,
            seed=i,
            penetration_guidance_weight=penetration_guidance_weight,
            contact_weight=contact_weight,
            settle_iterations=settle_iterations,
            object_points=cloud,
            object_normals=cloud_normals,
            object_viewpoint=viewpoint,
            physics_rank=physics_rank,
        )
        rows = torch.full((grasps_per_object,), i)
        figures = measure_grasps(
            grasps.left_vertices.cpu(),
            grasps.left_faces.cpu(),
            grasps.right_vertices.cpu(),
            grasps.right_faces.cpu(),
            lambda p, r, rows=rows: objects.signed_distance(p, rows[r]),  # type: ignore[misc]
        )
        parts.append(figures)
        proposals.append(grasps)
        row: dict[str, object] = {"object": i, "family": objects.family_names[int(objects.family[i])]}
        row.update(grasp_statistics(figures).as_dict())
        row.update(inferred_point_accuracy(grasps.cloud, objects, i))
        if physics is not None:
            body = object_body_from_mesh(*objects.mesh(i), physics)  # the exact solid's mesh, not the cloud
            build_seconds += body.build_seconds
            held = validate_grasps(
                body,
                [
                    PosedHands(grasps.left_vertices.cpu(), left_parts),
                    PosedHands(grasps.right_vertices.cpu(), right_parts),
                ],
                physics,
            )
            physics_results.append(held)
            row["physics_success"] = float(held.success.mean())
            if robot is not None:
                robot_held = validate_robot_grasps(
                    grasps.left_keypoints.cpu().numpy(),
                    grasps.right_keypoints.cpu().numpy(),
                    body,
                    robot,
                    physics,
                    robot_hand,
                )
                robot_results.append(robot_held)
                row["robot_physics_success"] = float(robot_held.success.mean())
        per_object.append(row)
    figures = GraspFigures.cat(parts)
    physics_summary = robot_summary = None
    if physics is not None:
        scores = [p.scores.cpu() for p in proposals]
        physics_summary = physics_statistics(physics_results, scores, top_k, build_seconds)
        if robot is not None:
            robot_summary = physics_statistics(robot_results, scores, top_k, build_seconds)
    return HeldoutResult(
        grasp_statistics(figures),
        per_object,
        figures,
        objects,
        proposals,
        physics_summary,
        physics_results,
        robot_summary,
        robot_results,
    )
