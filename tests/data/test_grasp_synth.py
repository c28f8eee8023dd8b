"""Synthetic bimanual grasps: accepted grasps pass the acceptance rule when re-measured independently,
and grasp sets survive a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interhandgen_core.data.grasp_synth import (
    GRASP_KINDS,
    GraspSet,
    GraspSynthConfig,
    GraspSynthesizer,
)
from interhandgen_core.data.procedural_objects import ProceduralObjects, generate_objects
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.evaluation.interaction import penetration_depth
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
        lo = left_layer(grasps.left.pose, grasps.left.betas, grasps.left.rotation, grasps.left.translation)
        ro = right_layer(grasps.right.pose, grasps.right.betas, grasps.right.rotation, grasps.right.translation)
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
    for field in ("family", "kind", "size", "rotation", "centre"):
        assert torch.equal(getattr(back.objects, field), getattr(grasps.objects, field)), field
    # No pickles in the file: it loads with allow_pickle=False.
    with np.load(path, allow_pickle=False) as data:
        assert "left_pose" in data.files


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
