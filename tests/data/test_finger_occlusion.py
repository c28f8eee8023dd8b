"""Finger occlusion: runs of frames with single fingers' distal keypoints NaN, the rest of the hand seen."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.data.finger_occlusion import FingerOcclusionConfig, finger_occlusion_mask, occlude_fingers
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig, corrupt_keypoints


def test_occlusions_hide_single_fingers_from_the_tip_in_runs_at_the_asked_rate() -> None:
    config = FingerOcclusionConfig(probability=0.02, mean_frames=6.0, keypoints=3)
    mask = finger_occlusion_mask(4000, config, torch.Generator().manual_seed(0))
    assert mask.shape == (4000, 2, 21)
    assert not bool(mask[..., 0].any())  # the wrist is never a finger's
    fingers = mask[..., 1:].reshape(4000, 2, 5, 4)
    assert not bool(fingers[..., 0].any())  # the knuckle stays: 3 keypoints from the tip
    torch.testing.assert_close(fingers[..., 1:].float(), fingers[..., 1:2].expand(-1, -1, -1, 3).float())
    hidden = fingers[..., 3].float()
    # Fraction of frames hidden: p m / (1 + p (m - 1)) for geometric runs that merge, about 0.107.
    assert float(hidden.mean()) == pytest.approx(0.02 * 6 / (1 + 0.02 * 5), rel=0.15)
    starts = (hidden[1:] > hidden[:-1]).sum()
    assert float(hidden.sum() / starts) > 3.0  # runs, not single frames


def test_occluding_keeps_the_rest_of_the_report_and_the_input() -> None:
    generator = torch.Generator().manual_seed(1)
    truth = torch.randn(50, 21, 3, generator=generator)
    tracked = corrupt_keypoints(truth, truth + 1.0, TrackerNoiseConfig(), generator)
    before = tracked.left_keypoints.clone()
    occluded = occlude_fingers(tracked, FingerOcclusionConfig(probability=0.2), torch.Generator().manual_seed(2))
    torch.testing.assert_close(tracked.left_keypoints, before, equal_nan=True)  # the input is kept
    newly = torch.isnan(occluded.left_keypoints) & ~torch.isnan(before)
    assert bool(newly.any())
    kept = ~torch.isnan(occluded.left_keypoints)
    torch.testing.assert_close(occluded.left_keypoints[kept], before[kept])
    assert occluded.left_confidence is tracked.left_confidence
