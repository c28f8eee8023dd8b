"""Rotation conversions between axis-angle, rotation matrices and the 6D representation.

All functions are pure, batched over any leading dimensions (``...``) and differentiable.

Notation:
    axis_angle  (..., 3)     rotation vector: unit axis times angle in radians
    matrix      (..., 3, 3)  rotation matrix acting on column vectors (x' = R x)
    rotation_6d (..., 6)     first two columns of the matrix, concatenated
                             (Zhou et al., "On the Continuity of Rotation Representations
                             in Neural Networks", CVPR 2019; the paper's omega in Eq. 5)
"""

from __future__ import annotations

import torch
from torch import Tensor

# Below this angle (radians) Taylor expansions replace sin(x)/x terms, whose direct
# evaluation loses precision and has unstable gradients at 0.
_SMALL_ANGLE = 1e-4


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """axis_angle: (..., 3) radians -> (..., 3, 3) rotation matrices (Rodrigues' formula)."""
    angle_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)
    angle = torch.sqrt(angle_sq.clamp_min(_SMALL_ANGLE**2))
    small = angle_sq < _SMALL_ANGLE**2
    # sin(a)/a and (1 - cos(a))/a^2 with their Taylor series near zero.
    sin_term = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(angle) / angle)
    # (1 - cos a) / a^2 written as 2 sin^2(a/2) / a^2: 1 - cos(a) cancels catastrophically in float32
    # for a below ~1e-2, which made gradients near the flat hand wrong by up to ~4e-4.
    half_sinc = torch.sin(0.5 * angle) / (0.5 * angle)
    cos_term = torch.where(small, 0.5 - angle_sq / 24.0, 0.5 * half_sinc * half_sinc)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin_term[..., None] * skew + cos_term[..., None] * (skew @ skew)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """matrix: (..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate solutions; the one with the largest denominator is well conditioned.
    q_abs = torch.sqrt(
        torch.stack(
            [1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22],
            dim=-1,
        ).clamp_min(1e-12)
    )
    candidates = torch.stack(
        [
            torch.stack(
                [
                    q_abs[..., 0] ** 2,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    q_abs[..., 1] ** 2,
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] + m[..., 0, 1],
                    q_abs[..., 2] ** 2,
                    m[..., 2, 1] + m[..., 1, 2],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 2, 0] + m[..., 0, 2],
                    m[..., 2, 1] + m[..., 1, 2],
                    q_abs[..., 3] ** 2,
                ],
                -1,
            ),
        ],
        dim=-2,
    ) / (2.0 * q_abs[..., None].clamp_min(0.1))
    best = q_abs.argmax(dim=-1)
    quat = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    quat = quat / quat.norm(dim=-1, keepdim=True)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """quaternion: (..., 4) unit (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    xyz = q[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    half = torch.atan2(sin_half, q[..., :1])
    angle = 2.0 * half
    small = sin_half < _SMALL_ANGLE
    # angle / sin(angle/2) -> 2 + angle^2 / 12 as angle -> 0
    scale = torch.where(small, 2.0 + angle * angle / 12.0, angle / sin_half.clamp_min(_SMALL_ANGLE))
    return xyz * scale


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """quaternion: (..., 4) (w, x, y, z), normalised here -> (..., 3, 3) rotation matrix."""
    w, x, y, z = (quaternion / quaternion.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape((*quaternion.shape[:-1], 3, 3))


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """matrix: (..., 3, 3) -> (..., 3) axis-angle, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """matrix: (..., 3, 3) -> (..., 6): first column then second column."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def rotation_6d_to_matrix(rotation_6d: Tensor) -> Tensor:
    """rotation_6d: (..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns.

    Any input with two non-parallel 3-vectors maps to a valid rotation, which is what
    makes the 6D form a good regression target for the denoiser.
    """
    a1, a2 = rotation_6d[..., :3], rotation_6d[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def axis_angle_to_rotation_6d(axis_angle: Tensor) -> Tensor:
    """axis_angle: (..., 3) -> (..., 6)."""
    return matrix_to_rotation_6d(axis_angle_to_matrix(axis_angle))


def rotation_6d_to_axis_angle(rotation_6d: Tensor) -> Tensor:
    """rotation_6d: (..., 6) -> (..., 3)."""
    return matrix_to_axis_angle(rotation_6d_to_matrix(rotation_6d))
