"""Signed distance to an oriented cloud (geometry.nearest.points_to_cloud_signed_distance) against exact solids."""

from __future__ import annotations

import torch

from interhandgen_core.geometry.nearest import points_to_cloud_signed_distance


def box_cloud(spacing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on the faces of the box [-0.1, 0.1]^3 with outward normals, on a grid of ``spacing``."""
    ticks = torch.arange(-0.1, 0.1 + 1e-9, spacing)
    u, v = torch.meshgrid(ticks, ticks, indexing="ij")
    u, v = u.reshape(-1), v.reshape(-1)
    points, normals = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = torch.zeros(u.numel(), 3)
            others = [a for a in range(3) if a != axis]
            p[:, others[0]], p[:, others[1]], p[:, axis] = u, v, 0.1 * sign
            n = torch.zeros_like(p)
            n[:, axis] = sign
            points.append(p)
            normals.append(n)
    return torch.cat(points)[None], torch.cat(normals)[None]


def exact_box_distance(q: torch.Tensor) -> torch.Tensor:
    d = q.abs() - 0.1
    return torch.clamp(d, min=0).norm(dim=-1) + torch.clamp(d.max(-1).values, max=0)


def test_sign_is_exact_inside_and_outside_a_sparse_box_cloud() -> None:
    points, normals = box_cloud(0.04)  # sparse: 4 cm between samples
    queries = (torch.rand(1, 4000, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.36
    exact = exact_box_distance(queries)
    clear = exact.abs() > 0.005  # away from the surface, where the sign is unambiguous
    estimate = points_to_cloud_signed_distance(queries, points, normals)
    assert torch.equal((estimate < 0)[clear], (exact < 0)[clear])


def test_point_beyond_an_edge_is_outside_even_when_its_nearest_sample_is_on_the_other_face() -> None:
    # A sparse corner: one sample on the top face near the edge, one lower on the side face.
    points = torch.tensor([[[0.0, 0.09, 0.1], [0.0, 0.1, 0.0]]])
    normals = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
    # Outside, beside the side face and just below the top: the nearest sample is the top one,
    # whose normal alone would put the point behind the surface.
    query = torch.tensor([[[0.0, 0.12, 0.08]]])
    assert float(points_to_cloud_signed_distance(query, points, normals, k=1)) < 0
    assert float(points_to_cloud_signed_distance(query, points, normals, k=2)) > 0


def test_magnitude_is_the_distance_to_the_nearest_sample_and_gradients_flow() -> None:
    points, normals = box_cloud(0.02)
    query = torch.tensor([[[0.0, 0.0, 0.15]]], requires_grad=True)
    distance = points_to_cloud_signed_distance(query, points, normals)
    assert abs(float(distance.detach()) - 0.05) < 1e-6
    distance.sum().backward()
    assert query.grad is not None and torch.allclose(query.grad, torch.tensor([[[0.0, 0.0, 1.0]]]), atol=1e-6)
