"""Tracking figures on hand-made tracks with known answers: MPJPE, acceleration error, penetration."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from interhandgen_core.evaluation.tracking import acceleration_error, frame_errors, mpjpe, tracking_figures


def _truth(frames: int, seed: int = 0) -> Tensor:
    """(N, 21, 3) keypoints moving irregularly, so that a correct estimate has non-zero acceleration too."""
    generator = torch.Generator().manual_seed(seed)
    start = 0.1 * torch.randn(1, 21, 3, generator=generator, dtype=torch.float64)
    steps = 0.01 * torch.randn(frames, 21, 3, generator=generator, dtype=torch.float64)
    return start + steps.cumsum(0)


def _along_random_directions(frames: int, length_m: float, seed: int = 1) -> Tensor:
    """(N, 21, 3) offsets of exactly ``length_m`` each, in random directions."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(frames, 21, 3, generator=generator, dtype=torch.float64)
    return length_m * direction / direction.norm(dim=-1, keepdim=True)


def test_mpjpe_of_a_known_offset_in_millimetres() -> None:
    truth = _truth(6)
    error, coverage = mpjpe(truth + _along_random_directions(6, 0.003), truth)
    assert error == pytest.approx(3.0, abs=1e-9)
    assert coverage == 1.0


def test_mpjpe_leaves_out_nan_frames_and_reports_coverage() -> None:
    truth = _truth(4)
    estimate = truth + _along_random_directions(4, 0.003)
    estimate[1] = torch.nan  # a lost frame
    estimate[2, :7] = torch.nan  # a third of one frame's keypoints
    error, coverage = mpjpe(estimate, truth)
    assert error == pytest.approx(3.0, abs=1e-9)
    assert coverage == pytest.approx((4 * 21 - 21 - 7) / (4 * 21))


def test_mpjpe_of_nothing_is_nan_with_zero_coverage() -> None:
    truth = _truth(3)
    error, coverage = mpjpe(torch.full_like(truth, torch.nan), truth)
    assert math.isnan(error)
    assert coverage == 0.0


def test_acceleration_error_ignores_a_constant_offset() -> None:
    truth = _truth(8)
    offset = torch.tensor([0.004, -0.002, 0.01], dtype=torch.float64)
    assert acceleration_error(truth + offset, truth) == pytest.approx(0.0, abs=1e-9)


def test_acceleration_error_ignores_a_constant_velocity_drift() -> None:
    truth = _truth(8)
    velocity = torch.tensor([0.002, 0.001, -0.003], dtype=torch.float64)  # metres per frame
    drift = torch.arange(8, dtype=torch.float64)[:, None, None] * velocity
    assert acceleration_error(truth + drift, truth) == pytest.approx(0.0, abs=1e-9)


def test_acceleration_error_of_one_jittered_frame() -> None:
    # Frame 3 of 7 moved by d: the second differences around it are d, -2d, d, and the
    # other two of the five windows are exact, so the mean is 4d/5 = 2.4 mm for d = 3 mm.
    truth = _truth(7)
    estimate = truth.clone()
    estimate[3] += _along_random_directions(1, 0.003)[0]
    assert acceleration_error(estimate, truth) == pytest.approx(2.4, abs=1e-9)


def test_acceleration_error_leaves_out_windows_with_a_nan_frame() -> None:
    # Frame 2 of 8 jittered by d, frame 5 lost: the windows centred on 4, 5 and 6 read frame 5
    # and are left out, which leaves d, 2d, d over the windows centred on 1, 2 and 3.
    truth = _truth(8)
    estimate = truth.clone()
    estimate[2] += _along_random_directions(1, 0.003)[0]
    estimate[5] = torch.nan
    assert acceleration_error(estimate, truth) == pytest.approx(4.0, abs=1e-9)


def test_acceleration_error_needs_three_frames() -> None:
    truth = _truth(2)
    assert math.isnan(acceleration_error(truth, truth))
    assert math.isnan(acceleration_error(torch.full_like(_truth(5), torch.nan), _truth(5)))


def test_tracking_figures_pool_both_hands_and_summarise_depth() -> None:
    true_left, true_right = _truth(5, seed=2), _truth(5, seed=3)
    left = true_left + _along_random_directions(5, 0.002, seed=4)
    right = true_right + _along_random_directions(5, 0.004, seed=5)
    right[0] = torch.nan  # the right hand lost in the first frame
    depth = torch.linspace(0.0, 0.01, 101, dtype=torch.float64)  # 0..10 mm
    figures = tracking_figures(left, right, true_left, true_right, depth)
    # 5 frames of the left hand at 2 mm, 4 of the right at 4 mm.
    assert figures.mpjpe_mm == pytest.approx((5 * 2.0 + 4 * 4.0) / 9, abs=1e-9)
    assert figures.coverage == pytest.approx(9 / 10)
    assert figures.acceleration_error_mm > 0
    assert figures.mean_penetration_mm == pytest.approx(5.0, abs=1e-9)
    assert figures.p95_penetration_mm == pytest.approx(9.5, abs=1e-9)
    assert figures.as_dict()["p95_penetration_mm"] == figures.p95_penetration_mm


def test_tracking_figures_without_meshes_have_no_penetration() -> None:
    truth = _truth(4)
    figures = tracking_figures(truth, truth, truth, truth)
    assert figures.mpjpe_mm == pytest.approx(0.0, abs=1e-12)
    assert figures.acceleration_error_mm == pytest.approx(0.0, abs=1e-12)
    assert figures.mean_penetration_mm is None
    assert figures.p95_penetration_mm is None
    assert set(figures.as_dict()) == {
        "mpjpe_mm",
        "p95_frame_error_mm",
        "worst_frame_error_mm",
        "coverage",
        "acceleration_error_mm",
        "mean_penetration_mm",
        "p95_penetration_mm",
    }


def test_worst_frame_is_the_frame_with_the_largest_mean_error_over_both_hands() -> None:
    truth = _truth(20)
    left = truth + _along_random_directions(20, 0.002)
    right = truth + _along_random_directions(20, 0.002, seed=2)
    left[7] = truth[7] + _along_random_directions(1, 0.030)[0]  # one bad frame of one hand: 30 mm
    right[3, :5] = torch.nan  # missing keypoints count out of their frame's mean
    figures = tracking_figures(left, right, truth, truth)
    assert figures.worst_frame_error_mm == pytest.approx((30.0 + 2.0) / 2, abs=1e-9)
    assert figures.p95_frame_error_mm == pytest.approx(2.0 + 0.05 * 14.0, abs=1e-6)  # between 2 and 16 mm
    per_frame = frame_errors(torch.cat([left, right], 1), torch.cat([truth, truth], 1))
    assert per_frame.shape == (20,) and float(per_frame[3]) == pytest.approx(0.002, abs=1e-12)
    assert math.isnan(float(frame_errors(torch.full_like(truth, torch.nan), truth)[0]))
