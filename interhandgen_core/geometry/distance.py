"""Unsigned distance from points to triangle surfaces."""

from __future__ import annotations

import torch
from torch import Tensor

# Upper bound on point-triangle pairs evaluated at once.
_MAX_PAIRS = 4 * 1024 * 1024


def _point_segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-20)).clamp(0.0, 1.0)
    return (p - (a + t[..., None] * ab)).norm(dim=-1)


def point_triangle_distance(points: Tensor, triangles: Tensor) -> Tensor:
    """points (..., 3), triangles (..., 3, 3) broadcastable -> (...) distance to the closest point of the triangle.

    The closest point is the projection onto the triangle's plane when that projection
    falls inside the triangle, and otherwise lies on one of its edges.
    """
    a, b, c = triangles.unbind(dim=-2)
    normal = torch.cross(b - a, c - a, dim=-1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-20)
    offset = ((points - a) * normal).sum(-1)
    projected = points - offset[..., None] * normal
    # Inside when the projection lies on the inner side of all three edges.
    inside = (
        ((torch.cross(b - a, projected - a, dim=-1) * normal).sum(-1) >= 0)
        & ((torch.cross(c - b, projected - b, dim=-1) * normal).sum(-1) >= 0)
        & ((torch.cross(a - c, projected - c, dim=-1) * normal).sum(-1) >= 0)
    )
    edge = torch.minimum(
        torch.minimum(_point_segment_distance(points, a, b), _point_segment_distance(points, b, c)),
        _point_segment_distance(points, c, a),
    )
    return torch.where(inside, offset.abs(), edge)


def points_to_surface_distance(points: Tensor, batch_index: Tensor, vertices: Tensor, faces: Tensor) -> Tensor:
    """Distance of each point to the surface of the mesh of its own sample.

    points (K, 3), batch_index (K,) long into the batch of ``vertices`` (B, V, 3),
    faces (F, 3) long -> (K,) metres. Points are packed (not padded) so that callers can
    pass only the few points that need an exact distance.
    """
    num_faces = faces.shape[0]
    per_chunk = max(1, _MAX_PAIRS // max(1, num_faces))
    out = []
    for start in range(0, points.shape[0], per_chunk):  # memory chunks, batched inside
        idx = batch_index[start : start + per_chunk]
        triangles = vertices[idx][:, faces]  # (k, F, 3, 3)
        d = point_triangle_distance(points[start : start + per_chunk, None, :], triangles)
        out.append(d.min(dim=-1).values)
    if not out:
        return points.new_zeros(0)
    return torch.cat(out)
