"""Tracking benchmark data: true two-hand motion and what a noisy keypoint tracker reports of it.

A sequence is ``synthesize_motion`` (data/motion_sequences.py) over keyframe interactions
from the synthetic generator, seen through ``corrupt_keypoints`` (data/tracker_noise.py).
On disk, sequence ``k`` is two hands files (README "Conventions") in one directory:

    truth_{k:03d}.npz      every field: meshes, keypoints and parameters of both hands
    observed_{k:03d}.npz   only ``*_keypoints`` (NaN where lost) and ``*_confidence``,
                           what ``interhandgen refine --input`` reads
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.data.motion_sequences import MotionConfig, keyframe_pool, synthesize_motion
from interhandgen_core.data.tracker_noise import TrackedKeypoints, TrackerNoiseConfig, corrupt_keypoints
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params, write_hands_file

# Keyframes come from the synthetic generator at seeds the shipped prior never saw
# (its training data used seeds 0 and 1).
HELD_OUT_SEED = 1000


@dataclass
class TrackingSequence:
    """One sequence of N frames, world frame, metres: the truth and the tracker's report."""

    left: HandParams
    right: HandParams
    left_keypoints: Tensor  # (N, 21, 3) true
    right_keypoints: Tensor
    observed: TrackedKeypoints
    name: str = ""  # what makes it what it is, for per-sequence tables ("" for the default suite)
    fps: float = 30.0  # frames per second of the motion, for filters that need time

    @property
    def num_frames(self) -> int:
        return int(self.left_keypoints.shape[0])

    def to(self, device: torch.device | str) -> TrackingSequence:
        obs = self.observed
        return TrackingSequence(
            self.left.to(device),
            self.right.to(device),
            self.left_keypoints.to(device),
            self.right_keypoints.to(device),
            TrackedKeypoints(
                obs.left_keypoints.to(device),
                obs.right_keypoints.to(device),
                obs.left_confidence.to(device),
                obs.right_confidence.to(device),
                obs.swapped.to(device),
            ),
            self.name,
            self.fps,
        )


def make_tracking_sequences(
    right_layer: HandLayer,
    left_layer: HandLayer,
    num_sequences: int,
    motion: MotionConfig,
    noise: TrackerNoiseConfig,
    seed: int = 0,
    keyframes: int = 32,
    progress: bool = False,
) -> list[TrackingSequence]:
    """``num_sequences`` sequences drawn from one pool of ``keyframes`` synthetic interactions; seedable."""
    pool_left, pool_right = keyframe_pool(right_layer, left_layer, keyframes, HELD_OUT_SEED + seed)
    generator = torch.Generator().manual_seed(seed)
    sequences = []
    for _ in tqdm(range(num_sequences), desc="sequences", unit="seq", disable=not progress):  # independent draws
        left, right = synthesize_motion(pool_left, pool_right, motion, generator)
        with torch.no_grad():
            left_kp = left_layer(left).keypoints
            right_kp = right_layer(right).keypoints
        observed = corrupt_keypoints(left_kp, right_kp, noise, generator)
        sequences.append(TrackingSequence(left, right, left_kp, right_kp, observed, fps=motion.fps))
    return sequences


def observed_hands_file(sequence: TrackingSequence) -> HandsFile:
    """The tracker's report as a refine input: keypoints and confidences only."""
    obs = sequence.observed
    return HandsFile(
        left_keypoints=obs.left_keypoints.numpy(),
        right_keypoints=obs.right_keypoints.numpy(),
        left_confidence=obs.left_confidence.numpy(),
        right_confidence=obs.right_confidence.numpy(),
    )


def write_tracking_sequences(
    directory: str | Path, sequences: list[TrackingSequence], right_layer: HandLayer, left_layer: HandLayer
) -> list[Path]:
    """Write truth_XXX.npz and observed_XXX.npz per sequence into an existing directory -> the observed files."""
    directory = Path(directory)
    written = []
    for k, sequence in enumerate(sequences):  # one pair of files per sequence
        truth = hands_file_from_params(left_layer, right_layer, sequence.left, sequence.right)
        write_hands_file(directory / f"truth_{k:03d}.npz", truth)
        path = directory / f"observed_{k:03d}.npz"
        write_hands_file(path, observed_hands_file(sequence))
        written.append(path)
    return written
