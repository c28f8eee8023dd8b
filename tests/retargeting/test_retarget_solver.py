"""The batched least-squares solve: the same as row by row, within the limits, down to the targets where reachable."""

from __future__ import annotations

import numpy as np

from interhandgen_core.retargeting.kinematics import BatchedKinematics, MujocoKinematics
from interhandgen_core.retargeting.robot_hand import load_robot_hand
from interhandgen_core.retargeting.solver import ResidualWeights, solve_joints


def test_batch_equals_rows_and_respects_limits() -> None:
    hand = load_robot_hand("shadow")
    rng = np.random.default_rng(3)
    rows = 5
    # Targets partly out of reach (the rest pose's links moved about by 3 cm): the solve ends on limits.
    targets = hand.rest_points[None] + rng.normal(scale=0.03, size=(rows, len(hand.point_names), 3))
    rest = np.broadcast_to(hand.rest, (rows, hand.num_joints))
    weights = ResidualWeights(np.ones(len(hand.point_names)), 0.5, 1e-7, 1e-5)
    args = (hand.lower, hand.upper, hand.tip_points, hand.base_points, weights, 30)
    batch, _ = solve_joints(BatchedKinematics(hand), targets, rest, rest, *args)
    assert (batch >= hand.lower).all() and (batch <= hand.upper).all()
    assert (np.isclose(batch, hand.lower) | np.isclose(batch, hand.upper)).any()
    for row in range(rows):  # the reference: one row at a time on MuJoCo's kinematics
        one, _ = solve_joints(MujocoKinematics(hand), targets[row : row + 1], rest[:1], rest[:1], *args)
        np.testing.assert_allclose(batch[row], one[0], atol=1e-6)
