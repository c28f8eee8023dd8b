"""How well a two-hand track matches the ground truth: accuracy, jitter and plausibility.

Definitions (per hand, frames of one sequence, metres in, millimetres out):
    MPJPE               mean over frames and keypoints of |J - J*|, J estimated, J* true keypoints
    frame error         per frame, the mean of |J - J*| over that frame's keypoints of both hands;
                        its p95 over frames, and its maximum: the worst frame
    acceleration error  mean over frames t and keypoints of |a_t - a*_t| with the second difference
                        a_t = J_{t+1} - 2 J_t + J_{t-1}, mm/frame^2 (the jitter a track adds)
    penetration depth   per frame, the exact depth of contact/interaction.py; mean and p95

A frame or keypoint that is NaN in the estimate (a hand the tracker lost) is left out of
the means, and so is every second difference it takes part in; ``coverage`` says which
fraction of the keypoints counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_MM = 1000.0


def mpjpe(estimate: Tensor, truth: Tensor) -> tuple[float, float]:
    """estimate, truth: (N, 21, 3) metres -> (MPJPE in mm over the finite keypoints, fraction of them)."""
    error = (estimate - truth).norm(dim=-1)
    finite = torch.isfinite(error)
    if not bool(finite.any()):
        return float("nan"), 0.0
    return float(error[finite].double().mean() * _MM), float(finite.double().mean())


def frame_errors(estimate: Tensor, truth: Tensor) -> Tensor:
    """estimate, truth: (N, K, 3) metres -> (N,) float64 mean |J - J*| over each frame's finite keypoints, metres.

    NaN for a frame without a finite keypoint.
    """
    error = (estimate - truth).norm(dim=-1).double()
    finite = torch.isfinite(error)
    total = torch.where(finite, error, 0.0).sum(-1)
    count = finite.sum(-1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.nan)


def second_difference(keypoints: Tensor) -> Tensor:
    """keypoints (N, 21, 3) -> (N - 2, 21, 3) J_{t+1} - 2 J_t + J_{t-1}, same unit per frame^2."""
    return keypoints[2:] - 2.0 * keypoints[1:-1] + keypoints[:-2]


def acceleration_error(estimate: Tensor, truth: Tensor) -> float:
    """estimate, truth: (N, 21, 3) metres, consecutive frames -> mean |a - a*| in mm/frame^2 (NaN windows left out)."""
    if estimate.shape[0] < 3:
        return float("nan")
    error = (second_difference(estimate) - second_difference(truth)).norm(dim=-1)
    finite = torch.isfinite(error)
    if not bool(finite.any()):
        return float("nan")
    return float(error[finite].double().mean() * _MM)


@dataclass
class TrackingFigures:
    """Figures of one two-hand track against the truth (millimetres); penetration None where there is no mesh."""

    mpjpe_mm: float
    coverage: float
    acceleration_error_mm: float
    mean_penetration_mm: float | None = None
    p95_penetration_mm: float | None = None
    p95_frame_error_mm: float | None = None
    worst_frame_error_mm: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "mpjpe_mm": self.mpjpe_mm,
            "p95_frame_error_mm": self.p95_frame_error_mm,
            "worst_frame_error_mm": self.worst_frame_error_mm,
            "coverage": self.coverage,
            "acceleration_error_mm": self.acceleration_error_mm,
            "mean_penetration_mm": self.mean_penetration_mm,
            "p95_penetration_mm": self.p95_penetration_mm,
        }


def tracking_figures(
    left: Tensor, right: Tensor, true_left: Tensor, true_right: Tensor, depth: Tensor | None = None
) -> TrackingFigures:
    """left, right, true_left, true_right: (N, 21, 3) metres; depth: (N,) metres or None -> TrackingFigures.

    Both hands count alike: the keypoints of both are pooled for MPJPE and acceleration error.
    """
    estimate = torch.cat([left, right], dim=1)
    truth = torch.cat([true_left, true_right], dim=1)
    error, coverage = mpjpe(estimate, truth)
    figures = TrackingFigures(error, coverage, acceleration_error(estimate, truth))
    per_frame = frame_errors(estimate, truth)
    per_frame = per_frame[torch.isfinite(per_frame)] * _MM
    if per_frame.numel():
        figures.p95_frame_error_mm = float(torch.quantile(per_frame, 0.95))
        figures.worst_frame_error_mm = float(per_frame.max())
    if depth is not None and depth.numel():
        depth_mm = depth.double() * _MM
        figures.mean_penetration_mm = float(depth_mm.mean())
        figures.p95_penetration_mm = float(torch.quantile(depth_mm, 0.95))
    return figures
