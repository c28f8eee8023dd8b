"""Synthetic bimanual grasps: accepted grasps pass the acceptance rule when re-measured independently,
grasp sets measure and summarise themselves, are made from a converter's scenes, and survive a save/load
round trip."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from interhandgen_core.contact.grasp_measures import grasp_statistics
from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.data.articulated_objects import ArticulatedObjects
from interhandgen_core.data.grasp_physics_filter import PhysicsFilter
from interhandgen_core.data.grasp_synth import (
    GRASP_KINDS,
    GraspSet,
    GraspSynthConfig,
    GraspSynthesizer,
    holding_config,
)
from interhandgen_core.data.procedural_objects import ALL_FAMILIES, ProceduralObjects, generate_objects
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.placement import palm_vertex_index

# Tiny on purpose: 2 objects (a bottle and a box), one grasp each, chunks of 4 candidates.
CONFIG = GraspSynthConfig(grasps_per_object=1, seed=2, chunk_size=4, iterations=25, max_rounds=2)
CLOUD_POINTS = 256
TIPS = [KEYPOINT_NAMES.index(f"{f}_tip") for f in ("thumb", "index", "middle", "ring", "pinky")]


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural", None)
    return HandLayer(right), HandLayer(left)


@pytest.fixture(scope="module")
def objects() -> ProceduralObjects:
    return generate_objects(2, seed=3, centring_samples=256)


@pytest.fixture(scope="module")
def grasps(layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects) -> GraspSet:
    synthesizer = GraspSynthesizer(*layers)
    return synthesizer.generate(objects, CONFIG, cloud_points=CLOUD_POINTS, progress=False)


def test_grasp_set_is_consistent(grasps: GraspSet, objects: ProceduralObjects) -> None:
    n = len(grasps)
    assert n >= 1
    assert grasps.left.batch_size == grasps.right.batch_size == n
    assert grasps.kind.shape == grasps.object_index.shape == grasps.hand_object_depth.shape == (n,)
    assert ((grasps.kind >= 0) & (grasps.kind < len(GRASP_KINDS))).all()
    assert ((grasps.object_index >= 0) & (grasps.object_index < len(objects))).all()
    # Never more than asked for per object, and every candidate counted.
    assert int(torch.bincount(grasps.object_index, minlength=len(objects)).max()) <= CONFIG.grasps_per_object
    assert grasps.attempts >= n
    # The stored cloud samples the objects' surfaces.
    assert grasps.object_points.shape == grasps.object_normals.shape == (len(objects), CLOUD_POINTS, 3)
    assert float(objects.signed_distance(grasps.object_points).abs().max()) < 1e-4


def test_accepted_grasps_pass_the_acceptance_rule_when_re_measured(
    grasps: GraspSet, layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects
) -> None:
    right_layer, left_layer = layers
    with torch.no_grad():
        lo = left_layer(grasps.left)
        ro = right_layer(grasps.right)
    tol = 1e-6
    depth = torch.zeros(len(grasps))
    for layer, out in ((left_layer, lo), (right_layer, ro)):
        sdf = objects.signed_distance(out.vertices, grasps.object_index)
        depth = torch.maximum(depth, torch.relu(-sdf).max(-1).values)
        # Each hand touches: its closest vertex is within contact_m of the surface ...
        assert (torch.relu(sdf.min(-1).values) <= CONFIG.contact_m + tol).all()
        # ... and at least two of its designated contact points (fingertips, palm skin) are. A
        # pinching hand designates only thumb and index, so two is what every hand must reach.
        contact_points = torch.cat([out.keypoints[:, TIPS], out.vertices[:, [palm_vertex_index(layer)]]], 1)
        touching = objects.signed_distance(contact_points, grasps.object_index).abs() <= CONFIG.contact_m + tol
        assert (touching.sum(-1) >= min(2, CONFIG.min_contacts)).all()
    assert (depth <= CONFIG.max_penetration_m + tol).all()
    assert torch.allclose(depth, grasps.hand_object_depth, atol=1e-6)

    hand_depth = penetration_depth(lo.vertices, left_layer.faces, ro.vertices, right_layer.faces)
    assert (hand_depth <= CONFIG.max_penetration_m + tol).all()
    assert torch.allclose(hand_depth, grasps.hand_hand_depth, atol=1e-6)


def test_measure_repeats_the_generators_exact_figures(grasps: GraspSet, layers: tuple[HandLayer, HandLayer]) -> None:
    right_layer, left_layer = layers
    figures = grasps.measure(left_layer, right_layer)
    assert figures.hand_object_depth.shape == figures.left_gap.shape == (len(grasps),)
    torch.testing.assert_close(figures.hand_object_depth, grasps.hand_object_depth, atol=1e-6, rtol=0)
    torch.testing.assert_close(figures.hand_hand_depth, grasps.hand_hand_depth, atol=1e-6, rtol=0)
    assert (figures.left_gap <= CONFIG.contact_m + 1e-6).all() and (figures.right_gap <= CONFIG.contact_m + 1e-6).all()


def test_summary_counts_kinds_and_families_and_states_the_acceptance(
    grasps: GraspSet, objects: ProceduralObjects, layers: tuple[HandLayer, HandLayer]
) -> None:
    right_layer, left_layer = layers
    statistics = grasp_statistics(grasps.measure(left_layer, right_layer))
    summary = grasps.summary(CONFIG, statistics, "procedural")
    assert list(summary) == [
        "objects",
        "grasps",
        "seed",
        "attempts",
        "acceptance_ratio",
        "kinds",
        "families",
        "statistics",
        "hand_model",
        "synthesis",
    ]
    assert (summary["objects"], summary["grasps"], summary["seed"]) == (2, len(grasps), CONFIG.seed)
    assert summary["attempts"] == grasps.attempts and summary["acceptance_ratio"] == len(grasps) / grasps.attempts
    assert list(summary["kinds"]) == list(GRASP_KINDS) and sum(summary["kinds"].values()) == len(grasps)
    assert summary["kinds"] == {k: int((grasps.kind == i).sum()) for i, k in enumerate(GRASP_KINDS)}
    # Families count objects, not grasps.
    assert summary["families"] == {f: int((objects.family == i).sum()) for i, f in enumerate(ALL_FAMILIES)}
    assert summary["synthesis"]["objective"] == "contact" and summary["synthesis"]["candidates"] == grasps.attempts
    assert "held_in_physics" not in summary["synthesis"]  # no physics filter: nothing measured
    assert summary["statistics"] == statistics.as_dict() and summary["statistics"]["contact_ratio"] == 1.0
    assert summary["hand_model"] == "procedural"


def test_from_converted_keeps_the_scenes_and_leaves_the_figures_unmeasured(grasps: GraspSet) -> None:
    @dataclass
    class Scenes:  # the fields a converter's result has (ARCTIC's ArcticSplit: tests/data/test_arctic.py)
        objects: ProceduralObjects | ArticulatedObjects
        points: torch.Tensor
        normals: torch.Tensor
        object_index: torch.Tensor
        left: HandParams
        right: HandParams
        kind: torch.Tensor

    scenes = Scenes(
        grasps.objects,
        grasps.object_points,
        grasps.object_normals,
        grasps.object_index,
        grasps.left,
        grasps.right,
        torch.zeros(len(grasps), dtype=torch.long),
    )
    converted = GraspSet.from_converted(scenes, ("grab", "use"))
    assert len(converted) == converted.attempts == len(grasps)
    assert converted.objects is grasps.objects and converted.object_points is grasps.object_points
    assert converted.left is grasps.left and converted.right is grasps.right and converted.kind is scenes.kind
    assert converted.kind_names == ("grab", "use") and converted.kind_counts() == {"grab": len(grasps), "use": 0}
    assert converted.hand_object_depth.isnan().all() and converted.hand_hand_depth.isnan().all()


def test_save_and_load_round_trip(grasps: GraspSet, tmp_path: Path) -> None:
    path = tmp_path / "grasps.npz"
    grasps.save(path)
    back = GraspSet.load(path)
    assert len(back) == len(grasps)
    for name in ("object_points", "object_normals", "object_index", "kind", "hand_object_depth", "hand_hand_depth"):
        assert torch.equal(getattr(back, name), getattr(grasps, name)), name
    for side in ("left", "right"):
        for field in ("pose", "betas", "rotation", "translation"):
            assert torch.equal(getattr(getattr(back, side), field), getattr(getattr(grasps, side), field))
    assert isinstance(back.objects, ProceduralObjects)
    for field in ("family", "kind", "size", "rotation", "centre"):
        assert torch.equal(getattr(back.objects, field), getattr(grasps.objects, field)), field
    assert back.kind_names == grasps.kind_names == GRASP_KINDS
    # No pickles in the file: it loads with allow_pickle=False.
    with np.load(path, allow_pickle=False) as data:
        assert "left_pose" in data.files


def test_sets_merge_with_their_object_indices_offset(grasps: GraspSet) -> None:
    merged = GraspSet.cat([grasps, grasps])
    n, m = len(grasps), len(grasps.objects)
    assert len(merged) == 2 * n and len(merged.objects) == 2 * m
    assert torch.equal(merged.object_index, torch.cat([grasps.object_index, grasps.object_index + m]))
    assert torch.equal(merged.object_points[m:], grasps.object_points)
    assert torch.equal(merged.left.pose[n:], grasps.left.pose)
    # Each grasp still touches its own object's exact surface after the merge.
    assert torch.equal(merged.objects.family[merged.object_index[n:]], grasps.objects.family[grasps.object_index])
    assert merged.attempts == 2 * grasps.attempts
    with pytest.raises(DataError, match="at least one"):
        GraspSet.cat([])
    fewer_points = replace(
        grasps, object_points=grasps.object_points[:, :10], object_normals=grasps.object_normals[:, :10]
    )
    with pytest.raises(DataError, match="cloud size"):
        GraspSet.cat([grasps, fewer_points])


def _articulated_objects() -> ArticulatedObjects:
    """ARCTIC-like: two templates of different sizes (padding), top half (z > 0) moving, three instances."""
    meshes = {
        "box": trimesh.creation.box(extents=(0.2, 0.1, 0.08)),
        "laptop": trimesh.creation.box(extents=(0.3, 0.2, 0.03)).subdivide(),
    }
    v_max = max(len(m.vertices) for m in meshes.values())
    f_max = max(len(m.faces) for m in meshes.values())
    vertices, faces = torch.zeros(2, v_max, 3), torch.zeros(2, f_max, 3, dtype=torch.long)
    moving = torch.zeros(2, v_max, dtype=torch.bool)
    for i, m in enumerate(meshes.values()):
        vertices[i, : len(m.vertices)] = torch.as_tensor(m.vertices, dtype=torch.float32)
        faces[i, : len(m.faces)] = torch.as_tensor(m.faces)
        moving[i, : len(m.vertices)] = torch.as_tensor(m.vertices[:, 2] > 0)
    return ArticulatedObjects(
        tuple(meshes),
        vertices,
        torch.tensor([len(m.vertices) for m in meshes.values()]),
        faces,
        torch.tensor([len(m.faces) for m in meshes.values()]),
        moving,
        torch.tensor([[0.0, 0.0, -1.0]] * 2),
        torch.tensor([0, 1, 0]),
        torch.tensor([0.0, 0.6, -0.3]),
        torch.tensor([[0.0, 0.0, 0.0], [0.01, 0.0, 0.002], [0.0, -0.02, 0.0]]),
    )


def _arctic_like(grasps: GraspSet) -> GraspSet:
    """The synthesized hands on articulated objects, kinds ("grab", "use"), as ARCTIC's converter writes."""
    objects = _articulated_objects()
    points, normals = objects.sample_surface(64, seed=0)
    n = len(grasps)
    zeros = torch.zeros(n)
    index, kind = torch.arange(n) % len(objects), torch.arange(n) % 2
    return GraspSet(
        objects, points, normals, index, grasps.left, grasps.right, kind, zeros, zeros, n, kind_names=("grab", "use")
    )


def test_grasp_set_with_articulated_objects_round_trips(grasps: GraspSet, tmp_path: Path) -> None:
    arctic = _arctic_like(grasps)
    arctic.save(tmp_path / "arctic.npz")
    with np.load(tmp_path / "arctic.npz", allow_pickle=False) as data:  # names are unicode arrays, no pickles
        assert data["object_template_names"].tolist() == ["box", "laptop"]
        assert data["grasp_kind_names"].tolist() == ["grab", "use"]
    back = GraspSet.load(tmp_path / "arctic.npz")
    assert isinstance(back.objects, ArticulatedObjects)
    assert back.kind_names == ("grab", "use")
    assert back.objects.family_names == ("box", "laptop")
    for field in ArticulatedObjects.__dataclass_fields__:
        if field == "template_names" or field.startswith("_"):
            continue
        assert torch.equal(getattr(back.objects, field), getattr(arctic.objects, field)), field
    for name in ("object_points", "object_normals", "object_index", "kind", "hand_object_depth", "hand_hand_depth"):
        assert torch.equal(getattr(back, name), getattr(arctic, name)), name
    for side in ("left", "right"):
        for field in ("pose", "betas", "rotation", "translation"):
            assert torch.equal(getattr(getattr(back, side), field), getattr(getattr(arctic, side), field))
    # The loaded objects measure like the saved ones.
    cloud = arctic.object_points + 0.01 * arctic.object_normals
    assert torch.equal(back.objects.signed_distance(cloud), arctic.objects.signed_distance(cloud))


def test_grasp_files_from_before_kind_names_still_load(grasps: GraspSet, tmp_path: Path) -> None:
    grasps.save(tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as data:
        arrays = {k: data[k] for k in data.files if k != "grasp_kind_names"}
    np.savez(tmp_path / "old.npz", **arrays)
    back = GraspSet.load(tmp_path / "old.npz")
    assert isinstance(back.objects, ProceduralObjects)
    assert back.kind_names == GRASP_KINDS
    assert torch.equal(back.kind, grasps.kind)


def test_load_checks_kinds_and_objects_against_their_names(grasps: GraspSet, tmp_path: Path) -> None:
    _arctic_like(grasps).save(tmp_path / "arctic.npz")
    with np.load(tmp_path / "arctic.npz") as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(
        tmp_path / "one_kind.npz",
        **{**arrays, "grasp_kind_names": np.array(["grab"]), "grasp_kind": arrays["grasp_kind"] * 0 + 1},
    )
    with pytest.raises(DataError, match="grasp_kind must index grasp_kind_names"):
        GraspSet.load(tmp_path / "one_kind.npz")
    np.savez(tmp_path / "no_moving.npz", **{k: v for k, v in arrays.items() if k != "object_template_moving"})
    with pytest.raises(DataError, match=r"no_moving\.npz: object arrays missing: object_template_moving"):
        GraspSet.load(tmp_path / "no_moving.npz")
    np.savez(
        tmp_path / "fewer.npz",
        **{
            **arrays,
            "object_family": arrays["object_family"][:2],
            "object_articulation": arrays["object_articulation"][:2],
            "object_offset": arrays["object_offset"][:2],
        },
    )
    with pytest.raises(DataError, match="2 objects but 3 object clouds"):
        GraspSet.load(tmp_path / "fewer.npz")


def test_load_rejects_missing_and_foreign_files(grasps: GraspSet, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such grasp set"):
        GraspSet.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(DataError, match="not a grasp set"):
        GraspSet.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(DataError):
        GraspSet.load(tmp_path / "text.npz")
    # A grasp set whose object_index points past its objects.
    grasps.save(tmp_path / "ok.npz")
    with np.load(tmp_path / "ok.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["object_index"] = arrays["object_index"] + 100
    np.savez(tmp_path / "bad_index.npz", **arrays)
    with pytest.raises(DataError, match="object_index"):
        GraspSet.load(tmp_path / "bad_index.npz")


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_load_rejects_damaged_files(grasps: GraspSet, tmp_path: Path, damage: str) -> None:
    grasps.save(tmp_path / "ok.npz")
    raw = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "damaged.npz").write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"")
    with pytest.raises(DataError):
        GraspSet.load(tmp_path / "damaged.npz")


def test_save_into_a_missing_folder_is_a_data_error(grasps: GraspSet, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        grasps.save(tmp_path / "missing" / "grasps.npz")


def test_config_is_validated(layers: tuple[HandLayer, HandLayer]) -> None:
    with pytest.raises(ConfigError, match="unknown grasp kinds"):
        GraspSynthConfig(kinds=("juggling",))
    with pytest.raises(ConfigError):
        GraspSynthConfig(kinds=())
    for bad in (
        {"grasps_per_object": 0},
        {"chunk_size": 0},
        {"nn_refresh_every": 0},
        {"iterations": -1},
        {"min_contacts": 0},
        {"max_rounds": 0},
        {"objective": "squeeze"},
        {"fc_weight": -1.0},
        {"pad_probability": 1.5},
        {"draw_factor": 0},
    ):
        with pytest.raises(ConfigError):
            GraspSynthConfig(**bad)  # type: ignore[arg-type]
    right, left = layers
    with pytest.raises(ConfigError, match="right-hand layer"):
        GraspSynthesizer(left, right)


def test_save_needs_the_npz_suffix(grasps: GraspSet, tmp_path: Path) -> None:
    # numpy would add ".npz" silently, and load(path) would then not find the file.
    with pytest.raises(DataError, match=r"\.npz"):
        grasps.save(tmp_path / "noext")


# The force-closure objective with the physics filter: 2 objects, 1 grasp each, 12 candidates a round.
HOLDING = holding_config(seed=4, grasps_per_object=1, chunk_size=12, iterations=80, max_rounds=2)


@pytest.fixture(scope="module")
def holding(layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects) -> GraspSet:
    return GraspSynthesizer(*layers).generate(objects, HOLDING, cloud_points=CLOUD_POINTS, progress=False)


def test_force_closure_grasps_hold_when_validated_again_independently(
    holding: GraspSet, layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects
) -> None:
    from interhandgen_core.physics.configuration import GraspPhysicsConfig
    from interhandgen_core.physics.grasp_validation import PosedHands, validate_grasps
    from interhandgen_core.physics.hand_bodies import HandParts
    from interhandgen_core.physics.object_body import object_body_from_mesh

    right_layer, left_layer = layers
    assert len(holding) >= 1
    with torch.no_grad():
        left_vertices, right_vertices = left_layer(holding.left).vertices, right_layer(holding.right).vertices
    config = GraspPhysicsConfig()
    for i in holding.object_index.unique().tolist():  # objects
        rows = (holding.object_index == i).nonzero()[:, 0]
        result = validate_grasps(
            object_body_from_mesh(*objects.mesh(i), config),
            [
                PosedHands(left_vertices[rows], HandParts.from_layer(left_layer)),
                PosedHands(right_vertices[rows], HandParts.from_layer(right_layer)),
            ],
            config,
        )
        assert bool(result.success.all()), (i, result.summary())
    s = holding.synthesis
    assert s["objective"] == "force-closure" and s["candidates"] == holding.attempts
    assert len(holding) <= s["held_in_physics"] <= s["passed_geometric_test"] <= s["candidates"]
    assert s["physics_success_of_candidates"] == s["held_in_physics"] / s["candidates"]


def test_physics_filter_groups_a_mixed_batch_like_one_call_per_object(
    holding: GraspSet, layers: tuple[HandLayer, HandLayer], objects: ProceduralObjects
) -> None:
    # Held grasps and the same grasps moved 10 cm away (which cannot hold), of both objects, shuffled.
    right_layer, left_layer = layers
    with torch.no_grad():
        lv, rv = left_layer(holding.left).vertices, right_layer(holding.right).vertices
    away = torch.tensor([0.0, 0.0, 0.10])
    left_all, right_all = torch.cat([lv, lv + away]), torch.cat([rv, rv + away])
    index = torch.cat([holding.object_index, holding.object_index])
    order = torch.randperm(index.numel(), generator=torch.Generator().manual_seed(0))
    held = PhysicsFilter(objects, left_layer, right_layer).held(index[order], left_all[order], right_all[order])
    expected = torch.cat([torch.ones(len(holding), dtype=torch.bool), torch.zeros(len(holding), dtype=torch.bool)])
    assert held.tolist() == expected[order].tolist()


def test_summary_reports_the_synthesis_of_a_filtered_set(
    holding: GraspSet, layers: tuple[HandLayer, HandLayer]
) -> None:
    right_layer, left_layer = layers
    summary = holding.summary(HOLDING, grasp_statistics(holding.measure(left_layer, right_layer)), "procedural")
    assert list(summary)[-1] == "synthesis" and summary["synthesis"]["physics_filter"] == 1.0
