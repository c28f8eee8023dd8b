"""Retargeting: a robot's own links give back its joints (both sides), limits hold on human hands, lost hands
hold their last command, the filter smooths a stream, and a URDF hand retargets without code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from toy_robot_hands import write_toy_robot

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.retargeting import RetargetConfig, Retargeter, StreamingRetargeter, load_robot_hand
from interhandgen_core.retargeting.kinematics import BatchedKinematics
from interhandgen_core.retargeting.robot_hand import RobotHand

EXACT = RetargetConfig(scale=1.0, cold_iterations=200, tolerance_rad=1e-10, rest_weight=0.0, damping=1e-7)


@pytest.fixture(scope="module")
def shadow() -> RobotHand:
    return load_robot_hand("shadow")


def _own_keypoints(hand: RobotHand, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The robot's links at random joints, moved rigidly, as (rows, 21, 3) keypoints -> (keypoints, joints, poses)."""
    rng = np.random.default_rng(seed)
    joints = hand.lower + (hand.upper - hand.lower) * rng.uniform(0.2, 0.8, size=(rows, hand.num_joints))
    points, _ = BatchedKinematics(hand).points_and_jacobian(joints)
    rotation = axis_angle_to_matrix(torch.from_numpy(rng.normal(size=(rows, 3)))).numpy()
    translation = rng.normal(scale=0.3, size=(rows, 3))
    keypoints = np.full((rows, 21, 3), np.nan)
    keypoints[:, hand.point_keypoints] = np.einsum("bij,bkj->bki", rotation, points) + translation[:, None]
    poses = np.tile(np.eye(4), (rows, 1, 1))
    poses[:, :3, :3], poses[:, :3, 3] = rotation, translation
    return keypoints, joints, poses


def test_own_links_give_back_the_joints(shadow: RobotHand) -> None:
    keypoints, joints, poses = _own_keypoints(shadow, 6, seed=0)
    retargeter = Retargeter(EXACT, shadow)
    right = retargeter.retarget_side(keypoints, "right")
    np.testing.assert_allclose(right.joint_positions, joints, atol=1e-5)
    np.testing.assert_allclose(right.wrist_pose, poses, atol=1e-9)
    assert np.nanmax(right.fingertip_error_m) < 1e-6
    # The left hand: the mirror image of the same hand gives the same joints and the mirrored wrist pose.
    mirrored = keypoints * np.array([-1.0, 1.0, 1.0])
    left = retargeter.retarget_side(mirrored, "left")
    np.testing.assert_allclose(left.joint_positions, joints, atol=1e-5)
    gamma = np.diag([-1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(left.wrist_pose, gamma @ poses @ gamma, atol=1e-9)
    np.testing.assert_allclose(left.link_positions, mirrored[:, shadow.point_keypoints], atol=1e-6)


def _human_keypoints(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    right_asset, left_asset = load_hand_pair("procedural")
    generator = torch.Generator().manual_seed(seed)

    def hands(asset: object) -> np.ndarray:
        params = HandParams(
            pose=0.2 * torch.randn(rows, 45, generator=generator),
            betas=torch.randn(rows, 10, generator=generator),
            rotation=axis_angle_to_matrix(torch.randn(rows, 3, generator=generator)),
            translation=0.2 * torch.randn(rows, 3, generator=generator),
        )
        with torch.no_grad():
            return HandLayer(asset)(params).keypoints.numpy().astype(np.float64)  # type: ignore[arg-type]

    return hands(left_asset), hands(right_asset)


def test_human_hands_within_limits_and_close(shadow: RobotHand) -> None:
    left, right = _human_keypoints(16, seed=0)
    result = Retargeter(RetargetConfig(), shadow).retarget(left, right)
    for side in (result.left, result.right):
        assert side.valid.all()
        assert (side.joint_positions >= shadow.lower).all() and (side.joint_positions <= shadow.upper).all()
        assert np.isfinite(side.wrist_pose).all()
        # Random finger poses reach past the robot's limits; the fingertips still end near their targets.
        assert np.median(side.fingertip_error_m) < 0.02
        assert side.joint_names == shadow.joint_names


def test_nan_and_masked_hands_hold_the_last_command(shadow: RobotHand) -> None:
    left, right = _human_keypoints(3, seed=1)
    stream = StreamingRetargeter(RetargetConfig(), shadow)
    first = stream.step(None, right[0])
    assert not first.left.valid[0] and first.right.valid[0]
    assert np.isnan(first.left.wrist_pose).all()  # never seen: no wrist pose to command
    np.testing.assert_array_equal(first.left.joint_positions[0], shadow.rest)
    second = stream.step(left[0], right[1])
    lost = right[2].copy()
    lost[8] = np.nan  # a mapped keypoint missing: the hand counts as lost
    third = stream.step(left[1], lost)
    assert not third.right.valid[0]
    np.testing.assert_array_equal(third.right.joint_positions, second.right.joint_positions)
    np.testing.assert_array_equal(third.right.wrist_pose, second.right.wrist_pose)
    fourth = stream.step(left[2], right[2], right_mask=False)
    np.testing.assert_array_equal(fourth.right.joint_positions, second.right.joint_positions)
    assert fourth.left.valid[0]


def test_filter_smooths_a_noisy_stream(shadow: RobotHand) -> None:
    _, right = _human_keypoints(1, seed=2)
    rng = np.random.default_rng(0)
    noisy = right[0] + rng.normal(scale=0.003, size=(30, 21, 3))
    accelerations = {}
    for cutoff in (0.0, 4.0):
        stream = StreamingRetargeter(RetargetConfig(filter_cutoff_hz=cutoff), shadow)
        joints = np.stack([stream.step(None, frame).right.joint_positions[0] for frame in noisy])
        accelerations[cutoff] = np.sqrt((np.diff(joints[5:], 2, axis=0) ** 2).mean())
    assert accelerations[4.0] < 0.5 * accelerations[0.0]


def test_stream_warm_start_matches_batch(shadow: RobotHand) -> None:
    keypoints, _, _ = _own_keypoints(shadow, 1, seed=4)
    stream = StreamingRetargeter(RetargetConfig(scale=1.0, filter_cutoff_hz=0.0, stay_weight=0.0), shadow)
    for _ in range(3):
        out = stream.step(None, keypoints[0])
    assert np.nanmax(out.right.fingertip_error_m) < 1e-4


def test_bad_keypoints_are_refused(shadow: RobotHand) -> None:
    with pytest.raises(DataError, match=r"keypoints must be \(B, 21, 3\)"):
        Retargeter(RetargetConfig(), shadow).retarget(np.zeros((2, 20, 3)), None)


def test_urdf_hand_retargets(tmp_path: Path) -> None:
    hand = load_robot_hand(write_toy_robot(tmp_path))
    keypoints, _, _ = _own_keypoints(hand, 4, seed=5)
    out = Retargeter(EXACT, hand).retarget_side(keypoints, "right")
    assert np.nanmax(out.fingertip_error_m) < 1e-5
    assert out.joint_positions.shape == (4, 9)
