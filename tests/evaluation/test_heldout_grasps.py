"""The physics figures of the held-out grasp evaluation: success of the top k by score and the score's ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.evaluation.heldout_grasps import physics_statistics, roc_auc
from interhandgen_core.physics.grasp_validation import GraspPhysicsResult


def result(success: list[bool]) -> GraspPhysicsResult:
    n = len(success)
    held = np.repeat(np.asarray(success)[:, None], 6, axis=1)
    held[:, 0] = True  # every grasp holds +x: per-direction rates differ from success
    zeros = np.zeros(n)
    return GraspPhysicsResult(
        held=held,
        displacement_m=np.zeros((n, 6)),
        rotation_deg=np.zeros((n, 6)),
        settle_displacement_m=zeros,
        settle_rotation_deg=zeros,
        initial_penetration_m=zeros,
        press_direction=np.zeros((n, 2, 3)),
        seconds=0.5,
    )


def test_roc_auc_is_the_fraction_of_correctly_ordered_pairs() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # ties on purpose
    positive = rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in scores[positive] for b in scores[~positive]]
    assert roc_auc(scores, positive) == pytest.approx(float(np.mean(pairs)))
    assert roc_auc(np.arange(4.0), np.array([False, False, True, True])) == 1.0
    assert np.isnan(roc_auc(np.arange(3.0), np.ones(3, dtype=bool)))


def test_top_k_and_auc_over_objects() -> None:
    # Object 0: the two best-scored hold; object 1: the best-scored fails, the worst holds.
    results = [result([True, True, False, False]), result([False, False, False, True])]
    scores = [torch.tensor([0.9, 0.8, 0.1, 0.2]), torch.tensor([0.9, 0.5, 0.4, 0.1])]
    stats = physics_statistics(results, scores, top_k=2, object_build_seconds=1.5)
    assert stats.grasps == 8 and stats.success_all == pytest.approx(3 / 8)
    assert stats.success_top_k == pytest.approx(2 / 4)
    assert stats.held_per_direction["+x"] == 1.0 and stats.held_per_direction["-x"] == pytest.approx(3 / 8)
    every = np.concatenate([s.numpy() for s in scores])
    held = np.array([True, True, False, False, False, False, False, True])
    assert stats.score_auc == pytest.approx(roc_auc(every, held))
    assert stats.grasps_per_second == pytest.approx(8.0) and "ROC AUC" in stats.summary()
