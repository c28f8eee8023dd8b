"""The first guess of a hand: a weighted rigid fit, and the mean hand placed on its palm keypoints."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.refinement.initialisation import hands_from_palm_keypoints, rigid_fit
from interhandgen_core.refinement.observation import PALM_KEYPOINTS


def _random_rotations(batch: int, generator: torch.Generator) -> torch.Tensor:
    # Angles up to about pi, so that large rotations are covered too.
    axis_angle = torch.randn(batch, 3, generator=generator, dtype=torch.float64)
    return axis_angle_to_matrix(axis_angle)


def test_rigid_fit_recovers_a_rotation_and_translation() -> None:
    generator = torch.Generator().manual_seed(0)
    rotation = _random_rotations(8, generator)
    translation = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    source = torch.randn(8, 12, 3, generator=generator, dtype=torch.float64)
    target = source @ rotation.transpose(-1, -2) + translation[:, None]
    weight = torch.rand(8, 12, generator=generator, dtype=torch.float64) + 0.1
    fitted_rotation, fitted_translation = rigid_fit(source, target, weight)
    torch.testing.assert_close(fitted_rotation, rotation, atol=1e-9, rtol=0)
    torch.testing.assert_close(fitted_translation, translation, atol=1e-9, rtol=0)


def test_rigid_fit_ignores_points_of_weight_zero() -> None:
    generator = torch.Generator().manual_seed(1)
    rotation = _random_rotations(4, generator)
    translation = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    source = torch.randn(4, 10, 3, generator=generator, dtype=torch.float64)
    target = source @ rotation.transpose(-1, -2) + translation[:, None]
    target[:, 6:] = 100.0 * torch.randn(4, 4, 3, generator=generator, dtype=torch.float64)  # garbage
    weight = torch.ones(4, 10, dtype=torch.float64)
    weight[:, 6:] = 0.0
    fitted_rotation, fitted_translation = rigid_fit(source, target, weight)
    torch.testing.assert_close(fitted_rotation, rotation, atol=1e-9, rtol=0)
    torch.testing.assert_close(fitted_translation, translation, atol=1e-9, rtol=0)


def test_rigid_fit_never_returns_a_reflection() -> None:
    generator = torch.Generator().manual_seed(2)
    source = torch.randn(3, 8, 3, generator=generator, dtype=torch.float64)
    mirrored = source * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # only a reflection fits exactly
    rotation, _ = rigid_fit(source, mirrored, torch.ones(3, 8, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    torch.testing.assert_close(rotation @ rotation.transpose(-1, -2), eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(3, dtype=torch.float64), atol=1e-9, rtol=0)


@pytest.fixture(scope="module")
def layers() -> dict[str, HandLayer]:
    right, left = load_hand_pair("procedural")
    return {"left": HandLayer(left), "right": HandLayer(right)}


@pytest.mark.parametrize("side", ["left", "right"])
def test_palm_fit_recovers_root_rotation_and_wrist(layers: dict[str, HandLayer], side: str) -> None:
    layer = layers[side]
    generator = torch.Generator().manual_seed(3)
    batch = 5
    pose = 0.3 * torch.randn(45, generator=generator)
    rotation = _random_rotations(batch, generator).float()
    translation = 0.3 * torch.randn(batch, 3, generator=generator)
    with torch.no_grad():
        keypoints = layer(HandParams(pose.expand(batch, -1), torch.zeros(batch, 10), rotation, translation)).keypoints
    hands = hands_from_palm_keypoints(layer, keypoints, torch.ones(batch, 21), pose)
    assert hands.batch_size == batch
    torch.testing.assert_close(hands.rotation, rotation, atol=1e-4, rtol=0)
    torch.testing.assert_close(hands.translation, translation, atol=1e-4, rtol=0)
    torch.testing.assert_close(hands.pose, pose.expand(batch, -1), atol=0, rtol=0)
    assert torch.equal(hands.betas, torch.zeros(batch, 10))


def test_palm_fit_uses_only_the_palm_and_the_weighted_keypoints(layers: dict[str, HandLayer]) -> None:
    layer = layers["right"]
    generator = torch.Generator().manual_seed(4)
    pose = 0.3 * torch.randn(45, generator=generator)
    rotation = _random_rotations(2, generator).float()
    translation = torch.tensor([[0.1, -0.2, 0.5], [0.0, 0.1, 0.3]])
    with torch.no_grad():
        keypoints = layer(HandParams(pose.expand(2, -1), torch.zeros(2, 10), rotation, translation)).keypoints
    # The fingers are given curled differently from ``pose``; the palm fixes the root regardless.
    fingers = [k for k in range(21) if k not in PALM_KEYPOINTS]
    moved = keypoints.clone()
    moved[:, fingers] += 0.05
    weight = torch.ones(2, 21)
    # Row 1 lost one palm keypoint (garbage with weight 0): four are still enough.
    moved[1, PALM_KEYPOINTS[2]] = 7.0
    weight[1, PALM_KEYPOINTS[2]] = 0.0
    hands = hands_from_palm_keypoints(layer, moved, weight, pose)
    torch.testing.assert_close(hands.rotation, rotation, atol=1e-4, rtol=0)
    torch.testing.assert_close(hands.translation, translation, atol=1e-4, rtol=0)


def test_palm_fit_without_enough_palm_keypoints_falls_back(layers: dict[str, HandLayer]) -> None:
    layer = layers["left"]
    keypoints = torch.zeros(2, 21, 3)
    keypoints[0, 10:] = torch.tensor([0.2, 0.1, 0.4])  # fingers only, no palm
    weight = torch.zeros(2, 21)
    weight[0, 10:] = 1.0
    hands = hands_from_palm_keypoints(layer, keypoints, weight, torch.zeros(45))
    torch.testing.assert_close(hands.rotation, torch.eye(3).expand(2, 3, 3), atol=0, rtol=0)
    torch.testing.assert_close(hands.translation[0], torch.tensor([0.2, 0.1, 0.4]), atol=1e-6, rtol=0)
    torch.testing.assert_close(hands.translation[1], torch.zeros(3), atol=0, rtol=0)
    assert torch.isfinite(hands.to_vector()).all()


def test_palm_fit_fallback_centre_is_the_weighted_mean_for_low_confidence(layers: dict[str, HandLayer]) -> None:
    # Weights are keypoint visibility times the tracker's confidence, so they can all be small:
    # the mean of the keypoints must not shrink towards the origin with them.
    keypoints = torch.zeros(1, 21, 3)
    keypoints[0, 10:16] = torch.tensor([0.2, 0.1, 0.4])
    weight = torch.zeros(1, 21)
    weight[0, 10:16] = 0.1
    hands = hands_from_palm_keypoints(layers["left"], keypoints, weight, torch.zeros(45))
    torch.testing.assert_close(hands.translation[0], torch.tensor([0.2, 0.1, 0.4]), atol=1e-6, rtol=0)
