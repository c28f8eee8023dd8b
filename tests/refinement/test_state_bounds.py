"""bounded_state: shape and articulation clamped to their plausible ranges, rows inside them untouched."""

from __future__ import annotations

import math

import torch

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.refinement.state_bounds import bounded_state


def test_rows_outside_are_clamped_and_flagged_rows_inside_untouched() -> None:
    generator = torch.Generator().manual_seed(0)
    pose = 0.3 * torch.randn(4, 45, generator=generator)
    betas = torch.randn(4, 10, generator=generator).clamp(-2.5, 2.5)
    pose[1, 3:6] = torch.tensor([0.0, 353.0, 0.0])  # a finger turned 353 rad
    betas[2, 4] = 5050.0
    pose[3, 0] = float("nan")
    rotation = axis_angle_to_matrix(torch.randn(4, 3, generator=generator))
    translation = torch.randn(4, 3, generator=generator)
    out, outside = bounded_state(HandParams(pose, betas, rotation, translation), 3.0, 2.1)
    assert outside.tolist() == [False, True, True, True]
    assert torch.equal(out.pose[0], pose[0]) and torch.equal(out.betas[0], betas[0])  # inside: untouched
    assert math.isclose(float(out.pose[1, 3:6].norm()), 2.1, rel_tol=1e-6)  # scaled onto the limit, same axis
    assert float(out.pose[1, 4]) > 0 and float(out.pose[1, 3].abs() + out.pose[1, 5].abs()) == 0.0
    assert float(out.betas[2, 4]) == 3.0 and bool(torch.isfinite(out.pose[3]).all())
    assert torch.equal(out.rotation, rotation) and torch.equal(out.translation, translation)
