"""Self-occlusion: runs of frames where a tracker loses single fingers, not the whole hand.

Besides data/tracker_noise.py's whole-hand dropouts and gross outliers, a camera tracker
loses a finger hidden behind the palm or the other hand for a few frames: its distal
keypoints are missing (NaN) while the rest of the hand is seen.

Notation (N frames, h in {left, right}, i = 0 .. 4 fingers in the order thumb, index,
middle, ring, pinky; keypoints in the order of hands/keypoints.py):
    start[n, h, i]    a run of occluded frames of finger i starts with probability
                      p = probability per hand, finger and frame
    L                 its length, geometric with mean m = mean_frames (runs that overlap merge)
    hidden            the last ``keypoints`` keypoints of finger i (its tip first to go):
                      keypoints 1 + 4 i + (4 - keypoints) .. 4 + 4 i, NaN for the run's frames
Confidences are left as they are: the hand is still tracked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.data.tracker_noise import TrackedKeypoints, frames_in_runs, geometric_lengths
from interhandgen_core.errors import DataError
from interhandgen_core.hands.keypoints import NUM_KEYPOINTS

NUM_FINGERS = 5
KEYPOINTS_PER_FINGER = 4


@dataclass(frozen=True)
class FingerOcclusionConfig(ConfigBase):
    """Settings of :func:`occlude_fingers` (probabilities, frames, keypoints).

    probability: per hand, finger and frame, a run of occluded frames of that finger starts.
    mean_frames: mean length of such a run (geometric, >= 1).
    keypoints: how many of the finger's 4 keypoints (from the tip) go missing.
    """

    probability: float = setting(0.01, low=0.0, high=1.0, help="per hand, finger and frame, an occlusion starts")
    mean_frames: float = setting(8.0, low=1.0, high=1e6, help="mean length of a finger's occlusion, frames")
    keypoints: int = setting(3, low=1, high=KEYPOINTS_PER_FINGER, help="keypoints of the finger hidden, from its tip")


def finger_occlusion_mask(frames: int, config: FingerOcclusionConfig, generator: torch.Generator) -> Tensor:
    """-> (frames, 2, 21) bool, True where a keypoint is occluded (left hand first); draws on the generator's device."""
    uniform = torch.rand(2, frames, 2, NUM_FINGERS, generator=generator, device=generator.device, dtype=torch.float64)
    starts = uniform[0] < config.probability
    lengths = geometric_lengths(uniform[1], config.mean_frames, cap=max(frames, 1))
    hidden_fingers = frames_in_runs(starts, lengths)  # (N, 2, 5)
    position = torch.arange(KEYPOINTS_PER_FINGER, device=generator.device)
    distal = position >= KEYPOINTS_PER_FINGER - config.keypoints  # (4,)
    fingers = (hidden_fingers[..., None] & distal).reshape(frames, 2, NUM_FINGERS * KEYPOINTS_PER_FINGER)
    wrist = torch.zeros(frames, 2, 1, dtype=torch.bool, device=generator.device)
    return torch.cat([wrist, fingers], dim=-1)


def occlude_fingers(
    tracked: TrackedKeypoints, config: FingerOcclusionConfig, generator: torch.Generator
) -> TrackedKeypoints:
    """TrackedKeypoints of N frames -> the same with occluded finger keypoints NaN (a new object; the input is kept)."""
    left = tracked.left_keypoints
    if left.ndim != 3 or left.shape[1:] != (NUM_KEYPOINTS, 3):
        raise DataError(f"tracked keypoints must be (N, {NUM_KEYPOINTS}, 3), got {tuple(left.shape)}")
    mask = finger_occlusion_mask(left.shape[0], config, generator).to(left.device)
    nan = torch.tensor(torch.nan, dtype=left.dtype, device=left.device)
    return TrackedKeypoints(
        left_keypoints=torch.where(mask[:, 0, :, None], nan, left),
        right_keypoints=torch.where(mask[:, 1, :, None], nan, tracked.right_keypoints),
        left_confidence=tracked.left_confidence,
        right_confidence=tracked.right_confidence,
        swapped=tracked.swapped,
    )
