"""A user's hand that is not the hand model: bones rescaled along the keypoint tree.

Two uses in the tracking benchmark (data/tracking_suites.py): the user's true skeleton, one
set of bone scales for a whole sequence (per finger, per bone segment), and a keypoint
regressor's per-frame bone-length jitter on top of it (its bones change from frame to frame).

Notation (keypoints in the order of hands/keypoints.py, any one frame, metres):
    x[k]        (3,) keypoint k of the input; p(k) = KEYPOINT_PARENTS[k] its parent (-1: the wrist)
    b = k - 1   the bone ending at keypoint k (k = 1 .. 20): 20 bones, 4 per finger from the
                wrist (thumb 0-3, index 4-7, middle 8-11, ring 12-15, pinky 16-19)
    s[b]        bone scale, > 0
    y[k]        rescaled: y[0] = x[0], y[k] = y[p(k)] + s[k - 1] (x[k] - x[p(k)])
                so every bone keeps its direction and |y[k] - y[p(k)]| = s |x[k] - x[p(k)]|;
                unrolled, y = x[0] + A (s * v) with v[b] = x[b + 1] - x[p(b + 1)] and
                A[k, b] = 1 when bone b lies on the path from the wrist to keypoint k
    f[i], g[b]  sequence scales: finger i's factor ~ U(min_scale, max_scale), bone b's own
                factor ~ U(1 - segment_spread, 1 + segment_spread); s[b] = f[finger(b)] g[b]
    e[n, b]     per-frame jitter: s[n, b] = max(1 + jitter_std e, MIN_JITTER_SCALE), e ~ N(0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.keypoints import KEYPOINT_PARENTS, NUM_BONES, NUM_KEYPOINTS, bone_segments

BONES_PER_FINGER = 4
# A jittered bone never shrinks below half its length (a Gaussian tail would flip it).
MIN_JITTER_SCALE = 0.5


def _ancestry() -> Tensor:
    """(21, 20) float64: A[k, b] = 1 when bone b (ending at keypoint b + 1) lies on the path from the wrist to k."""
    ancestry = torch.zeros(NUM_KEYPOINTS, NUM_BONES, dtype=torch.float64)
    for k in range(1, NUM_KEYPOINTS):  # 21 constant entries, parents before children
        parent = KEYPOINT_PARENTS[k]
        if parent > 0:
            ancestry[k] = ancestry[parent]
        ancestry[k, k - 1] = 1.0
    return ancestry


_ANCESTRY = _ancestry()


@dataclass(frozen=True)
class SkeletonMismatchConfig(ConfigBase):
    """The user's skeleton against the hand model's, one draw per sequence (scale factors).

    min_scale, max_scale: range of each finger's length factor.
    segment_spread: each bone's own factor on top of its finger's, 1 +- this.
    """

    min_scale: float = setting(0.85, low=0.1, high=10.0, help="smallest factor on a finger's bone lengths")
    max_scale: float = setting(1.2, low=0.1, high=10.0, help="largest factor on a finger's bone lengths")
    segment_spread: float = setting(0.05, low=0.0, high=0.5, help="each bone's own factor on its finger's, 1 +- this")

    def check_consistency(self) -> None:
        if self.min_scale > self.max_scale:
            raise ConfigError(
                f"SkeletonMismatchConfig.min_scale ({self.min_scale}) exceeds max_scale ({self.max_scale}); swap them"
            )


@dataclass(frozen=True)
class BoneJitterConfig(ConfigBase):
    """A keypoint regressor's bone lengths, changing from frame to frame (relative std)."""

    jitter_std: float = setting(0.05, low=0.0, high=0.5, help="per-frame relative std of every bone's length")


def rescale_bones(keypoints: Tensor, scales: Tensor) -> Tensor:
    """keypoints (..., 21, 3) metres, scales (..., 20) > 0 (broadcast) -> (..., 21, 3): bones scaled, directions kept.

    The wrist stays put; a NaN keypoint makes the keypoints below it NaN too.
    """
    if keypoints.shape[-2:] != (NUM_KEYPOINTS, 3):
        raise DataError(f"keypoints must be (..., {NUM_KEYPOINTS}, 3), got {tuple(keypoints.shape)}")
    if scales.shape[-1] != NUM_BONES:
        raise DataError(f"scales must be (..., {NUM_BONES}) bone factors, got {tuple(scales.shape)}")
    start, end = bone_segments(keypoints)
    bones = end - start  # (..., 20, 3) v
    scaled = bones * scales.to(keypoints)[..., None]
    ancestry = _ANCESTRY.to(device=keypoints.device, dtype=keypoints.dtype)
    offsets = torch.einsum("kb,...bd->...kd", ancestry, scaled)  # (..., 21, 3), 0 at the wrist
    return keypoints[..., :1, :] + offsets


def skeleton_scales(num: int, config: SkeletonMismatchConfig, generator: torch.Generator) -> Tensor:
    """-> (num, 20) float64 bone scales s = f[finger] g[bone], one skeleton per row; draws on the generator's device."""
    uniform = torch.rand(num, NUM_BONES // BONES_PER_FINGER + NUM_BONES, generator=generator, dtype=torch.float64)
    fingers = config.min_scale + (config.max_scale - config.min_scale) * uniform[:, : NUM_BONES // BONES_PER_FINGER]
    own = 1.0 + config.segment_spread * (2.0 * uniform[:, NUM_BONES // BONES_PER_FINGER :] - 1.0)
    return fingers.repeat_interleave(BONES_PER_FINGER, dim=1) * own


def bone_jitter_scales(frames: int, hands: int, config: BoneJitterConfig, generator: torch.Generator) -> Tensor:
    """-> (frames, hands, 20) float64 per-frame bone scales max(1 + jitter_std e, MIN_JITTER_SCALE), e ~ N(0, 1)."""
    noise = torch.randn(frames, hands, NUM_BONES, generator=generator, dtype=torch.float64)
    return (1.0 + config.jitter_std * noise).clamp_min(MIN_JITTER_SCALE)


def bone_lengths(keypoints: Tensor) -> Tensor:
    """keypoints (..., 21, 3) -> (..., 20) bone lengths, same unit (bone b ends at keypoint b + 1)."""
    start, end = bone_segments(keypoints)
    return (end - start).norm(dim=-1)
