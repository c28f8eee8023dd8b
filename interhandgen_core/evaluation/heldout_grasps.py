"""Grasp proposals on held-out procedural objects, measured exactly against the objects' solids.

Protocol: ``num_objects`` objects drawn by data/procedural_objects.py with a seed that no
training set uses (the recipes use seeds 0 and 1; the default here is 1000), each sampled
at ``cloud_points`` surface points with their normals. With ``sensor=True`` each cloud is
instead made to look like one depth camera's view (pipelines/sensor_cloud.corrupt_like_sensor:
the side facing a random camera only, 2 mm Gaussian noise, 5% outliers) and its normals are
left for the preprocessing to estimate. The prior proposes ``grasps_per_object`` grasps per
cloud (seed = object index); hand-object penetration and contact are then measured with the
object's exact signed distance (not the cloud), hand-hand penetration exactly as for two
hands (contact/interaction.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from interhandgen_core.contact.grasp_measures import GraspFigures, GraspStatistics, grasp_statistics, measure_grasps
from interhandgen_core.data.procedural_objects import ProceduralObjects, generate_objects
from interhandgen_core.errors import ConfigError
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.sensor_cloud import corrupt_like_sensor


@dataclass
class HeldoutResult:
    """Figures over all grasps, per object, and the proposals themselves (input frame = object frame)."""

    statistics: GraspStatistics
    per_object: list[dict[str, object]]
    figures: GraspFigures
    objects: ProceduralObjects
    proposals: list[GraspSamples]


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
) -> HeldoutResult:
    """Run the protocol of the module docstring -> HeldoutResult."""
    if model.prior.object_encoder is None:
        raise ConfigError("held-out grasp evaluation needs an object-conditioned prior")
    if num_objects < 1 or grasps_per_object < 1:
        raise ConfigError(f"num_objects and grasps_per_object must be >= 1, got {num_objects}, {grasps_per_object}")
    objects = generate_objects(num_objects, seed=seed)
    points, normals = objects.sample_surface(cloud_points, seed=seed)
    parts: list[GraspFigures] = []
    per_object: list[dict[str, object]] = []
    proposals: list[GraspSamples] = []
    for i in tqdm(range(num_objects), desc="held-out objects", disable=not progress):  # one cloud per call
        if sensor:
            cloud = torch.as_tensor(corrupt_like_sensor(points[i].numpy(), normals[i].numpy(), seed=seed + i))
            cloud_normals = None
        else:
            cloud, cloud_normals = points[i], normals[i]
        grasps = model.sample(
            grasps_per_object,
            seed=i,
            penetration_guidance_weight=penetration_guidance_weight,
            contact_weight=contact_weight,
            settle_iterations=settle_iterations,
            object_points=cloud,
            object_normals=cloud_normals,
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
        per_object.append(
            {"object": i, "family": objects.family_names[int(objects.family[i])], **grasp_statistics(figures).as_dict()}
        )
    figures = GraspFigures(*(torch.cat([getattr(p, f) for p in parts]) for f in GraspFigures.__dataclass_fields__))
    return HeldoutResult(grasp_statistics(figures), per_object, figures, objects, proposals)
