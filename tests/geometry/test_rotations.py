"""Rotation conversions: round trips, the small- and large-angle edge cases, gradients, batching."""

from __future__ import annotations

import math

import pytest
import torch
from smplx.lbs import batch_rodrigues

from interhandgen_core.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_rotation_6d,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_axis_angle,
    rotation_6d_to_matrix,
)


def _axis_angles(n: int, low: float, high: float, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n rotation vectors with random axes and angles uniform in [low, high) radians."""
    gen = torch.Generator().manual_seed(seed)
    axes = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=dtype), dim=-1)
    angles = low + (high - low) * torch.rand(n, 1, generator=gen, dtype=dtype)
    return axes * angles


def _assert_rotations(matrix: torch.Tensor, atol: float) -> None:
    eye = torch.eye(3, dtype=matrix.dtype).expand_as(matrix)
    torch.testing.assert_close(matrix.transpose(-1, -2) @ matrix, eye, rtol=0, atol=atol)
    torch.testing.assert_close(
        torch.linalg.det(matrix), torch.ones(matrix.shape[:-2], dtype=matrix.dtype), rtol=0, atol=atol
    )


def test_axis_angle_to_matrix_matches_smplx_rodrigues() -> None:
    aa = _axis_angles(2000, 1e-3, math.pi)
    torch.testing.assert_close(axis_angle_to_matrix(aa), batch_rodrigues(aa), rtol=0, atol=1e-7)
    aa32 = aa.float()
    torch.testing.assert_close(axis_angle_to_matrix(aa32), batch_rodrigues(aa32), rtol=0, atol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_axis_angle_matrix_round_trip(dtype: torch.dtype) -> None:
    atol = 1e-9 if dtype == torch.float64 else 2e-6
    aa = _axis_angles(5000, 0.0, math.pi - 1e-2, dtype=dtype)
    matrix = axis_angle_to_matrix(aa)
    _assert_rotations(matrix, atol=1e-12 if dtype == torch.float64 else 3e-6)
    torch.testing.assert_close(matrix_to_axis_angle(matrix), aa, rtol=0, atol=atol)


def test_matrix_axis_angle_round_trip_for_random_rotations() -> None:
    matrix = rotation_6d_to_matrix(
        torch.randn(5000, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    )
    aa = matrix_to_axis_angle(matrix)
    assert float(aa.norm(dim=-1).max()) <= math.pi + 1e-12
    torch.testing.assert_close(axis_angle_to_matrix(aa), matrix, rtol=0, atol=1e-10)


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-8, 1e-6, 5e-5, 1e-4, 1.0001e-4, 2e-4, 1e-3, 1e-2])
def test_near_zero_angles(angle: float) -> None:
    aa = _axis_angles(200, angle, angle, seed=2)
    matrix = axis_angle_to_matrix(aa)
    # Exact reference in float64: R = I + sin(a)/a K + (1 - cos a)/a^2 K^2, via series when a is tiny.
    expected = batch_rodrigues(aa) if angle > 1e-3 else axis_angle_to_matrix(aa.double())
    torch.testing.assert_close(matrix, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(matrix_to_axis_angle(matrix), aa, rtol=0, atol=1e-10)
    # float32 stays accurate too (this is where 1 - cos(a) would cancel).
    matrix32 = axis_angle_to_matrix(aa.float())
    torch.testing.assert_close(matrix32.double(), matrix, rtol=0, atol=2e-7)
    torch.testing.assert_close(matrix_to_axis_angle(matrix32).double(), aa, rtol=0, atol=2e-7)


@pytest.mark.parametrize("gap", [0.0, 1e-9, 1e-6, 1e-4, 1e-2])
def test_angles_near_pi(gap: float) -> None:
    angle = math.pi - gap
    aa = _axis_angles(500, angle, angle, seed=3)
    matrix = axis_angle_to_matrix(aa)
    _assert_rotations(matrix, atol=1e-12)
    back = matrix_to_axis_angle(matrix)
    # Near pi, v and -v are (almost) the same rotation; compare rotations, and angles exactly.
    torch.testing.assert_close(axis_angle_to_matrix(back), matrix, rtol=0, atol=1e-9)
    torch.testing.assert_close(back.norm(dim=-1), aa.norm(dim=-1), rtol=0, atol=1e-7)
    sign = torch.sign((back * aa).sum(-1, keepdim=True))
    torch.testing.assert_close(back * sign, aa, rtol=0, atol=1e-7 if gap >= 1e-6 else 1e-4)


def test_quaternion_round_trip_and_convention() -> None:
    aa = _axis_angles(1000, 0.0, math.pi - 1e-3, seed=4)
    quat = matrix_to_quaternion(axis_angle_to_matrix(aa))
    half = aa.norm(dim=-1, keepdim=True) / 2
    expected = torch.cat([torch.cos(half), torch.nn.functional.normalize(aa, dim=-1) * torch.sin(half)], dim=-1)
    torch.testing.assert_close(quat, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(quaternion_to_axis_angle(quat), aa, rtol=0, atol=1e-10)
    # q and -q are the same rotation.
    torch.testing.assert_close(quaternion_to_axis_angle(-quat), aa, rtol=0, atol=1e-10)


def test_quaternion_to_matrix_inverts_matrix_to_quaternion() -> None:
    matrix = axis_angle_to_matrix(_axis_angles(1000, 0.0, math.pi, seed=6))
    quat = matrix_to_quaternion(matrix)
    torch.testing.assert_close(quaternion_to_matrix(quat), matrix, rtol=0, atol=1e-12)
    # Sign and scale do not matter: -2q is the same rotation.
    torch.testing.assert_close(quaternion_to_matrix(-2.0 * quat), matrix, rtol=0, atol=1e-12)
    assert quaternion_to_matrix(quat.reshape(10, 100, 4)).shape == (10, 100, 3, 3)


def test_rotation_6d_round_trips() -> None:
    aa = _axis_angles(1000, 0.0, math.pi - 1e-3, seed=5)
    matrix = axis_angle_to_matrix(aa)
    six = matrix_to_rotation_6d(matrix)
    assert six.shape == (1000, 6)
    torch.testing.assert_close(six, axis_angle_to_rotation_6d(aa), rtol=0, atol=0)
    torch.testing.assert_close(rotation_6d_to_matrix(six), matrix, rtol=0, atol=1e-12)
    torch.testing.assert_close(rotation_6d_to_axis_angle(six), aa, rtol=0, atol=1e-9)
    # The 6D form is the first two columns.
    torch.testing.assert_close(six[:, :3], matrix[:, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(six[:, 3:], matrix[:, :, 1], rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rotation_6d_of_random_input_is_a_rotation(dtype: torch.dtype) -> None:
    six = 3.0 * torch.randn(4000, 6, generator=torch.Generator().manual_seed(6), dtype=dtype)
    matrix = rotation_6d_to_matrix(six)
    _assert_rotations(matrix, atol=1e-12 if dtype == torch.float64 else 1e-5)
    # Gram-Schmidt keeps the first column's direction.
    torch.testing.assert_close(matrix[..., 0], torch.nn.functional.normalize(six[:, :3], dim=-1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("leading", [(), (7,), (2, 3), (2, 1, 4)])
def test_batched_over_leading_dims(leading: tuple[int, ...]) -> None:
    n = math.prod(leading) if leading else 1
    aa = _axis_angles(n, 0.0, 3.0, seed=7).reshape(*leading, 3)
    matrix = axis_angle_to_matrix(aa)
    assert matrix.shape == (*leading, 3, 3)
    flat = axis_angle_to_matrix(aa.reshape(-1, 3)).reshape(*leading, 3, 3)
    torch.testing.assert_close(matrix, flat, rtol=0, atol=0)
    assert matrix_to_axis_angle(matrix).shape == (*leading, 3)
    assert matrix_to_quaternion(matrix).shape == (*leading, 4)
    assert matrix_to_rotation_6d(matrix).shape == (*leading, 6)
    assert rotation_6d_to_matrix(matrix_to_rotation_6d(matrix)).shape == (*leading, 3, 3)
    torch.testing.assert_close(rotation_6d_to_axis_angle(axis_angle_to_rotation_6d(aa)), aa, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gradients_finite_at_zero(dtype: torch.dtype) -> None:
    aa = torch.zeros(4, 3, dtype=dtype, requires_grad=True)
    matrix = axis_angle_to_matrix(aa)
    weights = torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(8), dtype=dtype)
    (matrix * weights).sum().backward()
    assert aa.grad is not None and torch.isfinite(aa.grad).all()
    # dR/dw at 0 is the skew generator: d(sum W * R)/dw = (W32 - W23, W13 - W31, W21 - W12).
    expected = torch.stack(
        [
            weights[:, 2, 1] - weights[:, 1, 2],
            weights[:, 0, 2] - weights[:, 2, 0],
            weights[:, 1, 0] - weights[:, 0, 1],
        ],
        dim=-1,
    )
    torch.testing.assert_close(aa.grad, expected, rtol=0, atol=1e-6)

    identity = torch.eye(3, dtype=dtype).repeat(4, 1, 1).requires_grad_(True)
    matrix_to_axis_angle(identity).sum().backward()
    assert identity.grad is not None and torch.isfinite(identity.grad).all()

    six = matrix_to_rotation_6d(torch.eye(3, dtype=dtype)).repeat(4, 1).requires_grad_(True)
    rotation_6d_to_axis_angle(six).pow(2).sum().backward()
    assert six.grad is not None and torch.isfinite(six.grad).all()


def test_float32_gradients_near_zero_match_float64() -> None:
    # The regime where (1 - cos a) / a^2 computed directly loses all precision in float32.
    weights = torch.randn(3, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    for angle in (1e-5, 1.0001e-4, 2e-4, 1e-3, 1e-2, 0.5):
        aa64 = _axis_angles(500, angle, angle, seed=10).requires_grad_(True)
        aa32 = aa64.detach().float().requires_grad_(True)
        (axis_angle_to_matrix(aa64) * weights).sum().backward()
        (axis_angle_to_matrix(aa32) * weights.float()).sum().backward()
        assert aa64.grad is not None and aa32.grad is not None
        torch.testing.assert_close(aa32.grad.double(), aa64.grad, rtol=0, atol=5e-6, msg=f"angle {angle}")


def test_gradcheck_away_from_singularities() -> None:
    aa = _axis_angles(6, 0.1, 3.0, seed=11).requires_grad_(True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))
    assert torch.autograd.gradcheck(
        lambda m: matrix_to_axis_angle(m), (axis_angle_to_matrix(aa).detach().requires_grad_(True),)
    )
    six = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(12)).requires_grad_(True)
    assert torch.autograd.gradcheck(rotation_6d_to_matrix, (six,))
