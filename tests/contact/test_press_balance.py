"""Press directions and their imbalance on a unit-normal plane and a ball, with known answers."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.contact.press_balance import hand_press, press_imbalance


def ball_press(vertices: torch.Tensor, radius: float = 0.05) -> object:
    """vertices (N, V, 3) against a ball of ``radius`` about the origin."""
    return hand_press(
        vertices.norm(dim=-1) - radius,
        torch.nn.functional.normalize(vertices, dim=-1),
        vertices,
        torch.zeros(vertices.shape[0], 3),
        band=0.01,
    )


def test_press_points_into_the_face_the_hand_rests_on() -> None:
    # Three vertices on the ball's top, one far above (outside the band): the press is straight down.
    v = torch.tensor([[[0.0, 0.0, 0.05], [0.001, 0.0, 0.05], [-0.001, 0.0, 0.05], [0.0, 0.0, 0.2]]])
    press = ball_press(v)
    assert press.direction[0].tolist() == pytest.approx([0.0, 0.0, -1.0], abs=1e-3)
    assert press.point[0].tolist() == pytest.approx([0.0, 0.0, 0.05], abs=1e-6)
    assert float(press.closest[0]) == pytest.approx(0.0, abs=1e-6)


def test_cancelled_normals_press_towards_the_centre() -> None:
    # A "hand" wrapped around the ball: its contact normals cancel, so it presses towards the centre.
    ring = torch.tensor([[[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, -0.05, 0.0]]]) + torch.tensor(
        [0.0, 0.0, 0.001]
    )
    press = ball_press(ring)
    assert press.direction[0].tolist() == pytest.approx([0.0, 0.0, -1.0], abs=1e-3)


def test_imbalance_of_a_clamp_a_stack_and_a_lever() -> None:
    top = torch.tensor([[[0.0, 0.0, 0.05]]]).expand(3, -1, -1)
    bottom = torch.tensor([[[0.0, 0.0, -0.05]], [[0.0, 0.0, 0.05]], [[0.0, 0.05, 0.0]]])
    centre = torch.zeros(3, 3)
    imbalance = press_imbalance([ball_press(top), ball_press(bottom)], centre, length_scale=0.1)
    clamp, both_on_top, at_right_angles = imbalance.tolist()
    assert clamp == pytest.approx(0.0, abs=1e-5)  # opposite, through the centre
    assert both_on_top == pytest.approx(2.0, abs=1e-5)  # two unit presses the same way
    # Down and sideways, both through the centre: |(0, -1, -1)| = sqrt 2, no torque.
    assert at_right_angles == pytest.approx(2**0.5, abs=1e-5)
