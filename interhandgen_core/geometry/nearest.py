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


def nearest_neighbors(queries: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """queries (B, N, 3), points (B, M, 3) -> (distances (B, N), indices (B, N) long) of the nearest point."""
    if _knn_points is not None:
        result = _knn_points(queries, points, K=1)
        index = result.idx[..., 0]
        nearest = torch.gather(points, 1, index[..., None].expand(-1, -1, 3))
        return (queries - nearest).norm(dim=-1), index
    return nearest_neighbors_torch(queries, points)


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
