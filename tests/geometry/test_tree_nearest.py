"""The k-d tree searches (geometry/tree_nearest.py) against the all-pairs reference (geometry/nearest.py)."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.geometry.nearest import k_nearest_indices, nearest_neighbors_torch
from interhandgen_core.geometry.tree_nearest import CloudTree, nearest_indices, nearest_indices_both_ways


def _gathered_distance(queries: torch.Tensor, points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    nearest = torch.gather(points, 1, index[..., None].expand(-1, -1, 3))
    return (queries - nearest).norm(dim=-1)


def test_nearest_indices_find_the_reference_nearest_points() -> None:
    g = torch.Generator().manual_seed(3)
    queries, points = torch.randn(4, 300, 3, generator=g) * 0.05, torch.randn(4, 200, 3, generator=g) * 0.05
    reference_distance, _ = nearest_neighbors_torch(queries, points)
    index = nearest_indices(queries, points)
    # The same nearest points (distances compared: an exact tie may pick another index).
    assert torch.allclose(_gathered_distance(queries, points, index), reference_distance, atol=1e-7)
    ab, ba = nearest_indices_both_ways(queries, points)
    assert torch.equal(ab, index) and torch.equal(ba, nearest_indices(points, queries))


def test_a_margin_skips_only_queries_outside_the_other_box() -> None:
    g = torch.Generator().manual_seed(4)
    points = torch.rand(2, 100, 3, generator=g) * 0.1  # inside [0, 0.1]^3
    queries = torch.rand(2, 400, 3, generator=g) * 0.3 - 0.1  # [-0.1, 0.2]^3
    index = nearest_indices(queries, points, margin=0.01)
    lower, upper = points.amin(1, keepdim=True) - 0.01, points.amax(1, keepdim=True) + 0.01
    near = ((queries >= lower) & (queries <= upper)).all(-1)
    assert torch.equal(index >= 0, near) and 0 < int(near.sum()) < near.numel()
    reference_distance, _ = nearest_neighbors_torch(queries, points)
    searched = _gathered_distance(queries, points, index.clamp_min(0))
    assert torch.allclose(searched[near], reference_distance[near], atol=1e-7)
    # Samples with nothing near are not searched at all.
    apart = nearest_indices(queries + 10.0, points, margin=0.01)
    assert bool((apart == -1).all())


def test_a_radius_leaves_out_exactly_the_queries_whose_nearest_point_is_farther() -> None:
    """radius: -1 where the reference's nearest distance exceeds it, the reference's nearest point elsewhere."""
    g = torch.Generator().manual_seed(5)
    queries, points = torch.randn(3, 400, 3, generator=g) * 0.05, torch.randn(3, 150, 3, generator=g) * 0.05
    reference_distance, _ = nearest_neighbors_torch(queries, points)
    index = nearest_indices(queries, points, margin=0.01, radius=0.01)
    within = reference_distance <= 0.01
    assert torch.equal(index >= 0, within) and 0 < int(within.sum()) < within.numel()
    found = _gathered_distance(queries, points, index.clamp_min(0))
    assert torch.allclose(found[within], reference_distance[within], atol=1e-7)
    ab, ba = nearest_indices_both_ways(queries, points, 0.01, 0.01)
    assert torch.equal(ab, index) and torch.equal(ba, nearest_indices(points, queries, 0.01, 0.01))


def test_a_cloud_tree_finds_the_reference_k_nearest() -> None:
    g = torch.Generator().manual_seed(5)
    cloud, queries = torch.randn(500, 3, generator=g), torch.randn(3, 50, 3, generator=g)
    index = CloudTree(cloud).k_nearest(queries, 8)
    reference = k_nearest_indices(queries, cloud.expand(3, -1, -1), 8)
    assert index.shape == reference.shape == (3, 50, 8)
    assert torch.allclose(
        (queries[:, :, None] - cloud[index]).norm(dim=-1),
        (queries[:, :, None] - cloud[reference]).norm(dim=-1),
        atol=1e-6,
    )
    assert CloudTree(cloud[:3]).k_nearest(queries, 8).shape == (3, 50, 3)  # k capped at the cloud's size
    with pytest.raises(ValueError, match="M >= 1"):
        CloudTree(cloud[:0])


def test_sample_trees_built_once_find_the_same_indices() -> None:
    from interhandgen_core.geometry.tree_nearest import SampleTrees

    g = torch.Generator().manual_seed(6)
    points = torch.rand(3, 150, 3, generator=g) * 0.1
    queries = torch.rand(3, 200, 3, generator=g) * 0.3 - 0.1
    trees = SampleTrees(points)
    for margin in (None, 0.01):
        assert torch.equal(trees.nearest(queries, margin), nearest_indices(queries, points, margin))
        assert torch.equal(trees.nearest(queries + 0.01, margin), nearest_indices(queries + 0.01, points, margin))


def test_nearest_within_reach_equals_the_reference_where_the_nearest_is_a_near_candidate() -> None:
    from interhandgen_core.geometry.tree_nearest import nearest_indices_within

    g = torch.Generator().manual_seed(7)
    cloud = torch.rand(400, 3, generator=g) * 0.1
    points = torch.rand(4, 300, 3, generator=g) * 0.16 - 0.03
    candidates = torch.rand(4, 300, generator=g) < 0.7
    candidates[3] = False  # a sample with no candidate reads -1 throughout
    radius = 0.01
    index = nearest_indices_within(cloud, points, candidates, radius)
    assert index.shape == (4, 400) and bool((index[3] == -1).all())
    reference_distance, reference = nearest_neighbors_torch(cloud.expand(4, -1, -1), points)
    # Expected: the reference where its nearest point is a candidate within the radius ...
    exact = (reference_distance <= radius) & torch.gather(candidates, 1, reference)
    found = index >= 0
    assert bool(found[exact].all()) and 0 < int(exact.sum()) < exact.numel()
    distance = (cloud[None] - torch.gather(points, 1, index.clamp_min(0)[..., None].expand(-1, -1, 3))).norm(dim=-1)
    assert torch.allclose(distance[exact], reference_distance[exact], atol=1e-6)
    # ... and elsewhere either nothing or a candidate within the radius, the nearest one of them.
    assert bool(torch.gather(candidates, 1, index.clamp_min(0))[found].all()) and bool(
        (distance[found] <= radius).all()
    )
    masked = torch.where(candidates[:, None], torch.cdist(cloud.expand(4, -1, -1), points), torch.inf)
    assert torch.allclose(distance[found], masked.min(-1).values[found], atol=1e-6)
    assert bool((masked.min(-1).values[~found] > radius).all())
