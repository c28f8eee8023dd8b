"""Unsigned distance from points to triangle surfaces."""

from __future__ import annotations

import torch
from torch import Tensor

# Upper bound on point-triangle pairs evaluated at once.
_MAX_PAIRS = 4 * 1024 * 1024


def point_segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """p, a, b (..., 3) broadcastable -> (...) distance from p to the segment a-b (a point when a == b)."""
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
        torch.minimum(point_segment_distance(points, a, b), point_segment_distance(points, b, c)),
        point_segment_distance(points, c, a),
    )
    return torch.where(inside, offset.abs(), edge)


def vertex_faces(faces: Tensor, num_vertices: int) -> Tensor:
    """faces (F, 3) -> (V, D) long: the faces around each vertex, padded with -1 (D = largest valence)."""
    vertex = faces.reshape(-1)
    face = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
    order = torch.argsort(vertex, stable=True)
    vertex, face = vertex[order], face[order]
    counts = torch.bincount(vertex, minlength=num_vertices)
    slot = torch.arange(vertex.numel(), device=faces.device) - (torch.cumsum(counts, 0) - counts)[vertex]
    table = torch.full((num_vertices, int(counts.max())), -1, dtype=torch.long, device=faces.device)
    table[vertex, slot] = face
    return table


def points_to_surface_distance_local(
    points: Tensor, batch_index: Tensor, vertices: Tensor, faces: Tensor, k: int = 4
) -> Tensor:
    """Like :func:`points_to_surface_distance` (same result), searching mostly the faces around the k nearest vertices.

    points (K, 3), batch_index (K,), vertices (B, V, 3), faces (F, 3) -> (K,) metres. The
    faces around the k nearest vertices give an upper bound d. Where a mesh touches itself
    (a fist: finger vertices nearer to a point than the vertices of the palm triangle under
    it) the closest point can lie on another face; such a face T has every vertex within
    d + (longest edge of T) of the point, so the faces passing that test are searched too.
    On a hand they are a few dozen of its faces; the full search is the reference this is
    tested against.
    """
    if points.shape[0] == 0:
        return points.new_zeros(0)
    ring = vertex_faces(faces, vertices.shape[1])  # (V, D)
    corner_index = faces.unbind(dim=1)
    corners = [vertices.index_select(1, i) for i in corner_index]  # 3 x (B, F, 3)
    longest = torch.stack([(corners[i] - corners[i - 1]).norm(dim=-1) for i in range(3)]).amax(dim=0)  # (B, F)
    per_chunk = max(1, _MAX_PAIRS // max(1, vertices.shape[1], faces.shape[0]))
    out = []
    for start in range(0, points.shape[0], per_chunk):  # memory chunks, batched inside
        p = points[start : start + per_chunk]
        index = batch_index[start : start + per_chunk]
        own = vertices[index]  # (k, V, 3)
        to_vertex = (own - p[:, None]).norm(dim=-1)  # (k, V)
        nearest = to_vertex.topk(k, dim=-1, largest=False).indices  # (k, K)
        candidates = ring[nearest].reshape(p.shape[0], -1)  # (k, K * D), -1 padded
        valid = candidates >= 0
        tri_vertices = faces[candidates.clamp_min(0)]  # (k, C, 3)
        triangles = torch.gather(own, 1, tri_vertices.reshape(p.shape[0], -1, 1).expand(-1, -1, 3))
        d = point_triangle_distance(p[:, None, :], triangles.reshape(p.shape[0], -1, 3, 3))
        bound = torch.where(valid, d, torch.full_like(d, float("inf"))).min(dim=-1).values
        # |p - v| <= dist(p, T) + longest(T) for every vertex v of T: no other face can be closer.
        a, b, c = (to_vertex.index_select(1, i) for i in corner_index)  # (k, F) each
        lower = torch.maximum(torch.maximum(a, b), c) - longest[index]
        rows, cols = (lower < bound[:, None]).nonzero(as_tuple=True)
        if rows.numel():
            d = point_triangle_distance(p[rows], torch.stack([x[index[rows], cols] for x in corners], dim=-2))
            bound = bound.scatter_reduce(0, rows, d, reduce="amin")
        out.append(bound)
    return torch.cat(out)


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
