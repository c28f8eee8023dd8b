"""The held-out grasp evaluation with robot hands: it needs the human hands' physics; robot results count as
human ones do in the physics figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.errors import ConfigError
from interhandgen_core.evaluation.heldout_grasps import evaluate_heldout_grasps, physics_statistics
from interhandgen_core.retargeting.robot_grasp_physics import RobotGraspPhysicsConfig, RobotGraspPhysicsResult


class _ObjectPrior:  # an object-conditioned prior is all the check before sampling looks at
    class prior:
        object_encoder = object()


def robot_result(success: list[bool]) -> RobotGraspPhysicsResult:
    n = len(success)
    held = np.repeat(np.asarray(success)[:, None], 6, axis=1)
    zeros = np.zeros(n)
    return RobotGraspPhysicsResult(
        held=held,
        displacement_m=np.zeros((n, 6)),
        rotation_deg=np.zeros((n, 6)),
        settle_displacement_m=zeros,
        settle_rotation_deg=zeros,
        initial_penetration_m=zeros,
        back_off_m=np.zeros((n, 2)),
        started=np.ones(n, bool),
        joints=np.zeros((n, 2, 22)),
        seconds=2.0,
    )


def test_robot_physics_needs_physics() -> None:
    with pytest.raises(ConfigError, match="needs the physics validation"):
        evaluate_heldout_grasps(_ObjectPrior(), robot=RobotGraspPhysicsConfig())  # type: ignore[arg-type]


def test_robot_results_give_the_same_figures_as_human_ones() -> None:
    results = [robot_result([True, False, False, False]), robot_result([False, False, False, True])]
    scores = [torch.tensor([0.9, 0.8, 0.1, 0.2]), torch.tensor([0.9, 0.5, 0.4, 0.1])]
    stats = physics_statistics(results, scores, top_k=2, object_build_seconds=0.0)
    assert stats.success_all == pytest.approx(2 / 8) and stats.success_top_k == pytest.approx(1 / 4)
    assert stats.grasps_per_second == pytest.approx(2.0)
