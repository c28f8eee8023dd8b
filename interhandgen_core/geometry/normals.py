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
    """vertices (B, V, 3), faces (F, 3) long -> (B, V, 3) unit normals (area-weighted average of faces)."""
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
