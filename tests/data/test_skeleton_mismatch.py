"""Skeleton mismatch: bones rescaled along the keypoint tree keep their directions and take the asked lengths."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.data.skeleton_mismatch import (
    MIN_JITTER_SCALE,
    BoneJitterConfig,
    SkeletonMismatchConfig,
    bone_jitter_scales,
    bone_lengths,
    rescale_bones,
    skeleton_scales,
)
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.keypoints import KEYPOINT_PARENTS


def _keypoints(frames: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return 0.03 * torch.randn(frames, 21, 3, generator=generator, dtype=torch.float64) + 0.5


def _bones(keypoints: torch.Tensor) -> torch.Tensor:
    return keypoints[..., 1:, :] - keypoints[..., list(KEYPOINT_PARENTS[1:]), :]


def test_rescaled_bones_keep_their_directions_and_take_the_asked_lengths() -> None:
    x = _keypoints()
    scales = skeleton_scales(6, SkeletonMismatchConfig(), torch.Generator().manual_seed(0))
    y = rescale_bones(x, scales)
    torch.testing.assert_close(bone_lengths(y), scales * bone_lengths(x))
    cosine = torch.nn.functional.cosine_similarity(_bones(y), _bones(x), dim=-1)
    torch.testing.assert_close(cosine, torch.ones_like(cosine))
    torch.testing.assert_close(y[:, 0], x[:, 0])  # the wrist stays put
    assert not torch.allclose(y, x)


def test_unit_scales_change_nothing_and_a_scaled_bone_moves_only_its_descendants() -> None:
    x = _keypoints()
    torch.testing.assert_close(rescale_bones(x, torch.ones(20, dtype=torch.float64)), x)
    scales = torch.ones(20, dtype=torch.float64)
    scales[4] = 2.0  # bone 4 ends at keypoint 5, the index MCP: the whole index finger moves
    y = rescale_bones(x, scales)
    moved = (y - x).norm(dim=-1).amax(0) > 1e-12
    assert moved.nonzero().flatten().tolist() == [5, 6, 7, 8]
    offset = x[:, 5] - x[:, 0]
    torch.testing.assert_close(y[:, 8] - x[:, 8], offset)  # the fingertip shifts with the knuckle


def test_sequence_scales_lie_in_the_configured_range_and_are_per_finger() -> None:
    config = SkeletonMismatchConfig(min_scale=0.85, max_scale=1.2, segment_spread=0.0)
    scales = skeleton_scales(500, config, torch.Generator().manual_seed(1))
    assert scales.shape == (500, 20)
    assert float(scales.min()) >= 0.85 and float(scales.max()) <= 1.2
    assert float(scales.min()) < 0.87 and float(scales.max()) > 1.18  # the range is used
    fingers = scales.reshape(500, 5, 4)
    torch.testing.assert_close(fingers, fingers[..., :1].expand_as(fingers))  # one factor per finger, no spread
    spread = skeleton_scales(500, SkeletonMismatchConfig(segment_spread=0.05), torch.Generator().manual_seed(1))
    assert float((spread.reshape(500, 5, 4).std(-1)).mean()) > 0.005  # segments differ within a finger


def test_bone_jitter_has_the_asked_spread_and_never_flips_a_bone() -> None:
    jitter = bone_jitter_scales(2000, 2, BoneJitterConfig(jitter_std=0.05), torch.Generator().manual_seed(2))
    assert jitter.shape == (2000, 2, 20)
    assert float(jitter.std()) == pytest.approx(0.05, rel=0.05)
    wild = bone_jitter_scales(2000, 2, BoneJitterConfig(jitter_std=0.5), torch.Generator().manual_seed(2))
    assert float(wild.min()) == MIN_JITTER_SCALE


def test_bad_shapes_and_ranges_are_refused_with_what_to_fix() -> None:
    with pytest.raises(DataError, match=r"\(\.\.\., 21, 3\)"):
        rescale_bones(torch.zeros(4, 20, 3), torch.ones(20))
    with pytest.raises(DataError, match="20"):
        rescale_bones(torch.zeros(4, 21, 3), torch.ones(21))
    with pytest.raises(ConfigError, match="swap them"):
        SkeletonMismatchConfig(min_scale=1.2, max_scale=0.9)
