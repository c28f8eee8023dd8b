"""Gamma: mirroring a right hand's parameters gives the mirror image of its mesh on the left model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.geometry.mirroring import (
    mirror_axis_angle,
    mirror_hand_params,
    mirror_matrix,
    mirror_points,
    mirror_rotation,
)
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer

BATCH = 16


def _params(seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    pose = 0.5 * torch.randn(BATCH, 45, generator=gen, dtype=dtype)
    betas = torch.randn(BATCH, 10, generator=gen, dtype=dtype)
    rotation = axis_angle_to_matrix(torch.randn(BATCH, 3, generator=gen, dtype=dtype))
    translation = 0.3 * torch.randn(BATCH, 3, generator=gen, dtype=dtype)
    return pose, betas, rotation, translation


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mirrored_params_give_mirror_image(hand_asset_posedirs: HandAsset, dtype: torch.dtype) -> None:
    right_asset = hand_asset_posedirs
    right = HandLayer(right_asset, dtype=dtype)
    left = HandLayer(right_asset.mirrored(), dtype=dtype)
    assert (right.side, left.side) == ("right", "left")
    params = _params(seed=0, dtype=dtype)
    with torch.no_grad():
        out_right = right(HandParams(*params))
        out_left = left(HandParams(*mirror_hand_params(*params)))
    # float32 rounds differently on the two sides; 1e-6 m is the bar either way.
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    diff = (out_left.vertices - mirror_points(out_right.vertices)).abs().max().item()
    print(f"\n[{right_asset.name}, {dtype}] max |left(Gamma(params)) - Gamma(right(params))| = {diff:.3g} m")
    torch.testing.assert_close(out_left.vertices, mirror_points(out_right.vertices), rtol=0, atol=atol)
    torch.testing.assert_close(out_left.keypoints, mirror_points(out_right.keypoints), rtol=0, atol=atol)
    torch.testing.assert_close(out_left.joints, mirror_points(out_right.joints), rtol=0, atol=atol)


def test_mirrored_asset_is_the_mirror_image_at_rest(hand_asset: HandAsset) -> None:
    left = hand_asset.mirrored()
    assert left.side == "left"
    np.testing.assert_array_equal(left.v_template, hand_asset.v_template * [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(left.mirrored().v_template, hand_asset.v_template)
    np.testing.assert_array_equal(left.mirrored().posedirs, hand_asset.posedirs)
    np.testing.assert_array_equal(left.mirrored().faces, hand_asset.faces)
    assert left.mirrored().side == "right"


def test_mirrored_faces_stay_outward(hand_asset_posedirs: HandAsset) -> None:
    right_asset = hand_asset_posedirs
    left_asset = right_asset.mirrored()
    assert _signed_volume(right_asset.v_template, right_asset.faces) > 0
    assert _signed_volume(left_asset.v_template, left_asset.faces) > 0
    # And in a posed, shaped state (pose correctives included).
    params = _params(seed=1)
    with torch.no_grad():
        right = HandLayer(right_asset, dtype=torch.float64)(HandParams(*params)).vertices.numpy()
        left = HandLayer(left_asset, dtype=torch.float64)(HandParams(*mirror_hand_params(*params))).vertices.numpy()
    for b in range(BATCH):
        assert _signed_volume(right[b], right_asset.faces) > 0
        assert _signed_volume(left[b], left_asset.faces) > 0


def test_gamma_is_an_involution() -> None:
    params = _params(seed=2)
    twice = mirror_hand_params(*mirror_hand_params(*params))
    for original, back in zip(params, twice, strict=True):
        torch.testing.assert_close(back, original, rtol=0, atol=0)
    points = torch.randn(5, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(mirror_points(mirror_points(points)), points, rtol=0, atol=0)


def test_gamma_on_rotations_is_conjugation_by_t() -> None:
    pose, _, rotation, _ = _params(seed=3)
    t = mirror_matrix(dtype=torch.float64)
    torch.testing.assert_close(mirror_rotation(rotation), t @ rotation @ t, rtol=0, atol=0)
    # The axis-angle rule is the same map on each joint: R(Gamma(w)) = T R(w) T.
    joints = pose.reshape(BATCH, 15, 3)
    mirrored = mirror_axis_angle(pose).reshape(BATCH, 15, 3)
    torch.testing.assert_close(axis_angle_to_matrix(mirrored), t @ axis_angle_to_matrix(joints) @ t, rtol=0, atol=1e-12)
    # Mirrored rotations are still rotations (T R T has det +1).
    torch.testing.assert_close(
        torch.linalg.det(mirror_rotation(rotation)), torch.ones(BATCH, dtype=torch.float64), rtol=0, atol=1e-12
    )
