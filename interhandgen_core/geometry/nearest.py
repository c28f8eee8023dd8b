"""Batched nearest neighbours between point sets.

Uses pytorch3d's ``knn_points`` when it is importable and plain torch otherwise; both
paths return the same thing and gradients flow through the distances (the indices are
piecewise constant).
"""

from __future__ import annotations

import torch
from torch import Tensor

try:  # pragma: no cover - pytorch3d is optional (not installable on every platform)
    from pytorch3d.ops import knn_points as _knn_points
except ImportError:  # pragma: no cover
    _knn_points = None

# Upper bound on the number of pairwise distances held at once by the torch path,
# about 256 MB in float32.
_MAX_PAIRS = 64 * 1024 * 1024


def nearest_neighbors_torch(queries: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """queries (B, N, 3), points (B, M, 3) -> (distances (B, N), indices (B, N) long).

    Plain-torch reference: the full distance matrix, chunked over the batch.
    """
    batch, n, _ = queries.shape
    m = points.shape[1]
    chunk = max(1, _MAX_PAIRS // max(1, n * m))
    indices = []
    with torch.no_grad():
        for start in range(0, batch, chunk):  # memory chunks; each chunk is batched
            d2 = torch.cdist(queries[start : start + chunk], points[start : start + chunk])
            indices.append(d2.argmin(dim=-1))
    index = torch.cat(indices)
    nearest = torch.gather(points, 1, index[..., None].expand(-1, -1, 3))
    return (queries - nearest).norm(dim=-1), index


def k_nearest_indices(queries: Tensor, points: Tensor, k: int) -> Tensor:
    """queries (B, N, 3), points (B, M, 3) -> (B, N, k) long, nearest first (no gradient: indices only)."""
    k = min(k, points.shape[1])
    with torch.no_grad():
        if _knn_points is not None:
            return _knn_points(queries, points, K=k).idx
        batch, n, _ = queries.shape
        chunk = max(1, _MAX_PAIRS // max(1, n * points.shape[1]))
        parts = [
            torch.cdist(queries[s : s + chunk], points[s : s + chunk]).topk(k, dim=-1, largest=False).indices
            for s in range(0, batch, chunk)  # memory chunks; each chunk is batched
        ]
    return torch.cat(parts)


def nearest_neighbors(queries: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """queries (B, N, 3), points (B, M, 3) -> (distances (B, N), indices (B, N) long) of the nearest point."""
    if _knn_points is not None:
        result = _knn_points(queries, points, K=1)
        index = result.idx[..., 0]
        nearest = torch.gather(points, 1, index[..., None].expand(-1, -1, 3))
        return (queries - nearest).norm(dim=-1), index
    return nearest_neighbors_torch(queries, points)


def nearest_neighbors_both_ways(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """a (B, N, 3), b (B, M, 3) -> (index into b of each point of a (B, N), index into a of each point of b (B, M)).

    The torch path finds both from one distance matrix per chunk, half the work of two searches.
    """
    if _knn_points is not None:
        return nearest_neighbors(a, b)[1], nearest_neighbors(b, a)[1]
    batch, n, _ = a.shape
    chunk = max(1, _MAX_PAIRS // max(1, n * b.shape[1]))
    ab, ba = [], []
    with torch.no_grad():
        for start in range(0, batch, chunk):  # memory chunks; each chunk is batched
            d2 = torch.cdist(a[start : start + chunk], b[start : start + chunk])
            ab.append(d2.argmin(dim=-1))
            ba.append(d2.argmin(dim=-2))
    return torch.cat(ab), torch.cat(ba)


def offset_to_nearest(
    points: Tensor, other_points: Tensor, other_normals: Tensor, index: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Where each point lies relative to its nearest point of another set, and along that point's normal.

    points (B, N, 3), other_points (B, M, 3), other_normals (B, M, 3), optional index (B, N)
    of the nearest other point (searched, without gradient, when None) ->
    (along_normal (B, N): n_j . (p_i - q_j), negative behind the other surface (paper Eq. 8);
     distance (B, N): |p_i - q_j|; index (B, N)). Differentiable in both point sets.
    """
    if index is None:
        _, index = nearest_neighbors(points.detach(), other_points.detach())
    gather = index[..., None].expand(-1, -1, 3)
    offset = points - torch.gather(other_points, 1, gather)
    along_normal = (torch.gather(other_normals, 1, gather) * offset).sum(-1)
    return along_normal, offset.norm(dim=-1), index


def points_to_cloud_signed_distance(points: Tensor, cloud: Tensor, cloud_normals: Tensor, k: int = 8) -> Tensor:
    """Signed distance of points to the surface an oriented cloud samples, estimated from the cloud alone.

    points (B, N, 3), cloud (B, M, 3), cloud_normals (B, M, 3) unit outward -> (B, N) metres,
    negative inside. Magnitude: the distance to the nearest cloud point. Sign: inside only when
    the point lies behind the normals of all its ``k`` nearest cloud points. Inside a convex
    part every surface point's normal faces away from the point, so the test is exact there;
    the single nearest point alone misreads points just beyond an edge of a sparse cloud
    (their nearest sample can sit on the adjacent face). Differentiable in ``points``.
    """
    index = k_nearest_indices(points.detach(), cloud.detach(), k)  # (B, N, k)
    b, n, kk = index.shape
    flat = index.reshape(b, n * kk, 1).expand(-1, -1, 3)
    neighbours = torch.gather(cloud, 1, flat).reshape(b, n, kk, 3)
    normals = torch.gather(cloud_normals, 1, flat).reshape(b, n, kk, 3)
    offset = points[:, :, None] - neighbours
    behind = ((offset * normals).sum(-1) < 0).all(dim=-1)
    distance = offset[:, :, 0].norm(dim=-1)
    return torch.where(behind, -distance, distance)
