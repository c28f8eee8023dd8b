"""HandLayer against smplx's MANO on the same MANO-format pickle, plus keypoint order and input checks.

Run with ``pytest -s`` to see the measured differences.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import smplx
import torch

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES, TIP_ORDER
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import write_mano_pickle
from interhandgen_core.hands.mano_pickle import load_mano_pickle

BATCH = 16


def _random_params(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "hand_pose": 0.5 * torch.randn(BATCH, 45, generator=gen),
        "betas": torch.randn(BATCH, 10, generator=gen),
        "global_orient": torch.randn(BATCH, 3, generator=gen),
        "transl": 0.2 * torch.randn(BATCH, 3, generator=gen),
    }


def test_layer_matches_smplx_mano(hand_asset_posedirs: HandAsset, tmp_path: Path) -> None:
    asset = hand_asset_posedirs
    path = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(asset, path)
    # Full 45-D axis-angle finger pose relative to the flat hand, as the project's layer takes it.
    mano = smplx.MANO(model_path=str(path), is_rhand=True, use_pca=False, flat_hand_mean=True, num_betas=10)
    # Our layer on the asset as read back through the project's own (restricted) loader.
    layer = HandLayer(load_mano_pickle(path))
    p = _random_params(seed=0)
    with torch.no_grad():
        reference = mano(
            betas=p["betas"], global_orient=p["global_orient"], hand_pose=p["hand_pose"], transl=p["transl"]
        )
        # MANO rotates about the shaped wrist J_0(beta) and then adds transl, so the wrist ends at
        # J_0(beta) + transl; computed here from our layer, independently of smplx's output.
        wrist = layer.rest_joints(p["betas"])[:, 0] + p["transl"]
        ours = layer(HandParams(p["hand_pose"], p["betas"], axis_angle_to_matrix(p["global_orient"]), wrist))
    vertex_diff = (ours.vertices - reference.vertices).abs().max().item()
    joint_diff = (ours.joints - reference.joints).abs().max().item()
    extent = (reference.vertices - reference.joints[:, :1]).norm(dim=-1).max().item()
    print(
        f"\n[{asset.name}, posedirs |max| {abs(asset.posedirs).max():.3g}] smplx MANO vs HandLayer, B={BATCH}: "
        f"max |vertex diff| {vertex_diff:.3g} m, max |joint diff| {joint_diff:.3g} m (hand extent {extent:.3g} m)"
    )
    assert reference.vertices.shape == ours.vertices.shape
    assert reference.joints.shape == ours.joints.shape == (BATCH, 16, 3)
    assert vertex_diff < 1e-5
    assert joint_diff < 1e-5


def test_pose_correctives_change_vertices(hand_asset: HandAsset) -> None:
    # Guards the parity test against passing vacuously: random posedirs must move vertices.
    posedirs = np.random.default_rng(1).normal(0.0, 0.003, hand_asset.posedirs.shape)
    corrective = dataclasses.replace(hand_asset, posedirs=posedirs)
    p = _random_params(seed=1)
    rotation = axis_angle_to_matrix(p["global_orient"])
    with torch.no_grad():
        plain = HandLayer(hand_asset)(HandParams(p["hand_pose"], p["betas"], rotation, p["transl"]))
        corrected = HandLayer(corrective)(HandParams(p["hand_pose"], p["betas"], rotation, p["transl"]))
    assert (plain.vertices - corrected.vertices).abs().max() > 1e-4


def test_keypoint_order(hand_asset: HandAsset) -> None:
    p = _random_params(seed=2)
    layer = HandLayer(hand_asset)
    with torch.no_grad():
        out = layer(HandParams(p["hand_pose"], p["betas"], axis_angle_to_matrix(p["global_orient"]), p["transl"]))
    assert out.keypoints.shape == (BATCH, 21, 3)
    torch.testing.assert_close(out.keypoints[:, 0], out.joints[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(out.joints[:, 0], p["transl"], rtol=0, atol=1e-6)
    for finger, vertex in zip(TIP_ORDER, hand_asset.tip_vertex_ids.tolist(), strict=True):
        index = KEYPOINT_NAMES.index(f"{finger}_tip")
        torch.testing.assert_close(out.keypoints[:, index], out.vertices[:, vertex], rtol=0, atol=0)
    # Knuckles (MCP, or CMC for the thumb) are MANO joints 1, 4, 10, 7, 13.
    for name, joint in (("index1", 1), ("middle1", 4), ("ring1", 10), ("pinky1", 7), ("thumb1", 13)):
        torch.testing.assert_close(out.keypoints[:, KEYPOINT_NAMES.index(name)], out.joints[:, joint], rtol=0, atol=0)


def test_keypoint_only_path_matches_the_full_layer(hand_asset: HandAsset) -> None:
    """HandLayer.keypoints (joints through the chain, five tips skinned) against forward().keypoints (the
    whole mesh skinned), values and gradients, with pose correctives on so that the tips' posedirs count."""
    posedirs = np.random.default_rng(4).normal(0.0, 0.003, hand_asset.posedirs.shape)
    layer = HandLayer(dataclasses.replace(hand_asset, posedirs=posedirs), dtype=torch.float64)
    p = {k: v.double() for k, v in _random_params(seed=4).items()}
    pose = p["hand_pose"].requires_grad_(True)
    betas = p["betas"].requires_grad_(True)
    hand = HandParams(pose, betas, axis_angle_to_matrix(p["global_orient"]), p["transl"])
    fast, full = layer.keypoints(hand), layer(hand).keypoints
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-12)
    weights = torch.randn_like(full)
    fast_grad = torch.autograd.grad((fast * weights).sum(), (pose, betas))
    full_grad = torch.autograd.grad((full * weights).sum(), (pose, betas))
    for a, b in zip(fast_grad, full_grad, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_keypoints_with_chosen_vertices_match_the_full_layer(hand_asset: HandAsset) -> None:
    """HandLayer.keypoints_and_vertices (the tips and K chosen vertices skinned) against forward(): the same
    keypoints and, for the chosen ids, the same vertices, with pose correctives on."""
    posedirs = np.random.default_rng(5).normal(0.0, 0.003, hand_asset.posedirs.shape)
    layer = HandLayer(dataclasses.replace(hand_asset, posedirs=posedirs), dtype=torch.float64)
    p = {k: v.double() for k, v in _random_params(seed=5).items()}
    hand = HandParams(p["hand_pose"], p["betas"], axis_angle_to_matrix(p["global_orient"]), p["transl"])
    ids = torch.tensor([0, 7, layer.num_vertices - 1, 7, layer.num_vertices // 2])
    keypoints, vertices = layer.keypoints_and_vertices(hand, ids)
    full = layer(hand)
    torch.testing.assert_close(keypoints, full.keypoints, rtol=0, atol=1e-12)
    torch.testing.assert_close(vertices, full.vertices[:, ids], rtol=0, atol=1e-12)
    assert layer.keypoints_and_vertices(hand, ids[:0])[1].shape == (BATCH, 0, 3)


def test_translation_is_wrist_position_for_any_shape(hand_asset: HandAsset) -> None:
    layer = HandLayer(hand_asset)
    p = _random_params(seed=3)
    rotation = axis_angle_to_matrix(p["global_orient"])
    with torch.no_grad():
        a = layer(HandParams(p["hand_pose"], p["betas"], rotation, p["transl"]))
        b = layer(HandParams(p["hand_pose"], 2.0 * p["betas"], rotation, p["transl"]))
    torch.testing.assert_close(a.joints[:, 0], b.joints[:, 0], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("pose_shape", "betas_shape", "rotation_shape", "translation_shape"),
    [
        ((4, 44), (4, 10), (4, 3, 3), (4, 3)),
        ((4, 45), (4, 9), (4, 3, 3), (4, 3)),
        ((4, 45), (3, 10), (4, 3, 3), (4, 3)),
        ((4, 45), (4, 10), (4, 3), (4, 3)),
        ((4, 45), (4, 10), (4, 3, 3), (4, 2)),
        ((4, 45), (4, 10), (4, 3, 3), (5, 3)),
        ((4, 15, 3), (4, 10), (4, 3, 3), (4, 3)),
    ],
)
def test_input_shape_errors(
    hand_asset: HandAsset,
    pose_shape: tuple[int, ...],
    betas_shape: tuple[int, ...],
    rotation_shape: tuple[int, ...],
    translation_shape: tuple[int, ...],
) -> None:
    layer = HandLayer(hand_asset)
    with pytest.raises(ValueError, match="has shape"):  # DataError, a ValueError
        layer(
            HandParams(
                torch.zeros(pose_shape),
                torch.zeros(betas_shape),
                torch.zeros(rotation_shape),
                torch.zeros(translation_shape),
            ),
        )
