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
