"""Per-family evaluation of an object-conditioned prior on tiny sets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import trimesh
from tiny_prior import write_tiny_object_prior
from toy_hands import write_grasps

from interhandgen_core.data.articulated_objects import ArticulatedObjects
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.data.procedural_objects import OBJECT_FAMILIES
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.evaluation.backbone_training import new_backbone
from interhandgen_core.evaluation.configuration import FeatureBackboneConfig, MetricsConfig
from interhandgen_core.evaluation.object_protocol import evaluate_object_categories, object_markdown
from interhandgen_core.pipelines.interhandgen import InterHandGen

TINY = FeatureBackboneConfig(
    with_object=True,
    points_per_hand=16,
    object_points=16,
    centroids=(8, 4),
    neighbors=(4, 4),
    mlps=((8,), (8,)),
    global_mlp=(8,),
    head=(4,),
)
METRICS = MetricsConfig(khid_subsets=3, pr_k=2)


def test_each_family_is_scored_against_its_reference_and_averaged(tmp_path: Path) -> None:
    reference = GraspSet.load(write_grasps(tmp_path / "ref.npz", 21, num_objects=3, seed=0))
    floor = GraspSet.load(write_grasps(tmp_path / "floor.npz", 24, num_objects=3, seed=0))
    model = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    model.sampler_config = type(model.sampler_config)(ddim_steps=2, settle_iterations=0)
    torch.manual_seed(0)
    backbone = new_backbone(TINY, model.right_layer, model.left_layer)
    report = evaluate_object_categories(model, reference, backbone, 6, METRICS, floor, progress=False)
    families = {OBJECT_FAMILIES[int(f)] for f in reference.objects.family}
    assert set(report["families"]) == families
    for entry in report["families"].values():
        assert entry["proposals"] == 6 * entry["reference_grasps"] // 7
        assert entry["ours"]["fhid"] >= 0 and entry["floor"]["fhid"] >= 0
    assert set(report["average"]) == {"ours", "floor"}
    table = object_markdown(report)
    assert "**average of the scored families**" in table and "Data (floor)" in table


def test_a_two_hand_backbone_or_prior_is_refused(tmp_path: Path) -> None:
    reference = GraspSet.load(write_grasps(tmp_path / "ref.npz", 6))
    model = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    two_hand = new_backbone(
        FeatureBackboneConfig(points_per_hand=16, centroids=(8, 4)), model.right_layer, model.left_layer
    )
    with pytest.raises(ConfigError, match="object-conditional feature backbone"):
        evaluate_object_categories(model, reference, two_hand, 2, METRICS, progress=False)


def test_families_too_small_for_a_covariance_are_listed_not_scored(tmp_path: Path) -> None:
    reference = GraspSet.load(write_grasps(tmp_path / "ref.npz", 6, num_objects=3))
    model = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    model.sampler_config = type(model.sampler_config)(ddim_steps=2, settle_iterations=0)
    backbone = new_backbone(TINY, model.right_layer, model.left_layer)
    with pytest.raises(DataError, match="no object family of the reference has more than 4 grasps"):
        evaluate_object_categories(model, reference, backbone, 2, METRICS, progress=False)


def _on_articulated_objects(grasps: GraspSet, names: tuple[str, str], family: list[int]) -> GraspSet:
    """The same hands on ARCTIC-like objects: two box templates (top half moving), one instance per cloud."""
    shapes = {"box": (0.2, 0.1, 0.08), "laptop": (0.3, 0.2, 0.03)}
    meshes = [trimesh.creation.box(extents=shapes[name]) for name in names]
    vertices = torch.stack([torch.as_tensor(m.vertices, dtype=torch.float32) for m in meshes])
    objects = ArticulatedObjects(
        names,
        vertices,
        torch.tensor([8, 8]),
        torch.stack([torch.as_tensor(m.faces) for m in meshes]),
        torch.tensor([12, 12]),
        vertices[..., 2] > 0,
        torch.tensor([[0.0, 0.0, -1.0]] * 2),
        torch.tensor(family),
        torch.linspace(0.0, 0.8, len(family)),
        torch.zeros(len(family), 3),
    )
    points, normals = objects.sample_surface(grasps.object_points.shape[1], seed=0)
    n = len(grasps)
    zeros = torch.zeros(n)
    index, kind = grasps.object_index, grasps.kind % 2
    return GraspSet(objects, points, normals, index, grasps.left, grasps.right, kind, zeros, zeros, n, ("grab", "use"))


def test_an_articulated_grasp_set_is_scored_per_template(tmp_path: Path) -> None:
    # Three clouds: box, laptop, box; the floor names its templates in the other order.
    reference = _on_articulated_objects(
        GraspSet.load(write_grasps(tmp_path / "ref.npz", 21, num_objects=3, seed=0)), ("box", "laptop"), [0, 1, 0]
    )
    floor_grasps = GraspSet.load(write_grasps(tmp_path / "floor.npz", 24, num_objects=3, seed=1))
    floor = _on_articulated_objects(floor_grasps, ("laptop", "box"), [1, 0, 1])
    model = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    model.sampler_config = type(model.sampler_config)(ddim_steps=2, settle_iterations=0)
    torch.manual_seed(0)
    backbone = new_backbone(TINY, model.right_layer, model.left_layer)
    report = evaluate_object_categories(model, reference, backbone, 6, METRICS, floor, progress=False)
    assert set(report["families"]) == {"box", "laptop"}
    assert report["families"]["box"]["reference_grasps"] == 14 and report["families"]["box"]["proposals"] == 12
    assert report["families"]["laptop"]["reference_grasps"] == 7 and report["families"]["laptop"]["proposals"] == 6
    for entry in report["families"].values():
        assert entry["ours"]["hand_object_depth_mm"] >= 0 and entry["floor"]["fhid"] >= 0
    assert set(report["average"]) == {"ours", "floor"}
    # The floor's families are matched by name, not by number: the same floor in the reference's order scores alike.
    same_order = _on_articulated_objects(floor_grasps, ("box", "laptop"), [0, 1, 0])
    same_order = dataclasses.replace(same_order, object_points=floor.object_points, object_normals=floor.object_normals)
    again = evaluate_object_categories(model, reference, backbone, 6, METRICS, same_order, progress=False)
    for name in ("box", "laptop"):
        assert again["families"][name]["floor"] == report["families"][name]["floor"]
