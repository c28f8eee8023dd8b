"""A keypoint tracker's errors, applied to ground-truth two-hand keypoints.

:func:`corrupt_keypoints` turns clean keypoints of both hands (for example those of
data/motion_sequences.py through the hand layer) into what a camera-based hand tracker
reports: jittery keypoints, occasional gross outliers, runs of frames where a hand is lost,
frames it is unsure about, and frames where it mixes up which hand is which.

Notation (N frames, h in {left, right}, j = 0 .. 20 keypoints in the order of
hands/keypoints.py; lengths in metres, in the frame of the input keypoints):
    x[n, h, j]     (3,) ground truth
    y[n, h, j]     (3,) reported: x + e, e ~ N(0, (sigma k[n, h])^2 I) per axis, or
                   x + o, o ~ N(0, sigma_o^2 I), with probability p_o (an outlier)
    sigma          jitter_std_m;  sigma_o  outlier_std_m;  p_o  outlier_probability
    k[n, h]        low_confidence_noise_factor on low-confidence frames, else 1
    c[n, h]        confidence in [0, 1]: 0 while lost, low_confidence on low-confidence
                   frames (probability low_confidence_probability per hand and frame), else 1
    lost[n, h]     a run of lost frames starts with probability p_d = dropout_probability
                   per hand and frame; its length is geometric, mean m = dropout_mean_frames
                   (P(L = l) = (1 - 1/m)^(l - 1) / m, l >= 1); runs that overlap merge;
                   y = NaN there
    swapped[n]     with probability swap_probability per frame the left and right records
                   (keypoints and confidence) trade places

Every random number is drawn whatever the settings, in one fixed order, so that a seed
gives the same jitter whether or not, say, outliers are switched on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import DataError
from interhandgen_core.hands.keypoints import NUM_KEYPOINTS


@dataclass(frozen=True)
class TrackerNoiseConfig(ConfigBase):
    """Settings of :func:`corrupt_keypoints` (metres, probabilities in [0, 1], frames).

    jitter_std_m: per-axis Gaussian std of every keypoint, every frame.
    outlier_probability: per keypoint per frame, the keypoint is replaced by a gross error...
    outlier_std_m: ...of this per-axis std about the true position.
    dropout_probability: per hand per frame, a run of lost frames starts (keypoints NaN,
        confidence 0).
    dropout_mean_frames: mean length of such a run (geometric, >= 1).
    low_confidence_probability: per hand per frame, a low-confidence frame...
    low_confidence: ...for which the tracker reports this confidence...
    low_confidence_noise_factor: ...and whose jitter is this many times larger.
    swap_probability: per frame, the tracker swaps the left and right labels.
    """

    jitter_std_m: float = setting(0.010, low=0.0, high=1.0, units="metres", help="per-axis std of every keypoint")
    outlier_probability: float = setting(0.02, low=0.0, high=1.0, help="per keypoint and frame, a gross error")
    outlier_std_m: float = setting(0.05, low=0.0, high=10.0, units="metres", help="per-axis std of a gross error")
    dropout_probability: float = setting(
        0.01, low=0.0, high=1.0, help="per hand and frame, a run of lost frames starts"
    )
    dropout_mean_frames: float = setting(10.0, low=1.0, high=1e6, help="mean length of a run of lost frames")
    low_confidence_probability: float = setting(
        0.05, low=0.0, high=1.0, help="per hand and frame, a low-confidence frame"
    )
    low_confidence: float = setting(0.3, low=0.0, high=1.0, help="the confidence reported on such a frame")
    low_confidence_noise_factor: float = setting(3.0, low=0.0, high=100.0, help="factor on the jitter of such a frame")
    swap_probability: float = setting(0.0, low=0.0, high=1.0, help="per frame, the left and right labels swap")


@dataclass
class TrackedKeypoints:
    """What the tracker reports for N frames (metres, the input keypoints' frame)."""

    left_keypoints: Tensor  # (N, 21, 3), NaN where the hand was lost
    right_keypoints: Tensor  # (N, 21, 3), NaN where the hand was lost
    left_confidence: Tensor  # (N,) in [0, 1]: 0 where lost, low_confidence on noisy frames, else 1
    right_confidence: Tensor  # (N,)
    swapped: Tensor  # (N,) bool: frames whose left and right labels were swapped


def geometric_lengths(uniform: Tensor, mean_frames: float, cap: int) -> Tensor:
    """uniform: (...) float64 in [0, 1) -> (...) long run lengths >= 1, geometric with mean ``mean_frames``, at most ``cap``.

    P(L = l) = (1 - 1/m)^(l - 1) / m, l >= 1, by the inverse CDF (1 - U lies in (0, 1], so the log is finite).
    """
    stay = 1.0 - 1.0 / mean_frames
    draw = torch.log1p(-uniform)
    lengths = 1 + (torch.floor(draw / math.log(stay)) if stay > 0.0 else torch.zeros_like(draw))
    return lengths.clamp(max=cap).long()


def frames_in_runs(starts: Tensor, lengths: Tensor) -> Tensor:
    """starts (N, ...) bool, lengths (N, ...) long >= 1 -> (N, ...) bool: frame n lies in a run begun at some s <= n."""
    frame = torch.arange(starts.shape[0], device=starts.device).reshape(-1, *([1] * (starts.ndim - 1)))
    # A run begun at s covers s .. s + L - 1; frame n is covered iff the furthest end of the
    # runs begun so far lies beyond it, a running maximum over frames.
    end = torch.where(starts, frame + lengths, torch.zeros_like(lengths))
    return torch.cummax(end, dim=0).values > frame


def corrupt_keypoints(
    left_keypoints: Tensor, right_keypoints: Tensor, config: TrackerNoiseConfig, generator: torch.Generator
) -> TrackedKeypoints:
    """left_keypoints, right_keypoints: (N, 21, 3) metres, any one frame -> TrackedKeypoints, same frame.

    generator: draws every random number, on its own device; the results move to the
    keypoints' device. A config of zeros (no jitter, no events) returns the input unchanged,
    with confidence 1 everywhere.
    """
    if left_keypoints.ndim != 3 or left_keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
        raise DataError(f"left_keypoints must be (N, {NUM_KEYPOINTS}, 3), got {tuple(left_keypoints.shape)}")
    if right_keypoints.shape != left_keypoints.shape:
        raise DataError(
            f"right_keypoints must have the shape of left_keypoints {tuple(left_keypoints.shape)}, "
            f"got {tuple(right_keypoints.shape)}"
        )
    if not left_keypoints.is_floating_point():
        raise DataError(f"keypoints must be floating point (metres), got {left_keypoints.dtype}")
    n = left_keypoints.shape[0]
    dtype, device = left_keypoints.dtype, left_keypoints.device
    truth = torch.stack([left_keypoints, right_keypoints], dim=1)  # (N, 2, 21, 3)

    def uniform(*shape: int) -> Tensor:
        return torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64).to(device)

    def normal(*shape: int) -> Tensor:
        return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)

    jitter = normal(n, 2, NUM_KEYPOINTS, 3)
    gross = normal(n, 2, NUM_KEYPOINTS, 3)
    outlier = uniform(n, 2, NUM_KEYPOINTS) < config.outlier_probability
    low = uniform(n, 2) < config.low_confidence_probability
    starts = uniform(n, 2) < config.dropout_probability
    lengths = geometric_lengths(uniform(n, 2), config.dropout_mean_frames, cap=n)
    swapped = uniform(n) < config.swap_probability

    lost = frames_in_runs(starts, lengths)
    scale = torch.where(low, config.low_confidence_noise_factor, 1.0).to(dtype)
    error = torch.where(
        outlier[..., None], config.outlier_std_m * gross, config.jitter_std_m * scale[..., None, None] * jitter
    )
    reported = torch.where(lost[..., None, None], torch.full_like(truth, torch.nan), truth + error)
    confidence = torch.where(low, config.low_confidence, 1.0).to(dtype)
    confidence = torch.where(lost, torch.zeros_like(confidence), confidence)

    # A swap trades whole records: the tracker's per-hand state travels with its label.
    reported = torch.where(swapped[:, None, None, None], reported.flip(1), reported)
    confidence = torch.where(swapped[:, None], confidence.flip(1), confidence)
    return TrackedKeypoints(
        left_keypoints=reported[:, 0],
        right_keypoints=reported[:, 1],
        left_confidence=confidence[:, 0],
        right_confidence=confidence[:, 1],
        swapped=swapped,
    )
