"""Signed distance of solid primitives and of their unions, batched and differentiable.

A shape is a union of up to K posed primitives. Per primitive (all lengths in metres):

    kind      what                 size (3,)
    0 NONE    padding (no solid)   unused
    1 BOX     box                  half extents (hx, hy, hz)
    2 CYLINDER solid cylinder      (radius, half height, unused), axis = local z
    3 SPHERE  ball                 (radius, unused, unused)
    4 CAPSULE capsule              (radius, half length of the axis segment, unused), axis = local z

``rotation`` (3, 3) maps local to shape coordinates and ``centre`` (3,) is the primitive's
centre: p_shape = R q_local + c.

Signs: negative inside, positive outside. The union's distance is the minimum over its
primitives, which is exact outside the union and a bound inside it (inside two overlapping
primitives it reports the deeper of the two depths); that is the usual constructive-solid-
geometry convention and errs on the side of reporting more penetration, not less.
"""

from __future__ import annotations

import torch
from torch import Tensor

NONE, BOX, CYLINDER, SPHERE, CAPSULE = 0, 1, 2, 3, 4
PRIMITIVE_NAMES = ("none", "box", "cylinder", "sphere", "capsule")
_FAR = 1.0e3  # metres: the distance reported for padding primitives
_EPS = 1e-12  # keeps the gradient of a norm finite at zero


def _norm(v: Tensor) -> Tensor:
    return torch.sqrt((v * v).sum(-1) + _EPS)


def _box(q: Tensor, size: Tensor) -> Tensor:
    d = q.abs() - size
    outside = _norm(torch.clamp(d, min=0.0))
    inside = torch.clamp(d.max(-1).values, max=0.0)
    return outside + inside


def _cylinder(q: Tensor, size: Tensor) -> Tensor:
    d = torch.stack([_norm(q[..., :2]) - size[..., 0], q[..., 2].abs() - size[..., 1]], dim=-1)
    return torch.clamp(d.max(-1).values, max=0.0) + _norm(torch.clamp(d, min=0.0))


def _sphere(q: Tensor, size: Tensor) -> Tensor:
    return _norm(q) - size[..., 0]


def _capsule(q: Tensor, size: Tensor) -> Tensor:
    on_axis = torch.clamp(q[..., 2], min=-size[..., 1], max=size[..., 1])
    offset = torch.stack([q[..., 0], q[..., 1], q[..., 2] - on_axis], dim=-1)
    return _norm(offset) - size[..., 0]


def points_to_primitive_distance(
    points: Tensor, kind: Tensor, size: Tensor, rotation: Tensor, centre: Tensor
) -> Tensor:
    """Signed distance of every point to every primitive.

    points (B, N, 3), kind (B, K) long, size (B, K, 3), rotation (B, K, 3, 3), centre (B, K, 3),
    metres, shape frame -> (B, K, N) metres (padding primitives report +1000 m).
    """
    # q = R^T (p - c), the points in each primitive's local frame: (B, K, N, 3).
    q = torch.einsum("bkji,bknj->bkni", rotation, points[:, None] - centre[:, :, None])
    s = size[:, :, None, :].expand(q.shape)
    k = kind[:, :, None].expand(q.shape[:-1])
    far = torch.full_like(q[..., 0], _FAR)
    out = torch.where(k == BOX, _box(q, s), far)
    out = torch.where(k == CYLINDER, _cylinder(q, s), out)
    out = torch.where(k == SPHERE, _sphere(q, s), out)
    return torch.where(k == CAPSULE, _capsule(q, s), out)


def points_to_union_distance(points: Tensor, kind: Tensor, size: Tensor, rotation: Tensor, centre: Tensor) -> Tensor:
    """Signed distance to the union of each shape's primitives: points (B, N, 3), primitives as above -> (B, N) metres."""
    return points_to_primitive_distance(points, kind, size, rotation, centre).min(dim=1).values


def union_distance_and_normal(
    points: Tensor, kind: Tensor, size: Tensor, rotation: Tensor, centre: Tensor
) -> tuple[Tensor, Tensor]:
    """(B, N) signed distance and (B, N, 3) unit outward normal (the distance's gradient) at each point."""
    with torch.enable_grad():
        p = points.detach().requires_grad_(True)
        distance = points_to_union_distance(p, kind, size, rotation, centre)
        (grad,) = torch.autograd.grad(distance.sum(), p)
    return distance.detach(), torch.nn.functional.normalize(grad, dim=-1)
