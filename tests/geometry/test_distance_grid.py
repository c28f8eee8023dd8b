"""The grid signed distance (geometry/distance_grid.py) against the k-d tree reference it samples."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.geometry.distance_grid import GridSignedDistance, ScreenedSignedDistance
from interhandgen_core.geometry.mirroring import mirror_points
from interhandgen_core.geometry.tree_nearest import TreeSignedDistance


def _sphere_cloud(count: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    normals = torch.nn.functional.normalize(torch.randn(count, 3, generator=g), dim=-1)
    return 0.08 * normals + torch.tensor([0.01, 0.0, 0.02]), normals


def test_the_grid_reads_the_reference_within_a_cell_and_pulls_from_outside() -> None:
    points, normals = _sphere_cloud()
    reference = TreeSignedDistance(points, normals)
    grid = GridSignedDistance.around(reference, points)
    g = torch.Generator().manual_seed(1)
    queries = (torch.rand(4, 500, 3, generator=g) - 0.5) * 0.24  # in and around the ball, inside the grid
    exact, read = reference(queries), grid(queries)
    error = (exact - read).abs()
    # A fraction of a cell where the reference is smooth; more only where its sign flips between cloud points.
    assert float(error.mean()) < 0.1 * grid.cell and float(error.quantile(0.99)) < grid.cell
    assert float(error.max()) < 3 * grid.cell
    far = torch.tensor([[[1.0, 0.0, 0.0]]], requires_grad=True)
    value = grid(far)
    (gradient,) = torch.autograd.grad(value.sum(), far)
    # The box's distance added; pulled back.
    assert 0.8 < float(value.detach()) < 1.0 and float(gradient[0, 0, 0]) > 0.99
    inside = torch.zeros(1, 1, 3, requires_grad=True)
    (gradient,) = torch.autograd.grad(grid(inside).sum(), inside)
    assert bool(torch.isfinite(gradient).all())


def test_mirrored_grid_reads_the_mirrored_reference() -> None:
    points, normals = _sphere_cloud()
    reference = TreeSignedDistance(points, normals)
    grid = GridSignedDistance.around(reference, points).mirrored()
    queries = (torch.rand(2, 300, 3, generator=torch.Generator().manual_seed(2)) - 0.5) * 0.2
    assert torch.allclose(grid(queries), GridSignedDistance.around(reference, points)(mirror_points(queries)))
    assert float((grid(queries) - reference.mirrored()(queries)).abs().quantile(0.99)) < grid.cell


def test_screened_distance_is_the_reference_near_the_object() -> None:
    points, normals = _sphere_cloud()
    reference = TreeSignedDistance(points, normals)
    grid = GridSignedDistance.around(reference, points)
    screened = ScreenedSignedDistance(grid, reference, 0.02)
    queries = (torch.rand(3, 400, 3, generator=torch.Generator().manual_seed(3)) - 0.5) * 0.3
    queries.requires_grad_(True)
    exact, read = reference(queries), screened(queries)
    near = grid(queries).detach() < 0.02
    assert 0 < int(near.sum()) < near.numel()
    assert torch.equal(read[near], exact[near])
    assert torch.equal(read[~near], grid(queries)[~near])
    (g_exact,) = torch.autograd.grad(exact[near].sum(), queries)
    (g_read,) = torch.autograd.grad(read[near].sum(), queries)
    assert torch.allclose(g_exact, g_read)


def test_a_grid_needs_points_and_nodes() -> None:
    with pytest.raises(ValueError, match="P >= 1"):
        GridSignedDistance.around(lambda q: q[..., 0], torch.zeros(0, 3))
    with pytest.raises(ValueError, match="2 nodes"):
        GridSignedDistance(torch.zeros(1, 4, 4), torch.zeros(3), 0.01)
