"""The benchmark's suites: the default one as before, the wide one's recipes, truths and reproducibility."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.skeleton_mismatch import bone_lengths
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_sequences import make_tracking_sequences
from interhandgen_core.data.tracking_suites import WIDE_SUITE, make_suite_sequences
from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair

MOTION = MotionConfig(frames=12)


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural")
    return HandLayer(right), HandLayer(left)


def test_wide_suite_has_eight_recipes_mostly_mismatched_one_at_top_speed() -> None:
    assert len(WIDE_SUITE) >= 8
    assert sum(r.skeleton is None for r in WIDE_SUITE) >= 1  # the model's own skeleton too
    assert sum(r.skeleton is not None for r in WIDE_SUITE) > len(WIDE_SUITE) / 2
    assert max(r.world.max_speed_m_s for r in WIDE_SUITE if r.world is not None) == 1.5
    assert len({r.name for r in WIDE_SUITE}) == len(WIDE_SUITE)  # the per-sequence table tells them apart


def test_wide_sequences_truth_is_the_users_skeleton_and_sequences_do_not_depend_on_the_count(
    layers: tuple[HandLayer, HandLayer],
) -> None:
    right, left = layers
    noise = TrackerNoiseConfig()
    two = make_suite_sequences("wide", right, left, 2, MOTION, noise, seed=3, keyframes=4)
    one = make_suite_sequences("wide", right, left, 1, MOTION, noise, seed=3, keyframes=4)
    torch.testing.assert_close(one[0].observed.left_keypoints, two[0].observed.left_keypoints, equal_nan=True)
    mismatch = two[0]  # WIDE_SUITE[0] rescales the skeleton
    assert mismatch.name == WIDE_SUITE[0].name and mismatch.fps == MOTION.fps
    with torch.no_grad():
        model = left(mismatch.left).keypoints
    ratio = bone_lengths(mismatch.left_keypoints) / bone_lengths(model)
    assert float((ratio - 1).abs().max()) > 0.03  # not the model's bones...
    torch.testing.assert_close(ratio, ratio[:1].expand_as(ratio), atol=1e-4, rtol=1e-4)  # ...one skeleton throughout
    own = two[1]  # WIDE_SUITE[1] keeps the model's skeleton; its truth is the model's keypoints, carried
    with torch.no_grad():
        torch.testing.assert_close(right(own.right).keypoints, own.right_keypoints, atol=1e-5, rtol=1e-5)


def test_default_suite_is_make_tracking_sequences_and_unknown_suites_are_refused(
    layers: tuple[HandLayer, HandLayer],
) -> None:
    right, left = layers
    noise = TrackerNoiseConfig()
    ours = make_suite_sequences("default", right, left, 1, MOTION, noise, seed=0, keyframes=4)
    before = make_tracking_sequences(right, left, 1, MOTION, noise, 0, 4)
    torch.testing.assert_close(ours[0].observed.left_keypoints, before[0].observed.left_keypoints, equal_nan=True)
    with pytest.raises(ConfigError, match="default, wide"):
        make_suite_sequences("narrow", right, left, 1, MOTION, noise)
