"""Which voxels of a regular grid lie inside a closed triangle mesh: winding numbers by vertical rays.

For a closed, outward-wound mesh, the winding number of a point equals the signed count of the
surface crossings of any ray from it: +1 where the ray leaves through a face (its normal points
along the ray), -1 where it enters. With one upward ray per (x, y) column of voxel centres:

    crossing of column (i, j)    a triangle whose xy-projection contains the column's centre, at
                                 height z, signed by the z component of the triangle's normal
    winding of voxel (i, j, k)   sum of the signs of the column's crossings above its centre z_k;
                                 inside when >= 1

Each triangle over the grid is rasterised onto the columns its xy bounding box covers, and each crossing
adds its sign to the voxels below it through a difference array along z (+sign at k = 0,
-sign at the first centre above the crossing, then a cumulative sum). The cost is the
triangles' footprints plus the voxels, not voxels x triangles as a per-point solid-angle sum
(geometry/winding.py, the reference) would be. Signed rather than parity counting keeps a
self-intersecting hand (a finger pressed into the palm) inside where its parts overlap. A
column that passes exactly through an edge or a vertex in xy (measure zero for grids placed at
arbitrary float positions) may count a crossing twice.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Voxels (samples x grid) held at once by the difference array, about 128 MB in float32.
_MAX_VOXELS = 32 * 1024 * 1024


def _occupancy(origin: Tensor, shape: tuple[int, int, int], voxel: float, vertices: Tensor, faces: Tensor) -> Tensor:
    batch = origin.shape[0]
    nx, ny, nz = shape
    # Grid units: voxel (i, j, k) has its centre at (i, j, k).
    tri = (vertices[:, faces] - origin[:, None, None, :]) / voxel - 0.5  # (B, F, 3, 3)
    det = (tri[..., 1, 0] - tri[..., 0, 0]) * (tri[..., 2, 1] - tri[..., 0, 1]) - (tri[..., 1, 1] - tri[..., 0, 1]) * (
        tri[..., 2, 0] - tri[..., 0, 0]
    )  # (B, F): twice the signed xy area
    # The columns whose centres the triangle's xy box covers, clipped to the grid.
    limit = torch.tensor([nx - 1, ny - 1], device=origin.device)
    lower = tri[..., :2].min(dim=2).values.ceil().clamp(min=0).long()
    upper = torch.minimum(tri[..., :2].max(dim=2).values.floor().long(), limit)
    # Only triangles over the grid cast crossings into it (packed: usually a small share of the mesh).
    sample, face = ((lower <= upper).all(dim=-1) & (det != 0)).nonzero(as_tuple=True)
    diff = torch.zeros(batch * nx * ny * (nz + 1), dtype=tri.dtype, device=origin.device)
    if sample.numel():
        a, b, c = tri[sample, face].unbind(dim=1)  # (K, 3) each
        e1, e2, d = b - a, c - a, det[sample, face]
        lo, hi = lower[sample, face], upper[sample, face]
        width = int((hi - lo).max()) + 1
        offsets = torch.arange(width, device=origin.device)
        ci = lo[:, 0, None, None] + offsets[:, None]  # (K, W, 1)
        cj = lo[:, 1, None, None] + offsets[None, :]  # (K, 1, W)
        ci, cj = torch.broadcast_tensors(ci, cj)
        inside_box = (ci <= hi[:, 0, None, None]) & (cj <= hi[:, 1, None, None])
        dx = ci.to(tri.dtype) - a[:, 0, None, None]
        dy = cj.to(tri.dtype) - a[:, 1, None, None]
        u = (dx * e2[:, 1, None, None] - dy * e2[:, 0, None, None]) / d[:, None, None]
        v = (e1[:, 0, None, None] * dy - e1[:, 1, None, None] * dx) / d[:, None, None]
        hit = inside_box & (u >= 0) & (v >= 0) & (u + v <= 1)
        z = a[:, 2, None, None] + u * e1[:, 2, None, None] + v * e2[:, 2, None, None]
        rows, wi, wj = hit.nonzero(as_tuple=True)
        first_above = z[rows, wi, wj].ceil().clamp(0, nz).long()  # centres k < z lie below the crossing
        sign = d.sign()[rows]
        base = (sample[rows] * nx * ny + ci[rows, wi, wj] * ny + cj[rows, wi, wj]) * (nz + 1)
        diff.index_add_(0, base, sign)
        diff.index_add_(0, base + first_above, -sign)
    winding = diff.reshape(batch, nx * ny, nz + 1).cumsum(dim=-1)[..., :nz]
    return (winding >= 0.5).reshape(batch, nx, ny, nz)


def grid_inside_mesh(
    origin: Tensor, shape: tuple[int, int, int], voxel: float, vertices: Tensor, faces: Tensor
) -> Tensor:
    """Occupancy of a voxel grid per sample.

    origin (B, 3) metres: the grid's lower corner; shape (nx, ny, nz); voxel: edge in metres;
    vertices (B, V, 3) of closed meshes sharing faces (F, 3) -> (B, nx, ny, nz) bool, True where
    the voxel's centre is inside the mesh.
    """
    per_chunk = max(1, _MAX_VOXELS // max(1, shape[0] * shape[1] * (shape[2] + 1)))
    parts = [
        _occupancy(origin[s : s + per_chunk], shape, voxel, vertices[s : s + per_chunk], faces)
        for s in range(0, origin.shape[0], per_chunk)  # memory chunks of samples, batched inside
    ]
    return torch.cat(parts) if parts else torch.zeros(0, *shape, dtype=torch.bool, device=origin.device)
