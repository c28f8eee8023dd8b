"""A keypoint tracker's errors: each kind of error at its configured rate and size, reproducibly."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import Tensor

from interhandgen_core.data.tracker_noise import TrackedKeypoints, TrackerNoiseConfig, corrupt_keypoints
from interhandgen_core.errors import ConfigError, DataError

QUIET = TrackerNoiseConfig(
    jitter_std_m=0.0,
    outlier_probability=0.0,
    dropout_probability=0.0,
    low_confidence_probability=0.0,
    swap_probability=0.0,
)


def _truth(frames: int) -> tuple[Tensor, Tensor]:
    """Two different hands' keypoints, (frames, 21, 3) metres."""
    generator = torch.Generator().manual_seed(100)
    left = 0.05 * torch.randn(frames, 21, 3, generator=generator)
    right = 0.05 * torch.randn(frames, 21, 3, generator=generator) + torch.tensor([0.2, 0.0, 0.5])
    return left, right


def _corrupt(config: TrackerNoiseConfig, frames: int = 2000, seed: int = 0) -> tuple[Tensor, Tensor, TrackedKeypoints]:
    left, right = _truth(frames)
    return left, right, corrupt_keypoints(left, right, config, torch.Generator().manual_seed(seed))


def _runs(mask: Tensor) -> Tensor:
    """(N,) bool -> lengths of its runs of True, (R,) long."""
    edges = torch.diff(torch.cat([torch.zeros(1), mask.float(), torch.zeros(1)]))
    return (edges == -1).nonzero()[:, 0] - (edges == 1).nonzero()[:, 0]


def test_no_noise_is_the_identity() -> None:
    left, right, tracked = _corrupt(QUIET)
    assert torch.equal(tracked.left_keypoints, left)
    assert torch.equal(tracked.right_keypoints, right)
    assert torch.equal(tracked.left_confidence, torch.ones(2000))
    assert torch.equal(tracked.right_confidence, torch.ones(2000))
    assert not bool(tracked.swapped.any())


def test_jitter_has_the_configured_spread() -> None:
    config = replace(QUIET, jitter_std_m=0.01)
    left, right, tracked = _corrupt(config)
    error = torch.cat([tracked.left_keypoints - left, tracked.right_keypoints - right])
    assert float(error.mean().abs()) < 5e-4
    assert float(error.std()) == pytest.approx(0.01, rel=0.03)
    # Independent per axis.
    flat = error.reshape(-1, 3)
    assert float(torch.corrcoef(flat.T)[0, 1].abs()) < 0.05


def test_outliers_at_the_configured_rate_and_size() -> None:
    config = replace(QUIET, outlier_probability=0.02, outlier_std_m=0.05)
    left, right, tracked = _corrupt(config)
    error = torch.stack([tracked.left_keypoints - left, tracked.right_keypoints - right])
    moved = error.norm(dim=-1) > 0
    assert float(moved.float().mean()) == pytest.approx(0.02, abs=0.003)
    assert float(error[moved].std()) == pytest.approx(0.05, rel=0.1)


def test_dropouts_are_nan_runs_of_the_configured_mean_length() -> None:
    config = replace(QUIET, dropout_probability=0.01, dropout_mean_frames=10.0)
    _, _, tracked = _corrupt(config, frames=20000)
    lengths = []
    for keypoints, confidence in (
        (tracked.left_keypoints, tracked.left_confidence),
        (tracked.right_keypoints, tracked.right_confidence),
    ):
        lost = keypoints.isnan().any(dim=-1).any(dim=-1)
        # A lost hand is lost whole, and says so.
        assert torch.equal(keypoints.isnan().all(dim=-1).all(dim=-1), lost)
        assert torch.equal(confidence == 0, lost)
        lengths.append(_runs(lost))
    runs = torch.cat(lengths).float()
    # About p N runs per hand (minus starts inside a run); overlapping runs merge, so a little longer than 10.
    assert 250 < runs.numel() < 450
    assert 8.5 < float(runs.mean()) < 12.5


def test_low_confidence_frames_report_it_and_are_noisier() -> None:
    config = replace(QUIET, jitter_std_m=0.01, low_confidence_probability=0.2, low_confidence=0.3)
    left, _, tracked = _corrupt(config)
    low = tracked.left_confidence == 0.3
    assert torch.equal(low | (tracked.left_confidence == 1.0), torch.ones(2000, dtype=torch.bool))
    assert float(low.float().mean()) == pytest.approx(0.2, abs=0.03)
    error = tracked.left_keypoints - left
    assert float(error[low].std()) == pytest.approx(0.03, rel=0.05)
    assert float(error[~low].std()) == pytest.approx(0.01, rel=0.05)


def test_swaps_trade_the_hands_records() -> None:
    always = replace(QUIET, swap_probability=1.0)
    left, right, tracked = _corrupt(always)
    assert bool(tracked.swapped.all())
    assert torch.equal(tracked.left_keypoints, right)
    assert torch.equal(tracked.right_keypoints, left)

    # Confidence travels with the keypoints: a lost hand stays lost under its new label.
    sometimes = replace(QUIET, swap_probability=0.5, dropout_probability=0.05, dropout_mean_frames=5.0)
    left, right, tracked = _corrupt(sometimes)
    swapped = tracked.swapped
    assert float(swapped.float().mean()) == pytest.approx(0.5, abs=0.05)
    kept = ~tracked.left_keypoints.isnan().any(dim=-1).any(dim=-1)
    assert torch.equal(tracked.left_keypoints[swapped & kept], right[swapped & kept])
    assert torch.equal(tracked.left_keypoints[~swapped & kept], left[~swapped & kept])
    assert torch.equal(tracked.left_confidence == 0, ~kept)


def test_same_seed_same_errors_other_seed_other_errors() -> None:
    config = TrackerNoiseConfig(swap_probability=0.1)
    _, _, a = _corrupt(config, frames=300, seed=7)
    _, _, b = _corrupt(config, frames=300, seed=7)
    _, _, c = _corrupt(config, frames=300, seed=8)
    for name in ("left_keypoints", "right_keypoints", "left_confidence", "right_confidence", "swapped"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0, equal_nan=True)
    assert not torch.allclose(a.left_keypoints.nan_to_num(), c.left_keypoints.nan_to_num())


def test_one_kind_of_error_does_not_reshuffle_another() -> None:
    """The jitter a seed gives stays the same when other errors are switched on."""
    jitter_only = replace(QUIET, jitter_std_m=0.01)
    with_outliers = replace(QUIET, jitter_std_m=0.01, outlier_probability=0.1)
    _, _, a = _corrupt(jitter_only, frames=200)
    _, _, b = _corrupt(with_outliers, frames=200)
    same = (a.left_keypoints == b.left_keypoints).all(dim=-1)
    assert float(same.float().mean()) == pytest.approx(0.9, abs=0.03)


def test_config_and_inputs_are_validated() -> None:
    bad: tuple[tuple[str, Any], ...] = (
        ("jitter_std_m", -0.01),
        ("outlier_probability", 1.5),
        ("outlier_std_m", float("inf")),
        ("dropout_probability", -0.1),
        ("dropout_mean_frames", 0.5),
        ("low_confidence_probability", 2.0),
        ("low_confidence", 1.2),
        ("low_confidence_noise_factor", -1.0),
        ("swap_probability", "often"),
    )
    for field, value in bad:
        with pytest.raises(ConfigError, match=f"TrackerNoiseConfig.{field}"):
            TrackerNoiseConfig(**{field: value})
    left, right = _truth(10)
    with pytest.raises(DataError, match=r"\(N, 21, 3\)"):
        corrupt_keypoints(left[:, :20], right[:, :20], QUIET, torch.Generator())
    with pytest.raises(DataError, match="shape of left_keypoints"):
        corrupt_keypoints(left, right[:5], QUIET, torch.Generator())
