"""The tracking benchmark's suites of sequences: ``default`` (the refiner's own kind of data) and ``wide``.

``default`` is data/tracking_sequences.py's make_tracking_sequences, unchanged: the hand
model's own skeleton, the pair drifting slowly, a tracker's jitter, outliers and dropouts.

``wide`` is made differently, to see how a refiner does on what it was not tuned on. Each
sequence k follows the recipe WIDE_SUITE[k % len(WIDE_SUITE)], from its own generator
(so sequence k is the same whatever the number of sequences asked for), over a keyframe
pool of other seeds than the default suite's:

    1. motion       synthesize_motion (data/motion_sequences.py), as in ``default``
    2. world        both hands carried rigidly through the world (data/world_motion.py)
                    about their centre at frame 0, up to the recipe's top speed
    3. skeleton     the user's hand: bones rescaled per finger and segment, one draw for both
                    hands of the sequence (data/skeleton_mismatch.py). THE TRUTH is this
                    rescaled skeleton; the sequence's HandParams are the model's hands before it
    4. bone jitter  the tracker's per-frame bone lengths (data/skeleton_mismatch.py)
    5. tracker      jitter, gross outliers, lost hands, low-confidence frames (data/tracker_noise.py)
    6. occlusion    runs of frames with single fingers' keypoints NaN (data/finger_occlusion.py)

A step a recipe leaves out (None) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from interhandgen_core.data.finger_occlusion import FingerOcclusionConfig, occlude_fingers
from interhandgen_core.data.motion_sequences import MotionConfig, keyframe_pool, synthesize_motion
from interhandgen_core.data.skeleton_mismatch import (
    BoneJitterConfig,
    SkeletonMismatchConfig,
    bone_jitter_scales,
    rescale_bones,
    skeleton_scales,
)
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig, corrupt_keypoints
from interhandgen_core.data.tracking_sequences import HELD_OUT_SEED, TrackingSequence, make_tracking_sequences
from interhandgen_core.data.world_motion import WorldMotionConfig, carry_hand, carry_points, world_trajectory
from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.layer import HandLayer

SUITES = ("default", "wide")
# The wide suite's keyframes come from other seeds than the default suite's (HELD_OUT_SEED + seed).
WIDE_POOL_OFFSET = 500


@dataclass(frozen=True)
class WideRecipe:
    """How one wide-suite sequence is made; None leaves a step out (see the module's steps)."""

    world: WorldMotionConfig | None
    skeleton: SkeletonMismatchConfig | None
    bone_jitter: BoneJitterConfig | None
    occlusion: FingerOcclusionConfig | None

    @property
    def name(self) -> str:
        """A short description for tables, e.g. 'mismatch, bones 5%, 1.5 m/s, occlusions'."""
        parts = ["mismatch" if self.skeleton is not None else "own skeleton"]
        if self.bone_jitter is not None:
            parts.append(f"bones {100 * self.bone_jitter.jitter_std:.0f}%")
        parts.append(f"{self.world.max_speed_m_s:g} m/s" if self.world is not None else "no carry")
        if self.occlusion is not None:
            parts.append("occlusions")
        return ", ".join(parts)


def _carry(speed: float, angular: float) -> WorldMotionConfig:
    return WorldMotionConfig(max_speed_m_s=speed, max_angular_speed_rad_s=angular)


_MISMATCH = SkeletonMismatchConfig()
_OCCLUSION = FingerOcclusionConfig()

# Eight recipes: two on the model's own skeleton (as the default suite), six with a mismatch;
# speeds from none to 1.5 m/s (twice), bone jitter 3-8%, occlusions in most. The first two
# are the hardest pair, so that a two-sequence run already sees both skeletons at speed.
WIDE_SUITE: tuple[WideRecipe, ...] = (
    WideRecipe(_carry(1.5, 3.0), _MISMATCH, BoneJitterConfig(0.05), _OCCLUSION),
    WideRecipe(_carry(1.5, 3.0), None, None, _OCCLUSION),
    WideRecipe(None, _MISMATCH, BoneJitterConfig(0.05), _OCCLUSION),
    WideRecipe(_carry(0.3, 1.0), _MISMATCH, BoneJitterConfig(0.03), None),
    WideRecipe(_carry(0.6, 1.5), None, None, _OCCLUSION),
    WideRecipe(_carry(0.6, 1.5), _MISMATCH, BoneJitterConfig(0.05), FingerOcclusionConfig(probability=0.03)),
    WideRecipe(_carry(1.0, 2.0), _MISMATCH, BoneJitterConfig(0.08), _OCCLUSION),
    WideRecipe(_carry(1.1, 3.0), SkeletonMismatchConfig(min_scale=1.0, max_scale=1.2), BoneJitterConfig(0.05), None),
)


def make_wide_sequences(
    right_layer: HandLayer,
    left_layer: HandLayer,
    num_sequences: int,
    motion: MotionConfig,
    noise: TrackerNoiseConfig,
    seed: int = 0,
    keyframes: int = 32,
    progress: bool = False,
) -> list[TrackingSequence]:
    """``num_sequences`` sequences, sequence k after WIDE_SUITE[k % 8], world frame, metres; seedable.

    motion, noise: the base motion (frames, fps, ...) and the tracker's noise of every sequence.
    """
    pool_left, pool_right = keyframe_pool(right_layer, left_layer, keyframes, HELD_OUT_SEED + WIDE_POOL_OFFSET + seed)
    sequences = []
    for k in tqdm(range(num_sequences), desc="sequences", unit="seq", disable=not progress):  # one recipe each
        recipe = WIDE_SUITE[k % len(WIDE_SUITE)]
        generator = torch.Generator().manual_seed((seed + 1) * 1_000_003 + k)
        left, right = synthesize_motion(pool_left, pool_right, motion, generator)
        with torch.no_grad():
            left_kp = left_layer(left).keypoints
            right_kp = right_layer(right).keypoints
        frames = left_kp.shape[0]
        if recipe.world is not None:
            rotation, displacement = world_trajectory(frames, motion.fps, recipe.world, generator)
            pivot = torch.cat([left_kp[0], right_kp[0]]).double().mean(0)
            left_kp, right_kp = (carry_points(kp, rotation, displacement, pivot) for kp in (left_kp, right_kp))
            left, right = (carry_hand(hand, rotation, displacement, pivot) for hand in (left, right))
        if recipe.skeleton is not None:
            scales = skeleton_scales(1, recipe.skeleton, generator)  # the user's two hands alike
            left_kp, right_kp = rescale_bones(left_kp, scales), rescale_bones(right_kp, scales)
        seen_left, seen_right = left_kp, right_kp
        if recipe.bone_jitter is not None:
            jitter = bone_jitter_scales(frames, 2, recipe.bone_jitter, generator)
            seen_left, seen_right = rescale_bones(left_kp, jitter[:, 0]), rescale_bones(right_kp, jitter[:, 1])
        observed = corrupt_keypoints(seen_left, seen_right, noise, generator)
        if recipe.occlusion is not None:
            observed = occlude_fingers(observed, recipe.occlusion, generator)
        sequences.append(TrackingSequence(left, right, left_kp, right_kp, observed, recipe.name, motion.fps))
    return sequences


def make_suite_sequences(
    suite: str,
    right_layer: HandLayer,
    left_layer: HandLayer,
    num_sequences: int,
    motion: MotionConfig,
    noise: TrackerNoiseConfig,
    seed: int = 0,
    keyframes: int = 32,
    progress: bool = False,
) -> list[TrackingSequence]:
    """The sequences of suite ``suite`` (one of SUITES): make_tracking_sequences or make_wide_sequences."""
    if suite == "default":
        return make_tracking_sequences(
            right_layer, left_layer, num_sequences, motion, noise, seed, keyframes, progress=progress
        )
    if suite == "wide":
        return make_wide_sequences(right_layer, left_layer, num_sequences, motion, noise, seed, keyframes, progress)
    raise ConfigError(f"suite must be one of {', '.join(SUITES)}, got {suite!r}")
