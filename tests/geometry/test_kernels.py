"""Normals, nearest neighbours, winding numbers and point-to-surface distance on shapes with known answers."""

from __future__ import annotations

import math

import pytest
import torch
import trimesh

from interhandgen_core.geometry.distance import point_triangle_distance, points_to_surface_distance
from interhandgen_core.geometry.nearest import nearest_neighbors, nearest_neighbors_torch
from interhandgen_core.geometry.normals import vertex_normals, vertex_normals_reference
from interhandgen_core.geometry.winding import inside_mesh, winding_numbers


@pytest.fixture(scope="module")
def sphere() -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=3)
    return torch.tensor(mesh.vertices, dtype=torch.float32)[None], torch.tensor(mesh.faces, dtype=torch.long)


def test_sphere_normals_point_outwards(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    n = vertex_normals(v, f)
    assert torch.allclose(n.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert (n * v).sum(-1).min() > 0.99  # unit sphere: normal == position


def test_reversed_winding_flips_normals(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    assert torch.allclose(vertex_normals(v, f.flip(-1)), -vertex_normals(v, f), atol=1e-6)


def test_vertex_normals_match_the_reference_with_their_gradients(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    gen = torch.Generator().manual_seed(0)
    batch = (v.expand(3, -1, -1) + 0.05 * torch.randn(3, *v.shape[1:], generator=gen)).double()
    weights = torch.randn(batch.shape, generator=gen, dtype=batch.dtype)
    grads = []
    for normals_of in (vertex_normals, vertex_normals_reference):
        x = batch.clone().requires_grad_()
        normals = normals_of(x, f)
        (normals * weights).sum().backward()
        grads.append((normals.detach(), x.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-10)


def test_nearest_neighbours_match_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    q, p = torch.randn(3, 50, 3, generator=gen), torch.randn(3, 70, 3, generator=gen)
    dist, idx = nearest_neighbors(q, p)
    full = torch.cdist(q, p)
    assert torch.equal(idx, full.argmin(-1))
    assert torch.allclose(dist, full.min(-1).values, atol=1e-5)
    ref_dist, ref_idx = nearest_neighbors_torch(q, p)
    assert torch.equal(idx, ref_idx) and torch.allclose(dist, ref_dist)


def test_nearest_neighbour_distance_is_differentiable() -> None:
    q = torch.tensor([[[0.0, 0.0, 0.0]]], requires_grad=True)
    p = torch.tensor([[[3.0, 4.0, 0.0], [10.0, 0.0, 0.0]]])
    dist, _ = nearest_neighbors(q, p)
    dist.sum().backward()
    assert q.grad is not None
    assert torch.allclose(q.grad, torch.tensor([[[-0.6, -0.8, 0.0]]]))


def test_winding_numbers_inside_outside(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.5, 0.3, -0.2], [0.0, 0.0, 1.5], [2.0, 2.0, 2.0]]])
    w = winding_numbers(points, v, f)
    assert torch.allclose(w, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), atol=1e-4)
    assert inside_mesh(points, v, f).tolist() == [[True, True, False, False]]


def test_winding_number_of_inside_out_mesh_is_minus_one(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    w = winding_numbers(torch.zeros(1, 1, 3), v, f.flip(-1))
    assert math.isclose(float(w), -1.0, abs_tol=1e-4)


def test_point_triangle_distance_regions() -> None:
    tri = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    points = torch.tensor(
        [
            [0.2, 0.2, 0.5],  # above the interior: plane distance
            [2.0, 0.0, 0.0],  # beyond a corner
            [0.5, -1.0, 0.0],  # beside an edge, in plane
            [1.0, 1.0, 0.0],  # beside the hypotenuse
        ]
    )
    d = point_triangle_distance(points, tri.expand(4, 3, 3))
    expected = torch.tensor([0.5, 1.0, 1.0, math.sqrt(0.5)])
    assert torch.allclose(d, expected, atol=1e-6)


def test_points_to_surface_distance_on_sphere(sphere: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = sphere
    two = torch.cat([v, 2 * v])  # radius 1 and radius 2
    points = torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, 0.5]])
    d = points_to_surface_distance(points, torch.tensor([0, 1]), two, f)
    # The polyhedron lies slightly inside the sphere; allow the tessellation error.
    assert torch.allclose(d, torch.tensor([0.5, 1.5]), atol=0.02)
