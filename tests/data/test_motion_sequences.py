"""Synthetic two-hand motion: shapes, reproducibility, smoothness, holds that keep the keyframes, plausibility."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import Tensor

from interhandgen_core.contact.interaction import measure_interaction
from interhandgen_core.data.motion_sequences import MotionConfig, keyframe_pool, synthesize_motion
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural")
    return HandLayer(right), HandLayer(left)


@pytest.fixture(scope="module")
def keys(layers: tuple[HandLayer, HandLayer]) -> tuple[HandParams, HandParams]:
    return keyframe_pool(*layers, num=6, seed=0)


def _motion(keys: tuple[HandParams, HandParams], config: MotionConfig, seed: int) -> tuple[HandParams, HandParams]:
    return synthesize_motion(*keys, config, torch.Generator().manual_seed(seed))


def _keypoints(layers: tuple[HandLayer, HandLayer], left: HandParams, right: HandParams) -> Tensor:
    """-> (F, 2, 21, 3) metres, world frame: left then right."""
    right_layer, left_layer = layers
    with torch.no_grad():
        lk = left_layer(left).keypoints
        rk = right_layer(right).keypoints
    return torch.stack([lk, rk], dim=1)


def _hold_frames(config: MotionConfig) -> tuple[Tensor, Tensor]:
    """-> (frame indices inside holds, their segment index), (M,) long each."""
    t = torch.arange(config.frames, dtype=torch.float64) / config.fps
    period = config.hold_s + config.transition_s
    segment = torch.floor(t / period).long()
    holding = t - segment * period < config.hold_s
    return holding.nonzero()[:, 0], segment[holding]


def test_shapes_and_world_placement(keys: tuple[HandParams, HandParams]) -> None:
    config = MotionConfig(frames=50)
    left, right = _motion(keys, config, seed=0)
    for hand in (left, right):
        assert hand.batch_size == 50
        assert torch.isfinite(hand.to_vector()).all()
    # The pair oscillates about 0.5 m in front of the camera-like origin, by at most travel_m per axis.
    offset = left.translation - torch.tensor([0.0, 0.0, 0.5])
    assert float(offset.abs().max()) <= config.travel_m + 1e-6
    # Rotations stay rotations.
    eye = torch.eye(3).expand(50, 3, 3)
    assert torch.allclose(right.rotation @ right.rotation.transpose(-1, -2), eye, atol=1e-5)


def test_same_seed_same_motion_other_seed_other_motion(keys: tuple[HandParams, HandParams]) -> None:
    config = MotionConfig(frames=90)
    a = _motion(keys, config, seed=4)
    b = _motion(keys, config, seed=4)
    c = _motion(keys, config, seed=5)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.to_vector(), y.to_vector())
    assert not torch.allclose(a[1].to_vector(), c[1].to_vector())


def test_motion_is_continuous_and_of_human_speed(
    layers: tuple[HandLayer, HandLayer], keys: tuple[HandParams, HandParams]
) -> None:
    config = MotionConfig()
    slow = _keypoints(layers, *_motion(keys, config, seed=1))
    fast = _keypoints(layers, *_motion(keys, dataclasses.replace(config, frames=480, fps=60.0), seed=1))
    # One continuous-time motion: sampled twice as often, every other frame is the same pose...
    assert torch.allclose(fast[::2], slow, atol=1e-5)
    # ...and the largest frame-to-frame step halves, which a jump anywhere would prevent.
    step_slow = (slow[1:] - slow[:-1]).norm(dim=-1)
    step_fast = (fast[1:] - fast[:-1]).norm(dim=-1)
    assert float(step_fast.max()) < 0.6 * float(step_slow.max())
    # Hands, not teleports: at 30 fps the wrists move under 5 cm and any keypoint under 6 cm per
    # frame (1.5 and 1.8 m/s; the fastest moves carry the right hand round the left one).
    assert float(step_slow[:, :, 0].max()) < 0.05
    assert float(step_slow.max()) < 0.06
    # Most of the time, far slower.
    assert float(step_slow.median()) < 0.01


def test_holds_keep_the_keyframe_interaction(keys: tuple[HandParams, HandParams]) -> None:
    left_keys, right_keys = keys
    relative_keys = right_keys.in_frame_of(left_keys)
    config = MotionConfig(frames=200, finger_wiggle_rad=0.0)
    left, right = _motion(keys, config, seed=2)
    relative = right.in_frame_of(left)
    frames, segment = _hold_frames(config)
    # Which keyframe each hold shows is the generator's choice: the nearest one in the pool.
    error = (relative.translation[frames, None] - relative_keys.translation[None]).norm(dim=-1)
    key = error.argmin(dim=1)
    assert float(error.min(dim=1).values.max()) < 1e-5
    assert torch.allclose(relative.rotation[frames], relative_keys.rotation[key], atol=1e-5)
    assert torch.allclose(right.pose[frames], right_keys.pose[key], atol=1e-4)
    assert torch.allclose(left.pose[frames], left_keys.pose[key], atol=1e-4)
    # One keyframe per hold, and the next hold shows another.
    for index in segment.unique():  # a handful of holds
        assert key[segment == index].unique().numel() == 1
    firsts = torch.stack([key[segment == index][0] for index in segment.unique()])
    assert bool((firsts[1:] != firsts[:-1]).all())


def test_wiggle_moves_fingers_by_at_most_its_amplitude(keys: tuple[HandParams, HandParams]) -> None:
    config = MotionConfig(frames=200)
    still = _motion(keys, dataclasses.replace(config, finger_wiggle_rad=0.0), seed=2)
    moving = _motion(keys, config, seed=2)
    frames, _ = _hold_frames(config)
    for a, b in zip(still, moving, strict=True):
        joint_change = (b.pose[frames] - a.pose[frames]).reshape(-1, 15, 3).norm(dim=-1)
        assert float(joint_change.max()) <= config.finger_wiggle_rad + 1e-5
        assert float(joint_change.max()) > 0.5 * config.finger_wiggle_rad
    # The wiggle leaves the roots alone.
    assert torch.allclose(still[1].translation, moving[1].translation)


def test_each_hand_keeps_one_shape(keys: tuple[HandParams, HandParams]) -> None:
    left_keys, right_keys = keys
    mixed = (
        HandParams(left_keys.pose, torch.randn(6, 10), left_keys.rotation, left_keys.translation),
        HandParams(right_keys.pose, torch.randn(6, 10), right_keys.rotation, right_keys.translation),
    )
    left, right = _motion(mixed, MotionConfig(frames=150), seed=3)
    for hand, pool in ((left, mixed[0]), (right, mixed[1])):
        assert torch.equal(hand.betas, hand.betas[:1].expand_as(hand.betas))
        assert bool((pool.betas == hand.betas[0]).all(dim=1).any())


def test_hands_stay_out_of_each_other(layers: tuple[HandLayer, HandLayer], keys: tuple[HandParams, HandParams]) -> None:
    right_layer, left_layer = layers
    left, right = _motion(keys, MotionConfig(frames=120), seed=0)
    with torch.no_grad():
        lv = left_layer(left).vertices
        rv = right_layer(right).vertices
    depth, gap = measure_interaction(lv, left_layer.faces, rv, right_layer.faces)
    assert float(depth.mean()) < 1e-3
    # The hands interact, rather than keep away from each other.
    assert float(gap.median()) < 0.01


def test_left_hand_need_not_be_canonical(keys: tuple[HandParams, HandParams]) -> None:
    """A pool in any frame gives the motion of the same pool made canonical."""
    left_keys, right_keys = keys
    rotation = torch.linalg.matrix_exp(torch.tensor([[0.0, -0.3, 0.2], [0.3, 0.0, -0.1], [-0.2, 0.1, 0.0]]))
    shift = torch.tensor([0.1, -0.2, 0.3])
    moved = (left_keys.transformed(rotation[None], shift[None]), right_keys.transformed(rotation[None], shift[None]))
    a = _motion(keys, MotionConfig(frames=60), seed=6)
    b = _motion(moved, MotionConfig(frames=60), seed=6)
    assert torch.allclose(a[1].translation, b[1].translation, atol=1e-5)
    assert torch.allclose(a[1].rotation, b[1].rotation, atol=1e-5)


def test_config_and_keyframes_are_validated(keys: tuple[HandParams, HandParams]) -> None:
    bad: tuple[tuple[str, Any], ...] = (
        ("frames", 1),
        ("frames", 2.5),
        ("fps", 0.0),
        ("hold_s", -1.0),
        ("transition_s", 0.0),
        ("separation_m", -0.01),
        ("travel_m", float("nan")),
        ("turn_deg", 200.0),
        ("finger_wiggle_rad", -0.1),
    )
    for field, value in bad:
        with pytest.raises(ConfigError, match=f"MotionConfig.{field}"):
            MotionConfig(**{field: value})
    left_keys, right_keys = keys
    with pytest.raises(DataError, match="as many left as right"):
        synthesize_motion(left_keys, right_keys.select(slice(0, 3)), MotionConfig(), torch.Generator())
    broken = HandParams(left_keys.pose.clone(), left_keys.betas, left_keys.rotation, left_keys.translation)
    broken.pose[0, 0] = torch.nan
    with pytest.raises(DataError, match="NaN"):
        synthesize_motion(broken, right_keys, MotionConfig(), torch.Generator())
