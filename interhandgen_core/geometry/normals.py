"""Vertex normals of batched triangle meshes, and how one-sided a cloud's normals are."""

from __future__ import annotations

import torch
from torch import Tensor


def face_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """vertices (B, V, 3), faces (F, 3) long -> (B, F, 3) area-weighted (unnormalised) normals.

    The length of each normal is twice the triangle's area; the direction follows the
    counter-clockwise winding (outwards for an outward-wound closed mesh).
    """
    v0, v1, v2 = vertices[:, faces[:, 0]], vertices[:, faces[:, 1]], vertices[:, faces[:, 2]]
    return torch.cross(v1 - v0, v2 - v0, dim=-1)


def vertex_normals(vertices: Tensor, faces: Tensor, eps: float = 1e-12) -> Tensor:
    """vertices (B, V, 3), faces (F, 3) long -> (B, V, 3) unit normals (area-weighted average of faces).

    One index_add over the batch's rows flattened to (B V, 3), corners in the reference's order: the same sums
    as ``vertex_normals_reference`` (tests/geometry/test_kernels.py), about 2.5x faster for one hand, where
    index_add along the middle of a (B, V, 3) tensor takes a slow path (hand-hand penetration in streaming
    refinement computes two of them per evaluation).
    """
    batch, count = vertices.shape[:2]
    fn = face_normals(vertices, faces)  # (B, F, 3)
    corners = faces.t().reshape(-1)  # (3F,) corner 0 of every face, then corner 1, then corner 2
    rows = (corners[None] + count * torch.arange(batch, device=faces.device)[:, None]).reshape(-1)
    sums = vertices.new_zeros(batch * count, 3).index_add(0, rows, fn.repeat(1, 3, 1).reshape(-1, 3))
    normals = sums.reshape(batch, count, 3)
    return normals / normals.norm(dim=-1, keepdim=True).clamp_min(eps)


def vertex_normals_reference(vertices: Tensor, faces: Tensor, eps: float = 1e-12) -> Tensor:
    """``vertex_normals`` by one index_add per corner into (B, V, 3) (the slow reference)."""
    fn = face_normals(vertices, faces)
    normals = torch.zeros_like(vertices)
    for corner in range(3):  # three corners, not a batch loop
        normals = normals.index_add(1, faces[:, corner], fn)
    return normals / normals.norm(dim=-1, keepdim=True).clamp_min(eps)


def normal_imbalance(normals: Tensor) -> float:
    """normals (P, 3) unit, of points spread evenly over a surface -> |mean normal| in [0, 1].

    The area-weighted normals of a closed surface sum to zero (divergence theorem), so a
    cloud that covers its object all round reads near 0, while one side of it, as one camera
    sees it, reads about 0.5 (half a sphere) to 1 (one flat face).
    """
    return float(normals.mean(dim=0).norm())
