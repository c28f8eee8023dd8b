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
