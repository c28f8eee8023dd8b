"""The mirroring transformation Gamma between left and right hands (paper S.4.2, Eq. 10).

Gamma multiplies points by T = diag(-1, 1, 1). A left hand is the mirror image of a right
hand, so any left-hand state maps to a right-hand state and back with the same function
(Gamma is its own inverse).

On parameters, Gamma acts as follows (shapes first):
    points       (..., 3)     p -> T p
    matrix       (..., 3, 3)  R -> T R T
    axis_angle   (..., 3)     (x, y, z) -> (x, -y, -z)   (= axis of T R T, since det T = -1)
    finger pose  (..., 45)    the axis-angle rule applied to each of the 15 joints
    betas        (..., 10)    unchanged (the left model's shape space is the mirrored one)

The paper states that mirroring the root rotation alone suffices. That holds only for a
left-hand model whose joint frames are themselves mirrored; in the linear-blend-skinning
layer used here (and in smplx's MANO) the rotations act in the shared rest frame, so each
joint's axis-angle has to be mirrored as well. `tests/geometry/test_mirroring.py` checks
that this rule produces exactly the mirror image of the vertices.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mirror_matrix(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """T = diag(-1, 1, 1): (3, 3)."""
    return torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=dtype, device=device))


# The functions below negate slices instead of multiplying by a constant sign tensor: making
# that constant on a GPU is a host-to-device copy, which CUDA graph capture forbids
# (runtime/cuda_graph.py captures the sampler, which mirrors the anchor).


def mirror_points(points: Tensor) -> Tensor:
    """points: (..., 3) -> (..., 3), x negated."""
    return torch.cat([-points[..., :1], points[..., 1:]], dim=-1)


def mirror_rotation(matrix: Tensor) -> Tensor:
    """matrix: (..., 3, 3) -> T R T: row 0 and column 0 negated (their shared entry twice, so kept)."""
    rows = torch.cat([-matrix[..., :1, :], matrix[..., 1:, :]], dim=-2)
    return torch.cat([-rows[..., :1], rows[..., 1:]], dim=-1)


def mirror_axis_angle(axis_angle: Tensor) -> Tensor:
    """axis_angle: (..., 3k) for k joints -> same shape, each joint's (x, y, z) -> (x, -y, -z)."""
    shape = axis_angle.shape
    joints = axis_angle.reshape(*shape[:-1], -1, 3)
    return torch.cat([joints[..., :1], -joints[..., 1:]], dim=-1).reshape(shape)


def mirror_hand_params(
    pose: Tensor, betas: Tensor, rotation: Tensor, translation: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gamma on one hand's parameters.

    pose: (B, 45) finger axis-angle, betas: (B, 10), rotation: (B, 3, 3) root rotation,
    translation: (B, 3) wrist position in metres. Returns the same four, mirrored.
    """
    return mirror_axis_angle(pose), betas, mirror_rotation(rotation), mirror_points(translation)
