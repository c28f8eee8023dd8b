"""Farthest point sampling, ball query and batched gathering: the grouping steps of PointNet++ (Qi et al. 2017).

Notation (PointNet++ -> code):
    N            P              points per input cloud; ``points`` (B, P, 3)
    N'           num, S         centroids chosen by farthest point sampling; ``centres`` (B, S, 3)
    r            radius         ball radius, in the unit of the points (metres in this library)
    K            num_neighbors  points grouped per centroid

Uses pytorch3d's ``sample_farthest_points`` and ``ball_query`` when importable and plain torch
otherwise. The ``*_torch`` functions are the reference; the pytorch3d path returns the same
indices, except that its CUDA farthest point sampling may break exact distance ties differently.
Squared distances are summed coordinate by coordinate, as pytorch3d's kernels do, so both paths
compare the same float32 numbers with the radius.

No function here is differentiable in its indices (they are piecewise constant); gradients reach
the points through :func:`gather_points`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from interhandgen_core.geometry.nearest import nearest_neighbors

try:  # pragma: no cover - pytorch3d is optional (not installable on every platform)
    from pytorch3d.ops import ball_query as _p3d_ball_query
    from pytorch3d.ops import sample_farthest_points as _p3d_sample_farthest_points
except ImportError:  # pragma: no cover
    _p3d_ball_query = None
    _p3d_sample_farthest_points = None

# Upper bound on the centre-point pairs whose distances the torch ball query holds at once,
# about 64 MB per float32 buffer; large enough for a whole default-config batch of 64.
_MAX_PAIRS = 16 * 1024 * 1024


def _check_cloud(name: str, cloud: Tensor) -> None:
    if cloud.ndim != 3 or cloud.shape[-1] != 3:
        raise ValueError(f"{name} must be (B, N, 3), got shape {tuple(cloud.shape)}")
    if not cloud.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {cloud.dtype}")


def _check_count(name: str, value: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum} (the number of points)"
        raise ValueError(f"{name} must be an integer >= 1{upper}, got {value!r}")


def _squared_distances(centres: Tensor, points: Tensor) -> Tensor:
    """centres (B, S, 3), points (B, P, 3) float32 -> (B, S, P) squared distances.

    Summed as ((dx^2 + dy^2) + dz^2) in place: the same float32 operations as pytorch3d's kernels
    and the tests' references (so the radius test agrees bit for bit), at a third of the memory
    traffic of materialising the (B, S, P, 3) differences.
    """
    c = centres.transpose(1, 2).unsqueeze(-1)  # (B, 3, S, 1)
    p = points.transpose(1, 2).unsqueeze(-2)  # (B, 3, 1, P)
    d2 = c[:, 0] - p[:, 0]
    d2.mul_(d2)
    term = c[:, 1] - p[:, 1]
    term.mul_(term)
    d2.add_(term)
    torch.sub(c[:, 2], p[:, 2], out=term)
    term.mul_(term)
    return d2.add_(term)


def gather_points(points: Tensor, index: Tensor) -> Tensor:
    """points (B, P, C), index (B, ...) integer in [0, P) -> (B, ..., C): points[b, index[b, ...]].

    Differentiable in ``points``; any number of index dimensions after the batch (e.g. (B, S)
    centres or (B, S, K) groups).
    """
    if points.ndim != 3:
        raise ValueError(f"points must be (B, P, C), got shape {tuple(points.shape)}")
    if index.ndim < 1 or index.shape[0] != points.shape[0]:
        raise ValueError(
            f"index must be (B, ...) with the batch size of points ({points.shape[0]}), got shape {tuple(index.shape)}"
        )
    if index.dtype.is_floating_point or index.dtype == torch.bool:
        raise ValueError(f"index must be an integer tensor, got {index.dtype}")
    batch, _, channels = points.shape
    flat = index.reshape(batch, math.prod(index.shape[1:])).long()
    gathered = torch.gather(points, 1, flat[..., None].expand(-1, -1, channels))
    return gathered.reshape(*index.shape, channels)


def farthest_point_sample_torch(points: Tensor, num: int, start: Tensor | None = None) -> Tensor:
    """points (B, P, 3), num in [1, P], start (B,) long or None -> (B, num) long indices. Plain-torch reference.

    Iterative farthest point sampling: index 0 of the result is ``start`` (point 0 of every
    cloud when None, so that the result is deterministic), and each next index is the point
    farthest from all points chosen so far; ties go to the lowest index. The loop runs over
    the ``num`` picks, each pick vectorised over the batch. A cloud with fewer than ``num``
    distinct points gets repeated positions once its distinct points are used up. Coordinates must
    be finite (a NaN wins every argmax).
    """
    _check_cloud("points", points)
    batch, count, _ = points.shape
    _check_count("num", num, count)
    device = points.device
    if start is None:
        current = torch.zeros(batch, dtype=torch.long, device=device)
    else:
        if start.shape != (batch,) or start.dtype.is_floating_point or start.dtype == torch.bool:
            raise ValueError(
                f"start must be a (B,) = ({batch},) integer tensor, got {start.dtype} {tuple(start.shape)}"
            )
        current = start.to(device=device, dtype=torch.long)
        if bool(((current < 0) | (current >= count)).any()):
            raise ValueError(f"start indices must be in [0, {count}) (the number of points)")
    with torch.no_grad():
        xyz = points.detach().float().transpose(1, 2).contiguous()  # (B, 3, P): one contiguous row per coordinate
        rows = torch.arange(batch, device=device)
        index = torch.empty(batch, num, dtype=torch.long, device=device)
        index[:, 0] = current
        closest = torch.full((batch, count), float("inf"), dtype=torch.float32, device=device)
        for i in range(1, num):
            last = xyz[rows, :, current]  # (B, 3)
            diff = xyz - last[:, :, None]
            diff.mul_(diff)
            d2 = (diff[:, 0] + diff[:, 1]).add_(diff[:, 2])
            torch.minimum(closest, d2, out=closest)
            # Chosen points sit at distance 0, so they come back only once every point is at 0.
            current = closest.argmax(dim=1)
            index[:, i] = current
    return index


def farthest_point_sample(points: Tensor, num: int, start: Tensor | None = None) -> Tensor:
    """points (B, P, 3), num in [1, P], start (B,) long or None -> (B, num) long indices of spread-out points.

    See :func:`farthest_point_sample_torch` for the definition; without ``start`` every cloud
    starts at its point 0. pytorch3d's kernel is used when available and ``start`` is None
    (its public function cannot take given start indices).
    """
    if start is None and _p3d_sample_farthest_points is not None:  # pragma: no cover - needs pytorch3d
        _check_cloud("points", points)
        _check_count("num", num, points.shape[1])
        with torch.no_grad():
            _, index = _p3d_sample_farthest_points(points.detach().float(), K=num, random_start_point=False)
        return index
    return farthest_point_sample_torch(points, num, start)


def _check_ball_query(points: Tensor, centres: Tensor, radius: float, num_neighbors: int) -> None:
    _check_cloud("points", points)
    _check_cloud("centres", centres)
    if centres.shape[0] != points.shape[0]:
        raise ValueError(
            f"centres and points must have the same batch size, got {centres.shape[0]} and {points.shape[0]}"
        )
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not 0.0 < radius < float("inf"):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    _check_count("num_neighbors", num_neighbors)


def _pad_groups(found_index: Tensor, found: Tensor, nearest: Tensor, num_neighbors: int) -> Tensor:
    """Fill each group's unused slots with its first neighbour, or with the nearest point when the ball is empty.

    found_index (B, S, k) long, found (B, S, k) bool (a prefix of each row), nearest (B, S) long -> (B, S, K).
    """
    fill = torch.where(found[..., 0], found_index[..., 0], nearest)  # (B, S)
    groups = torch.where(found, found_index, fill[..., None])
    missing = num_neighbors - groups.shape[-1]
    if missing > 0:  # fewer points than neighbours requested: every extra slot is padding
        groups = torch.cat([groups, fill[..., None].expand(-1, -1, missing)], dim=-1)
    return groups


def ball_query_torch(points: Tensor, centres: Tensor, radius: float, num_neighbors: int) -> Tensor:
    """points (B, P, 3), centres (B, S, 3) same frame, radius > 0, K = num_neighbors -> (B, S, K) long. Reference.

    Row (b, s) lists, in increasing index order, the first K points p with |p - c|^2 < radius^2
    (strict, as PointNet++ and pytorch3d). A ball with fewer than K points is padded by
    repeating its first point (PointNet++'s convention; a max-pool over the group ignores the
    repeats). A centre is normally one of the points, so its ball holds at least that point;
    should a ball be empty all the same, the row is filled with the nearest point instead, so
    that every group is a real point rather than an out-of-range index.
    """
    _check_ball_query(points, centres, radius, num_neighbors)
    batch, num_points, _ = points.shape
    num_centres = centres.shape[1]
    device = points.device
    k = min(num_neighbors, num_points)
    # r^2 squared in float32 from float32 r, as PointNet++'s and pytorch3d's kernels compute it.
    radius32 = torch.tensor(float(radius), dtype=torch.float32)
    radius2 = float(radius32 * radius32)
    order = torch.arange(num_points, dtype=torch.int32, device=device)
    if batch == 0:
        return torch.empty(0, num_centres, num_neighbors, dtype=torch.long, device=device)
    chunk = max(1, _MAX_PAIRS // max(1, num_centres * num_points))
    groups = []
    with torch.no_grad():
        xyz, ctr = points.detach().float(), centres.detach().float()
        for first in range(0, batch, chunk):  # memory chunks; each chunk is batched
            d2 = _squared_distances(ctr[first : first + chunk], xyz[first : first + chunk])
            # Index where inside, P (past every index) where outside: the k smallest keys are
            # then the first k inside points in index order, followed by P for missing ones.
            key = torch.where(d2 < radius2, order, num_points)
            found_index = key.topk(k, dim=-1, largest=False, sorted=True).values.long()
            groups.append(_pad_groups(found_index, found_index < num_points, d2.argmin(dim=-1), num_neighbors))
    return torch.cat(groups)


def ball_query(points: Tensor, centres: Tensor, radius: float, num_neighbors: int) -> Tensor:
    """points (B, P, 3), centres (B, S, 3) same frame, radius > 0, K = num_neighbors -> (B, S, K) long indices.

    The first K points within ``radius`` of each centre, padded by repeating the first one; see
    :func:`ball_query_torch` for the exact rule and the empty-ball fallback. pytorch3d's kernel is
    used when available.
    """
    if _p3d_ball_query is not None:  # pragma: no cover - needs pytorch3d
        _check_ball_query(points, centres, radius, num_neighbors)
        with torch.no_grad():
            xyz, ctr = points.detach().float().contiguous(), centres.detach().float().contiguous()
            k = min(num_neighbors, points.shape[1])
            found_index = _p3d_ball_query(ctr, xyz, K=k, radius=float(radius), return_nn=False).idx  # -1 = none
            _, nearest = nearest_neighbors(ctr, xyz)
            found = found_index >= 0
            return _pad_groups(found_index.clamp_min(0), found, nearest, num_neighbors)
    return ball_query_torch(points, centres, radius, num_neighbors)
