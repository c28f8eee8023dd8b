"""Signed distances of solid primitives and of their unions against hand-computed values.

Every expected number below is worked out by hand from the primitive's definition
(geometry/primitives.py): negative inside, positive outside, metres.
"""

from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.geometry.primitives import (
    BOX,
    CAPSULE,
    CYLINDER,
    NONE,
    SPHERE,
    points_to_primitive_distance,
    points_to_union_distance,
    union_distance_and_normal,
)
from interhandgen_core.geometry.rotations import axis_angle_to_matrix

# The norms carry a 1e-12 m^2 epsilon, i.e. about 1 micrometre of bias on the surface.
ATOL = 1e-5


def shape(
    *primitives: tuple[int, tuple[float, float, float], tuple[float, float, float]],
    rotation: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One shape (B = 1) from (kind, size, centre) triples; all primitives share ``rotation`` (default identity)."""
    k = len(primitives)
    kind = torch.tensor([[p[0] for p in primitives]], dtype=torch.long)
    size = torch.tensor([[p[1] for p in primitives]], dtype=torch.float32)
    centre = torch.tensor([[p[2] for p in primitives]], dtype=torch.float32)
    rot = (torch.eye(3) if rotation is None else rotation).expand(1, k, 3, 3).clone()
    return kind, size, rot, centre


def distance(points: list[list[float]], prims: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(N,) union distance of a list of points to one shape."""
    return points_to_union_distance(torch.tensor([points], dtype=torch.float32), *prims)[0]


def test_box_distances() -> None:
    box = shape((BOX, (0.1, 0.2, 0.3), (0.0, 0.0, 0.0)))
    got = distance(
        [
            [0.0, 0.0, 0.0],  # centre: depth = smallest half extent
            [0.05, 0.0, 0.0],  # inside, 5 cm from the +x face
            [0.0, 0.0, 0.28],  # inside, 2 cm from the +z face (nearer than the x faces)
            [0.15, 0.0, 0.0],  # outside the +x face by 5 cm
            [0.0, -0.25, 0.1],  # outside the -y face by 5 cm
            [0.13, 0.24, 0.35],  # beyond the (+,+,+) corner by (3, 4, 5) cm
            [0.13, 0.24, 0.0],  # beyond the (+x, +y) edge by (3, 4) cm
        ],
        box,
    )
    expected = torch.tensor([-0.1, -0.05, -0.02, 0.05, 0.05, math.sqrt(0.03**2 + 0.04**2 + 0.05**2), 0.05])
    assert torch.allclose(got, expected, atol=ATOL)


def test_cylinder_distances() -> None:
    cyl = shape((CYLINDER, (0.05, 0.1, 0.0), (0.0, 0.0, 0.0)))  # radius 5 cm, half height 10 cm, axis z
    got = distance(
        [
            [0.0, 0.0, 0.02],  # on the axis: the side (5 cm) is nearer than the caps (8 cm)
            [0.0, 0.0, 0.09],  # on the axis near the top cap
            [0.0, 0.08, 0.0],  # beside the side by 3 cm
            [0.01, 0.0, 0.15],  # above the top cap by 5 cm (inside the radius)
            [0.0, 0.0, -0.13],  # below the bottom cap by 3 cm
            [0.08, 0.0, 0.14],  # off the rim diagonally: (3, 4) cm from the rim circle
            [-0.06, 0.0, -0.1],  # level with the bottom cap, 1 cm beyond the rim
        ],
        cyl,
    )
    expected = torch.tensor([-0.05, -0.01, 0.03, 0.05, 0.03, 0.05, 0.01])
    assert torch.allclose(got, expected, atol=ATOL)


def test_sphere_distances() -> None:
    ball = shape((SPHERE, (0.1, 0.0, 0.0), (0.2, -0.1, 0.05)))
    got = distance([[0.2, -0.1, 0.05], [0.2, -0.1, 0.1], [0.5, -0.1, 0.05], [0.2 + 0.12, -0.1 + 0.16, 0.05]], ball)
    # centre: -r; 5 cm above the centre: -5 cm; 30 cm away: +20 cm; (12, 16) cm away = 20 cm: +10 cm.
    assert torch.allclose(got, torch.tensor([-0.1, -0.05, 0.2, 0.1]), atol=ATOL)


def test_capsule_distances() -> None:
    cap = shape((CAPSULE, (0.02, 0.1, 0.0), (0.0, 0.0, 0.0)))  # radius 2 cm, segment z in [-10, 10] cm
    got = distance(
        [
            [0.0, 0.0, 0.05],  # on the segment
            [0.05, 0.0, 0.03],  # beside the segment: 5 cm from the axis
            [0.0, -0.04, -0.09],  # beside the segment near an end
            [0.0, 0.0, 0.15],  # beyond the top end, on the axis: 5 cm from the end point
            [0.03, 0.0, -0.14],  # beyond the bottom end, diagonally: (3, 4) cm from the end point
        ],
        cap,
    )
    expected = torch.tensor([-0.02, 0.03, 0.02, 0.03, 0.03])
    assert torch.allclose(got, expected, atol=ATOL)


def test_padding_is_far_and_never_wins_the_union() -> None:
    # A padding slot with a plausible-looking size and centre right at the query points must not
    # act as a solid: the union equals the sphere alone.
    prims = shape((NONE, (0.5, 0.5, 0.5), (0.0, 0.0, 0.0)), (SPHERE, (0.05, 0.0, 0.0), (1.0, 0.0, 0.0)))
    points = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.1, 0.0, 0.0]]])
    per_primitive = points_to_primitive_distance(points, *prims)[0]
    assert (per_primitive[0] > 100.0).all()
    assert torch.allclose(points_to_union_distance(points, *prims)[0], torch.tensor([0.95, -0.05, 0.05]), atol=ATOL)


def test_union_is_the_minimum_over_primitives() -> None:
    prims = shape(
        (SPHERE, (0.1, 0.0, 0.0), (0.0, 0.0, 0.0)),
        (BOX, (0.05, 0.05, 0.05), (0.3, 0.0, 0.0)),
        (CAPSULE, (0.02, 0.1, 0.0), (0.0, 0.5, 0.0)),
    )
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(1, 200, 3, generator=gen) - 0.5
    each = points_to_primitive_distance(points, *prims)
    assert each.shape == (1, 3, 200)
    assert torch.equal(points_to_union_distance(points, *prims), each.min(dim=1).values)
    # Spot values: 15 cm from the ball's centre on the far side from the box is 5 cm out; at the
    # middle between the ball (surface x = 0.1) and the box (face x = 0.25) it is 7.5 cm out.
    got = distance([[-0.15, 0.0, 0.0], [0.175, 0.0, 0.0], [0.3, 0.0, 0.0]], prims)
    assert torch.allclose(got, torch.tensor([0.05, 0.075, -0.05]), atol=ATOL)


def test_rotation_and_centre_are_honoured() -> None:
    # A 20 x 4 x 4 cm bar along local x, turned 90 degrees about z so it lies along y, centred at (1, 2, 0).
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    bar = shape((BOX, (0.1, 0.02, 0.02), (1.0, 2.0, 0.0)), rotation=turn)
    got = distance(
        [
            [1.0, 2.09, 0.0],  # 9 cm along the bar (now along y): inside, 1 cm from its end
            [1.09, 2.0, 0.0],  # 9 cm across it (along x): 7 cm outside its side
            [1.0, 2.15, 0.0],  # 5 cm beyond its end
            [0.09, 0.0, 0.0],  # where the unrotated, uncentred bar would contain the point: far outside
        ],
        bar,
    )
    far = math.dist((0.09, 0.0, 0.0), (1.0 - 0.02, 2.0 - 0.1, 0.0))  # nearest feature: the (-x, -y) edge
    assert torch.allclose(got, torch.tensor([-0.01, 0.07, 0.05, far]), atol=ATOL)


def test_normals_are_unit_and_analytic_on_a_sphere_and_a_box_face() -> None:
    centre = torch.tensor([0.1, -0.2, 0.3])
    ball = shape((SPHERE, (0.1, 0.0, 0.0), tuple(centre.tolist())))
    gen = torch.Generator().manual_seed(1)
    directions = torch.nn.functional.normalize(torch.randn(1, 50, 3, generator=gen), dim=-1)
    radii = torch.linspace(0.02, 0.3, 50)[None, :, None]  # inside and outside the ball
    points = centre + radii * directions
    d, n = union_distance_and_normal(points, *ball)
    assert torch.allclose(d[0], radii[0, :, 0] - 0.1, atol=ATOL)
    assert torch.allclose(n.norm(dim=-1), torch.ones(1, 50), atol=1e-5)
    assert torch.allclose(n, directions, atol=1e-4)

    # Points near the middle of the +y face of a box, inside and outside: the normal is +y.
    box = shape((BOX, (0.2, 0.1, 0.3), (0.0, 0.0, 0.0)))
    points = torch.tensor([[[0.01, 0.09, -0.02], [-0.05, 0.12, 0.04], [0.0, 0.1 + 1e-4, 0.0]]])
    d, n = union_distance_and_normal(points, *box)
    assert torch.allclose(d[0], torch.tensor([-0.01, 0.02, 1e-4]), atol=ATOL)
    assert torch.allclose(n[0], torch.tensor([0.0, 1.0, 0.0]).expand(3, 3), atol=1e-5)


def test_normals_follow_a_rotated_box() -> None:
    turn = axis_angle_to_matrix(torch.tensor([0.3, -0.4, 0.5]))
    box = shape((BOX, (0.2, 0.1, 0.3), (0.05, 0.0, -0.05)), rotation=turn)
    # 2 cm outside the middle of the local +z face: the normal is the rotated local z axis.
    point = torch.tensor([0.05, 0.0, -0.05]) + turn @ torch.tensor([0.01, -0.02, 0.32])
    d, n = union_distance_and_normal(point[None, None], *box)
    assert float(d) == pytest.approx(0.02, abs=ATOL)
    assert torch.allclose(n[0, 0], turn[:, 2], atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "size", "point"),
    [
        (BOX, (0.1, 0.2, 0.3), (0.0, 0.0, 0.0)),  # box centre: every clamp is active
        (BOX, (0.1, 0.2, 0.3), (0.1, 0.0, 0.0)),  # exactly on a face: the outside vector is zero
        (BOX, (0.1, 0.2, 0.3), (0.1, 0.2, 0.3)),  # exactly on a corner
        (CYLINDER, (0.05, 0.1, 0.0), (0.0, 0.0, 0.0)),  # on the axis: the radial vector is zero
        (CYLINDER, (0.05, 0.1, 0.0), (0.05, 0.0, 0.1)),  # on the rim
        (SPHERE, (0.1, 0.0, 0.0), (0.0, 0.0, 0.0)),  # the ball's centre
        (CAPSULE, (0.02, 0.1, 0.0), (0.0, 0.0, 0.05)),  # on the axis segment
        (CAPSULE, (0.02, 0.1, 0.0), (0.0, 0.0, 0.1)),  # at an end point of the segment
    ],
)
def test_gradients_are_finite_where_clamps_give_zero_vectors(
    kind: int, size: tuple[float, float, float], point: tuple[float, float, float]
) -> None:
    # The grasp optimiser back-propagates through these distances; one NaN gradient would poison
    # every hand in a chunk, so degenerate points must give finite gradients.
    prims = shape((kind, size, (0.0, 0.0, 0.0)), (NONE, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)))
    p = torch.tensor([[point]], requires_grad=True)
    size_t = prims[1].clone().requires_grad_(True)
    d = points_to_union_distance(p, prims[0], size_t, prims[2], prims[3])
    d.sum().backward()
    assert p.grad is not None and size_t.grad is not None
    assert torch.isfinite(d).all()
    assert torch.isfinite(p.grad).all()
    assert torch.isfinite(size_t.grad).all()
    _, n = union_distance_and_normal(p.detach(), *prims)
    assert torch.isfinite(n).all()
