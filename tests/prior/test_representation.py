"""The 64-number hand vector, anchor frames and normalisation."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.prior.representation import (
    Normalizer,
    pair_to_scene,
    scene_to_pair,
    scene_to_training_pairs,
    swapped_scene,
    symmetrised_scenes,
)


def random_hands(batch: int, seed: int) -> HandParams:
    g = torch.Generator().manual_seed(seed)
    return HandParams(
        torch.randn(batch, 45, generator=g) * 0.3,
        torch.randn(batch, 10, generator=g),
        axis_angle_to_matrix(torch.randn(batch, 3, generator=g)),
        torch.randn(batch, 3, generator=g) * 0.1,
    )


def test_vector_round_trip() -> None:
    hands = random_hands(8, 0)
    x = hands.to_vector()
    assert x.shape == (8, HAND_DIM)
    back = HandParams.from_vector(x)
    for name in ("pose", "betas", "rotation", "translation"):
        assert torch.allclose(getattr(back, name), getattr(hands, name), atol=1e-5)


def test_pair_round_trip_keeps_relative_pose() -> None:
    left, right = random_hands(6, 1), random_hands(6, 2)
    target, cond = scene_to_pair(left, right)
    left2, right2 = pair_to_scene(target, cond)
    # left2 is canonical: identity, wrist at origin, same articulation and shape.
    assert torch.allclose(left2.rotation, torch.eye(3).expand(6, 3, 3), atol=1e-6)
    assert torch.allclose(left2.translation, torch.zeros(6, 3))
    assert torch.allclose(left2.pose, left.pose, atol=1e-6)
    # Putting the pair back in the original left frame gives the original right hand.
    restored = right2.transformed(left.rotation, left.translation)
    assert torch.allclose(restored.rotation, right.rotation, atol=1e-5)
    assert torch.allclose(restored.translation, right.translation, atol=1e-5)


def test_relative_pair_is_invariant_to_a_global_rigid_motion() -> None:
    left, right = random_hands(4, 3), random_hands(4, 4)
    rot = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.5]]))
    shift = torch.tensor([[0.5, -0.2, 1.0]])
    moved = scene_to_pair(left.transformed(rot, shift), right.transformed(rot, shift))
    original = scene_to_pair(left, right)
    assert torch.allclose(moved[0], original[0], atol=1e-5)
    assert torch.allclose(moved[1], original[1], atol=1e-5)


def test_training_pairs_hold_both_views() -> None:
    left, right = random_hands(5, 5), random_hands(5, 6)
    target, cond = scene_to_training_pairs(left, right)
    assert target.shape == cond.shape == (10, HAND_DIM)
    # The swapped view's target is the mirrored left hand's articulation.
    assert torch.allclose(target[5:, :45], left.mirrored().pose, atol=1e-6)
    assert torch.allclose(cond[5:, :45], right.pose, atol=1e-6)


def test_swapped_scene_is_the_swapped_training_view_and_its_own_inverse() -> None:
    left, right = random_hands(6, 7), random_hands(6, 8)
    swapped_left, swapped_right = swapped_scene(left, right)
    target, cond = scene_to_training_pairs(left, right)
    torch.testing.assert_close(scene_to_pair(swapped_left, swapped_right)[0], target[6:], atol=1e-5, rtol=0)
    torch.testing.assert_close(scene_to_pair(swapped_left, swapped_right)[1], cond[6:], atol=1e-5, rtol=0)
    # Swapping twice gives the scene back, in its left hand's canonical frame.
    back = scene_to_pair(*swapped_scene(swapped_left, swapped_right))
    for ours, theirs in zip(back, scene_to_pair(left, right), strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_symmetrised_scenes_swap_every_other_scene() -> None:
    left, right = random_hands(5, 9), random_hands(5, 10)
    sym = scene_to_pair(*symmetrised_scenes(left, right))
    kept, swapped = scene_to_pair(left, right), scene_to_pair(*swapped_scene(left, right))
    for ours, a, b in zip(sym, kept, swapped, strict=True):
        torch.testing.assert_close(ours[0::2], a[0::2], atol=1e-5, rtol=0)
        torch.testing.assert_close(ours[1::2], b[1::2], atol=1e-5, rtol=0)


def test_normalizer_round_trip_and_constant_dims() -> None:
    x = torch.randn(100, HAND_DIM)
    x[:, 60] = 3.0  # constant column
    norm = Normalizer.fit(x)
    z = norm.normalize(x)
    assert torch.allclose(norm.denormalize(z), x, atol=1e-5)
    assert torch.isfinite(z).all()
    assert norm.std[60] == 1.0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(DataError, match="pose"):
        HandParams(torch.zeros(2, 44), torch.zeros(2, 10), torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3))
    with pytest.raises(DataError, match="hand vector"):
        HandParams.from_vector(torch.zeros(2, 63))
    with pytest.raises(DataError, match="at least 2"):
        Normalizer.fit(torch.zeros(1, HAND_DIM))
