"""Signed distance to a union of capsules, batched and differentiable: a cheap proxy of a hand's volume.

Shapes: points (B, N, 3); capsule axes from ``start`` (B, S, 3) to ``end`` (B, S, 3) and radii (B, S),
metres, any common frame. A capsule is the set of points within its radius of its axis segment; a
point's signed distance to a union of capsules is the smallest over the capsules of (distance to the
axis minus the radius), negative inside the union. For a point inside the union this is minus its
depth below the nearest capsule's surface, which is a lower bound of its depth below the union's.

Notation:
    a, b, u = b - a     ``start``, ``end``, ``axis`` of a capsule
    o = p - a           a point's offset from the start
    t                   clamp(o.u / u.u, 0, 1), the nearest point of the axis is a + t u
    |o - t u|^2         = o.o - 2 t o.u + t^2 u.u, the squared distance to the axis

``nearest_capsule`` searches all (point, capsule) pairs without gradient, in the expanded form above
(two batched matrix products and in-place updates of one (B, N, S) buffer: on this project's CPU,
fresh (B, N, S) temporaries for 64 hands cost 7 times the arithmetic in page faults), then
``points_to_capsules_signed_distance`` takes the distance to that one capsule differentiably (the
gradient of a minimum is its argument's). S is about 20 for a hand (hands/capsule_proxy.py).
``points_to_capsules_signed_distance_reference`` is the loop over capsules that
tests/geometry/test_capsules.py compares it with.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Smallest squared distance the search takes a square root of (m^2): 10 micrometres, below float32's
# resolution of the expanded form for coordinates of a few decimetres (about 1e-9 m^2).
_MIN_SQUARED_M2 = 1e-10


def points_to_segment_distance(points: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """points, start, end (..., 3) metres -> (...,) metres: each point's distance to its own segment
    [start, end]; differentiable in all three (a segment of zero length is its point)."""
    axis = end - start
    t = (((points - start) * axis).sum(-1) / (axis * axis).sum(-1).clamp_min(1e-12)).clamp(0.0, 1.0)
    return (points - (start + t[..., None] * axis)).norm(dim=-1)


@torch.no_grad()
def nearest_capsule(points: Tensor, start: Tensor, end: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
    """points (B, N, 3), start (B, S, 3), end (B, S, 3), radius (B, S) metres -> (signed distance (B, N) metres,
    index (B, N) long): the capsule of each sample with the smallest signed distance to each point, and that
    distance, without gradient (module docstring: the expanded form)."""
    axis = end - start  # (B, S, 3) u
    length2 = (axis * axis).sum(-1)  # (B, S) u.u
    # o.o = p.p - 2 p.a + a.a and o.u = p.u - a.u, each one batched matrix product
    squared = torch.baddbmm((start * start).sum(-1)[:, None], points, start.transpose(1, 2), alpha=-2.0)
    squared.add_((points * points).sum(-1)[..., None])
    along = torch.baddbmm(-(start * axis).sum(-1)[:, None], points, axis.transpose(1, 2))  # (B, N, S) o.u
    t = (along / length2.clamp_min(1e-12)[:, None]).clamp_(0.0, 1.0)
    squared.sub_(along.mul_(t).mul_(2.0)).add_(t.square_().mul_(length2[:, None]))  # o.o - 2 t o.u + t^2 u.u
    distance, index = squared.clamp_min_(_MIN_SQUARED_M2).sqrt_().sub_(radius[:, None]).min(dim=-1)
    return distance, index


def points_to_capsules_signed_distance(points: Tensor, start: Tensor, end: Tensor, radius: Tensor) -> Tensor:
    """points (B, N, 3), start (B, S, 3), end (B, S, 3), radius (B, S) metres -> (B, N) metres: signed distance
    to the union of the S capsules of each sample, negative inside; differentiable in all four."""
    _, nearest = nearest_capsule(points.detach(), start.detach(), end.detach(), radius.detach())
    rows = torch.arange(points.shape[0], device=points.device)[:, None]
    return points_to_segment_distance(points, start[rows, nearest], end[rows, nearest]) - radius[rows, nearest]


def points_to_capsules_depth(points: Tensor, start: Tensor, end: Tensor, radius: Tensor, packed: bool = True) -> Tensor:
    """points (B, N, 3), start (B, S, 3), end (B, S, 3), radius (B, S) metres -> (B, N) metres: each point's
    depth inside the union of its sample's capsules, relu(-points_to_capsules_signed_distance), 0 outside.

    ``packed``: the differentiable distance is taken only for the points found inside (few, for hands that
    touch), so the backward pass costs their number, not B N; the same values and gradients. Finding them
    reads their number back to the host: pass False where nothing may (a CUDA graph capture).
    """
    if not packed:
        return torch.relu(-points_to_capsules_signed_distance(points, start, end, radius))
    signed, nearest = nearest_capsule(points.detach(), start.detach(), end.detach(), radius.detach())
    rows, columns = (signed < 0).nonzero(as_tuple=True)  # (K,) each
    capsule = nearest[rows, columns]
    distance = points_to_segment_distance(points[rows, columns], start[rows, capsule], end[rows, capsule])
    depth = torch.relu(radius[rows, capsule] - distance)
    return torch.zeros(points.shape[:2], dtype=depth.dtype, device=points.device).index_put((rows, columns), depth)


def points_to_capsules_signed_distance_reference(points: Tensor, start: Tensor, end: Tensor, radius: Tensor) -> Tensor:
    """The slow reference of points_to_capsules_signed_distance: one capsule at a time, same shapes."""
    best = torch.full(points.shape[:2], torch.inf, dtype=points.dtype, device=points.device)
    for s in range(start.shape[1]):
        distance = points_to_segment_distance(points, start[:, s, None], end[:, s, None]) - radius[:, s, None]
        best = torch.minimum(best, distance)
    return best
