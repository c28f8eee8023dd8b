"""Metrics against cases with known answers, and the fast paths against slow references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import trimesh

from interhandgen_core.errors import DataError
from interhandgen_core.evaluation.metrics import (
    diversity,
    fhid,
    interaction_measures,
    khid,
    penetration_volume,
    precision_recall,
    proximity_ratio,
)


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_fhid_of_a_set_with_itself_is_zero() -> None:
    x = _gaussian(500, 8, 0)
    assert fhid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fhid_of_a_shifted_copy_is_the_squared_shift() -> None:
    # Same covariance exactly, so the Frechet distance is |delta|^2 exactly.
    x = _gaussian(400, 6, 1)
    delta = np.array([0.5, -1.0, 0.0, 2.0, 0.1, 0.0])
    assert fhid(x, x + delta) == pytest.approx(float(delta @ delta), rel=1e-9)


def test_fhid_of_a_scaled_copy_matches_the_closed_form() -> None:
    # S_f = 4 S_r: tr(S + 4S - 2 (4 S^2)^1/2) = tr(S).
    x = _gaussian(400, 5, 2)
    x = x - x.mean(0)
    assert fhid(x, 2 * x) == pytest.approx(float(np.trace(np.cov(x.T))), rel=1e-9)


def test_fhid_of_gaussians_approaches_the_population_value() -> None:
    # N(0, I) against N(mu, 4 I) in d dimensions: |mu|^2 + d (1 + 4 - 2 * 2) = |mu|^2 + d.
    d = 4
    real = _gaussian(20000, d, 3)
    fake = 2 * _gaussian(20000, d, 4) + 1.0
    assert fhid(real, fake) == pytest.approx(d * 1.0 + d, rel=0.03)


def _mmd_reference(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Unbiased MMD^2 with pair loops: the estimator's definition."""
    d = x.shape[1]
    m = len(x)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((a @ b / d + 1) ** degree)

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("degree", [1, 3])
def test_khid_with_one_full_subset_matches_the_pairwise_definition(degree: int) -> None:
    x, y = _gaussian(12, 3, 5), _gaussian(12, 3, 6, shift=0.7)
    assert khid(x, y, n_subsets=3, subset_size=12, degree=degree) == pytest.approx(
        _mmd_reference(x, y, degree), rel=1e-9
    )


def test_khid_degree_one_estimates_the_squared_mean_shift_over_d() -> None:
    d = 8
    delta = np.full(d, 0.5)
    value = khid(_gaussian(4000, d, 7), _gaussian(4000, d, 8) + delta, n_subsets=20, subset_size=1000)
    assert value == pytest.approx(float(delta @ delta) / d, rel=0.1)
    assert abs(khid(_gaussian(4000, d, 9), _gaussian(4000, d, 10), n_subsets=20)) < 0.01


def test_diversity_of_two_points_is_their_distance() -> None:
    a, b = np.zeros(3), np.array([3.0, 4.0, 0.0])
    assert diversity(np.stack([a, b]), num_pairs=50) == pytest.approx(5.0)


def test_diversity_of_a_gaussian_grows_with_its_spread() -> None:
    # E|x - y| for x, y ~ N(0, s^2 I_d) is s * 2 Gamma((d+1)/2) / Gamma(d/2).
    d = 16
    expected = 2 * math.gamma((d + 1) / 2) / math.gamma(d / 2)
    assert diversity(_gaussian(5000, d, 11), num_pairs=4000) == pytest.approx(expected, rel=0.03)
    assert diversity(3 * _gaussian(5000, d, 11), num_pairs=4000) == pytest.approx(3 * expected, rel=0.03)


def test_precision_and_recall_of_identical_and_disjoint_sets() -> None:
    x = _gaussian(300, 4, 12)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_a_collapsed_fake_set_has_precision_but_no_recall() -> None:
    real = _gaussian(1000, 2, 13)
    fake = 0.01 * _gaussian(1000, 2, 14)  # all near the mode of the real set
    precision, recall = precision_recall(real, fake, k=5)
    assert precision > 0.95
    assert recall < 0.2


@pytest.mark.parametrize(
    ("metric", "args"),
    [(fhid, ()), (khid, ()), (precision_recall, ())],
)
def test_bad_features_are_refused_with_the_problem_named(metric: object, args: tuple[object, ...]) -> None:
    good = _gaussian(50, 3, 15)
    bad = good.copy()
    bad[7, 1] = np.nan
    with pytest.raises(DataError, match="NaN or infinite values in 1 of 50 samples"):
        metric(good, bad, *args)  # type: ignore[operator]
    with pytest.raises(DataError, match="differ in size: 3 and 4"):
        metric(good, _gaussian(50, 4, 16), *args)  # type: ignore[operator]
    with pytest.raises(DataError, match=r"must be an \(N, D\) array"):
        metric(good, good[:, 0], *args)  # type: ignore[operator]


def test_fhid_refuses_too_few_samples_for_a_covariance() -> None:
    with pytest.raises(DataError, match="FHID needs more than 8 samples per set"):
        fhid(_gaussian(100, 8, 17), _gaussian(8, 8, 18))


def test_diversity_needs_two_samples() -> None:
    with pytest.raises(DataError, match="at least 2"):
        diversity(np.zeros((1, 3)))


def _mesh(
    shape: trimesh.Trimesh, offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> tuple[torch.Tensor, torch.Tensor]:
    vertices = torch.as_tensor(np.asarray(shape.vertices) + np.asarray(offset), dtype=torch.float32)
    return vertices[None], torch.as_tensor(np.asarray(shape.faces), dtype=torch.long)


def test_penetration_volume_of_two_overlapping_boxes() -> None:
    # Two 20 mm cubes, the second shifted by (10.3, 5.1, 4.2) mm: overlap 9.7 x 14.9 x 15.8 mm.
    box = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    a_v, a_f = _mesh(box)
    b_v, b_f = _mesh(box, (0.0103, 0.0051, 0.0042))
    volume_mm3 = float(penetration_volume(a_v, a_f, b_v, b_f)[0]) * 1e9
    assert volume_mm3 == pytest.approx(9.7 * 14.9 * 15.8, rel=0.06)


def test_penetration_volume_of_separate_and_nested_shapes() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.01)
    a_v, a_f = _mesh(sphere)
    far_v, _ = _mesh(sphere, (0.05, 0.0, 0.0))
    small = trimesh.creation.icosphere(subdivisions=4, radius=0.005)
    in_v, in_f = _mesh(small, (0.001, 0.0, 0.0))
    assert float(penetration_volume(a_v, a_f, far_v, a_f)[0]) == 0.0
    # A small ball inside a big one: the overlap is the small ball.
    expected = 4 / 3 * math.pi * 0.005**3
    assert float(penetration_volume(a_v, a_f, in_v, in_f)[0]) == pytest.approx(expected, rel=0.06)


def test_penetration_volume_is_batched_per_sample() -> None:
    box = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    a_v, a_f = _mesh(box)
    shifts = [(0.0103, 0.0051, 0.0042), (0.05, 0.0, 0.0), (0.0151, 0.0, 0.0003)]
    b_v = torch.cat([_mesh(box, s)[0] for s in shifts])
    batched = penetration_volume(a_v.expand(3, -1, -1), a_f, b_v, a_f)
    one_by_one = torch.cat([penetration_volume(a_v, a_f, b_v[i : i + 1], a_f) for i in range(3)])
    torch.testing.assert_close(batched, one_by_one)
    assert batched[1] == 0 and batched[2] > 0


def test_interaction_measures_refuse_nan_vertices() -> None:
    box = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    v, f = _mesh(box)
    bad = v.clone()
    bad[0, 0, 0] = torch.nan
    with pytest.raises(DataError, match="right hand vertices hold NaN"):
        interaction_measures(v, f, bad, f)


def test_proximity_ratio_counts_near_or_penetrating_samples() -> None:
    depth = torch.tensor([0.0, 0.0, 0.002, 0.0])
    gap = torch.tensor([0.001, 0.05, 0.0, 0.019])
    assert proximity_ratio(depth, gap) == pytest.approx(0.75)
