"""The numpy batched kinematics (fast path) against MuJoCo's own (reference), and its Jacobian against differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from toy_robot_hands import write_toy_robot

from interhandgen_core.retargeting.kinematics import BatchedKinematics, MujocoKinematics, kinematics_for
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand


def _random_joints(hand: RobotHand, rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lower, upper = np.maximum(hand.lower, -2.0), np.minimum(hand.upper, 2.0)
    return lower + (upper - lower) * rng.uniform(size=(rows, hand.num_joints))


@pytest.mark.parametrize("robot", ["shadow", "toy"])
def test_batched_matches_mujoco(robot: str, tmp_path: Path) -> None:
    hand = load_robot_hand("shadow" if robot == "shadow" else write_toy_robot(tmp_path))
    joints = _random_joints(hand, 6, seed=1)
    points, jacobian = BatchedKinematics(hand).points_and_jacobian(joints)
    ref_points, ref_jacobian = MujocoKinematics(hand).points_and_jacobian(joints)
    np.testing.assert_allclose(points, ref_points, atol=1e-12)
    np.testing.assert_allclose(jacobian, ref_jacobian, atol=1e-12)


def test_jacobian_is_the_derivative() -> None:
    hand = load_robot_hand("shadow")
    joints = _random_joints(hand, 1, seed=2)
    kinematics = BatchedKinematics(hand)
    _, jacobian = kinematics.points_and_jacobian(joints)
    step = 1e-6
    for column in (0, 12, 17, 21):
        plus, minus = joints.copy(), joints.copy()
        plus[0, column] += step
        minus[0, column] -= step
        difference = (kinematics.points_and_jacobian(plus)[0] - kinematics.points_and_jacobian(minus)[0]) / (2 * step)
        np.testing.assert_allclose(jacobian[..., column], difference, atol=1e-7)


def test_picks_by_batch() -> None:
    hand = load_robot_hand("shadow")
    assert isinstance(kinematics_for(hand, 1), MujocoKinematics)
    assert isinstance(kinematics_for(hand, 6), MujocoKinematics)
    assert isinstance(kinematics_for(hand, 32), BatchedKinematics)
