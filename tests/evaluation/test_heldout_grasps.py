"""The figures of the held-out grasp evaluation: success of the top k by score, the score's ROC AUC, and how far
a one-sided cloud's inferred points lie from the exact surface."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.evaluation.heldout_grasps import inferred_point_accuracy, physics_statistics, roc_auc
from interhandgen_core.physics.grasp_validation import GraspPhysicsResult
from interhandgen_core.pipelines.sensor_cloud import PreparedCloud


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


def test_inferred_points_are_measured_against_the_exact_surface_with_their_side() -> None:
    """A sphere's cloud whose last points were inferred: half 2 mm outside, half 4 mm inside -> mean |distance|
    3 mm, mean signed distance -1 mm (inside); a cloud with nothing inferred gives nothing."""
    objects = generate_objects(1, seed=0, families=("sphere",))
    radius, centre = float(objects.size[0, 0, 0]), objects.centre[0, 0].double().numpy()
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(200, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    seen = centre + radius * directions[:100]
    inferred = centre + np.concatenate([(radius + 0.002) * directions[100:150], (radius - 0.004) * directions[150:]])
    centroid = seen.mean(axis=0)
    points = np.concatenate([seen, inferred]) - centroid  # the object frame: origin at the centroid
    cloud = PreparedCloud(
        points.astype(np.float32), directions.astype(np.float32), centroid, 200, 200, 200, 200, 200, num_completed=100
    )
    row = inferred_point_accuracy(cloud, objects, 0)
    assert row["inferred_points"] == 100
    assert row["inferred_mean_distance_mm"] == pytest.approx(3.0, abs=0.01)
    assert row["inferred_mean_signed_distance_mm"] == pytest.approx(-1.0, abs=0.01)
    assert inferred_point_accuracy(dataclasses.replace(cloud, num_completed=0), objects, 0) == {}
