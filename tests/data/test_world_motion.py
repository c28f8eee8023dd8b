"""World motion: the pair carried rigidly, reaching and never exceeding its top speeds."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.data.world_motion import WorldMotionConfig, carry_hand, carry_points, world_trajectory
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from interhandgen_core.hands.hand_params import HandParams

FPS = 600.0  # fine steps, so that a finite difference is the speed


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("top", [0.3, 1.5])
def test_translation_reaches_and_never_exceeds_its_top_speed(seed: int, top: float) -> None:
    config = WorldMotionConfig(max_speed_m_s=top)
    _, displacement = world_trajectory(int(6 * FPS), FPS, config, torch.Generator().manual_seed(seed))
    speed = (displacement[1:] - displacement[:-1]).norm(dim=-1) * FPS
    assert float(speed.max()) <= top * (1 + 1e-6)
    assert float(speed.max()) >= 0.99 * top
    assert float(displacement.abs().max()) <= config.workspace_m + 1e-9
    torch.testing.assert_close(displacement[0], torch.zeros(3, dtype=torch.float64))
    # Smooth: speed is continuous (no step between two frames beyond what 1/600 s of acceleration gives).
    assert float((speed[1:] - speed[:-1]).abs().max()) < 0.05


@pytest.mark.parametrize("seed", range(4))
def test_rotation_never_exceeds_its_top_angular_speed_and_is_a_rotation(seed: int) -> None:
    config = WorldMotionConfig(max_angular_speed_rad_s=3.0, max_tilt_rad=1.5)
    rotation, _ = world_trajectory(int(6 * FPS), FPS, config, torch.Generator().manual_seed(seed))
    step = matrix_to_axis_angle(rotation[:-1].transpose(-1, -2) @ rotation[1:]).norm(dim=-1) * FPS
    assert float(step.max()) <= 3.0 * (1 + 1e-4)
    assert float(step.max()) > 0.5  # it does turn
    eye = torch.eye(3, dtype=torch.float64).expand_as(rotation)
    torch.testing.assert_close(rotation @ rotation.transpose(-1, -2), eye)
    torch.testing.assert_close(rotation[0], eye[0])


def test_carrying_is_rigid_about_the_pivot_and_matches_carried_hand_parameters() -> None:
    generator = torch.Generator().manual_seed(5)
    rotation = axis_angle_to_matrix(torch.randn(4, 3, generator=generator, dtype=torch.float64))
    displacement = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    pivot = torch.tensor([0.1, -0.2, 0.5], dtype=torch.float64)
    points = torch.randn(4, 21, 3, generator=generator, dtype=torch.float64)
    moved = carry_points(points, rotation, displacement, pivot)
    distances = torch.cdist(points, points)
    torch.testing.assert_close(torch.cdist(moved, moved), distances)  # rigid
    torch.testing.assert_close(
        carry_points(pivot.expand(4, 1, 3), rotation, displacement, pivot)[:, 0], pivot + displacement
    )
    hand = HandParams(
        torch.zeros(4, 45, dtype=torch.float64),
        torch.zeros(4, 10, dtype=torch.float64),
        axis_angle_to_matrix(torch.randn(4, 3, generator=generator, dtype=torch.float64)),
        torch.randn(4, 3, generator=generator, dtype=torch.float64),
    )
    carried = carry_hand(hand, rotation, displacement, pivot)
    torch.testing.assert_close(
        carried.translation, carry_points(hand.translation[:, None], rotation, displacement, pivot)[:, 0]
    )
    torch.testing.assert_close(carried.rotation, rotation @ hand.rotation)


def test_same_seed_same_trajectory_and_bad_input_is_refused() -> None:
    a = world_trajectory(90, 30.0, WorldMotionConfig(), torch.Generator().manual_seed(9))
    b = world_trajectory(90, 30.0, WorldMotionConfig(), torch.Generator().manual_seed(9))
    torch.testing.assert_close(a, b)
    with pytest.raises(DataError, match="fps > 0"):
        world_trajectory(0, 30.0, WorldMotionConfig(), torch.Generator())
    with pytest.raises(DataError, match="one rigid motion per frame"):
        carry_points(torch.zeros(5, 21, 3), a[0], a[1], torch.zeros(3))
