"""Grasp figures on analytic objects with known answers, the cloud's signed distance, the summary
statistics, and the object term of the guidance loss."""

from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.contact.grasp_measures import (
    CONTACT_THRESHOLD_M,
    PLAUSIBILITY_POWER,
    GraspFigures,
    cloud_signed_distance,
    grasp_statistics,
    measure_grasps,
)
from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.contact.penetration import object_penetration_loss
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


@pytest.fixture(scope="module")
def hands() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(left vertices (V, 3), left faces, right vertices (V, 3), right faces): flat rest-pose hands."""
    right, left = load_hand_pair("procedural", None)
    out = []
    for asset in (left, right):
        layer = HandLayer(asset)
        with torch.no_grad():
            v = layer(
                HandParams(torch.zeros(1, 45), torch.zeros(1, 10), torch.eye(3)[None], torch.zeros(1, 3))
            ).vertices[0]
        out += [v, layer.faces]
    return out[0], out[1], out[2], out[3]


def fibonacci_sphere(num: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """num near-uniform points on a sphere about the origin and their outward normals."""
    i = torch.arange(num, dtype=torch.float64) + 0.5
    polar = torch.arccos(1 - 2 * i / num)
    azimuth = math.pi * (1 + 5**0.5) * i
    n = torch.stack([polar.sin() * azimuth.cos(), polar.sin() * azimuth.sin(), polar.cos()], -1).float()
    return radius * n, n


def place_extreme(vertices: torch.Tensor, at: tuple[float, float, float], sign: float) -> torch.Tensor:
    """Shift a hand so that its lowest (sign=-1) or highest (sign=+1) vertex lies exactly at ``at``.

    Placed on top of (or under) a ball about the origin, that vertex is then the hand's deepest
    (or nearest) one: every other vertex is at least as far from the centre along z.
    """
    extreme = vertices[int((sign * vertices[:, 2]).argmax())]
    return vertices + (torch.tensor(at) - extreme)


def place_above(vertices: torch.Tensor, x: float, lowest_z: float) -> torch.Tensor:
    """Shift a hand to x (its mean) with its lowest vertex at height ``lowest_z``."""
    shift = torch.tensor([x - float(vertices[:, 0].mean()), 0.0, lowest_z - float(vertices[:, 2].min())])
    return vertices + shift


def test_figures_on_a_table_have_the_known_values(hands: tuple[torch.Tensor, ...]) -> None:
    lv, lf, rv, rf = hands
    # The object is the half-space below a per-grasp table height: signed distance z - height.
    # Heights differ per grasp and chunk_size=2 splits the batch, so wrong rows would show.
    height = torch.tensor([0.0, 0.1, -0.2, 0.3, 0.05])
    # (left, right) lowest vertex relative to the table: gaps positive, penetrations negative.
    offsets = [(0.02, 0.02), (-0.003, -0.001), (0.0, 0.0), (0.01, 0.0), (0.004, -0.002)]
    left = torch.stack([place_above(lv, -0.3, float(h) + a) for h, (a, _) in zip(height, offsets, strict=True)])
    right = torch.stack([place_above(rv, 0.3, float(h) + b) for h, (_, b) in zip(height, offsets, strict=True)])
    figures = measure_grasps(left, lf, right, rf, lambda p, rows: p[..., 2] - height[rows, None], chunk_size=2)

    expected_depth = torch.tensor([0.0, 0.003, 0.0, 0.0, 0.002])
    expected_left_gap = torch.tensor([0.02, 0.0, 0.0, 0.01, 0.004])
    expected_right_gap = torch.tensor([0.02, 0.0, 0.0, 0.0, 0.0])
    assert torch.allclose(figures.hand_object_depth, expected_depth, atol=1e-6)
    assert torch.allclose(figures.left_gap, expected_left_gap, atol=1e-6)
    assert torch.allclose(figures.right_gap, expected_right_gap, atol=1e-6)
    assert torch.equal(figures.hand_hand_depth, torch.zeros(5))  # 60 cm apart
    assert figures.both_in_contact.tolist() == [False, True, True, False, True]

    plausibility = figures.plausibility
    assert ((plausibility >= 0) & (plausibility <= 1)).all()
    assert float(plausibility[2]) == pytest.approx(1.0, abs=1e-5)  # touching, not penetrating
    assert float(plausibility[0]) < 0.1  # both hands 2 cm away: exp(-4)
    assert float(plausibility[1]) == pytest.approx(math.exp(-0.003 / 0.005), rel=1e-4)
    # No normals given: the press imbalance is unknown and the score is the plausibility's power alone.
    assert figures.press_imbalance.isnan().all()
    assert torch.allclose(figures.score, plausibility.pow(PLAUSIBILITY_POWER))


def test_score_falls_with_penetration_and_with_gap(hands: tuple[torch.Tensor, ...]) -> None:
    lv, lf, rv, rf = hands
    depths = [0.0, 0.001, 0.002, 0.004, 0.008]
    left = torch.stack([place_above(lv, -0.3, -d) for d in depths])
    right = torch.stack([place_above(rv, 0.3, 0.0) for _ in depths])
    figures = measure_grasps(left, lf, right, rf, lambda p, rows: p[..., 2])
    assert torch.allclose(figures.hand_object_depth, torch.tensor(depths), atol=1e-6)
    assert (figures.score[1:] < figures.score[:-1]).all()
    assert (figures.plausibility[1:] < figures.plausibility[:-1]).all()

    gaps = [0.0, 0.002, 0.004, 0.008]
    left = torch.stack([place_above(lv, -0.3, g) for g in gaps])
    right = torch.stack([place_above(rv, 0.3, g) for g in gaps])
    figures = measure_grasps(left, lf, right, rf, lambda p, rows: p[..., 2])
    assert (figures.score[1:] < figures.score[:-1]).all()
    assert figures.both_in_contact.tolist() == [g <= CONTACT_THRESHOLD_M for g in gaps]


def test_opposing_presses_score_above_presses_the_same_way(hands: tuple[torch.Tensor, ...]) -> None:
    """A ball clamped from above and below (presses cancel) against both hands resting on top (they add up)."""
    lv, lf, rv, rf = hands
    radius = 0.06

    def ball(p: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return p.norm(dim=-1) - radius

    def outward(p: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(p, dim=-1)

    top_left = place_extreme(lv, (-0.02, 0.0, radius), -1.0)
    top_right = place_extreme(rv, (0.02, 0.0, radius), -1.0)
    below_left = place_extreme(lv, (0.0, 0.0, -radius), 1.0)
    left, right = torch.stack([below_left, top_left]), torch.stack([top_right, top_right])
    figures = measure_grasps(left, lf, right, rf, ball, object_normal=outward)
    clamp, same_way = figures.press_imbalance.tolist()
    assert clamp < 0.5  # nearly opposite presses, close to the line through the centre
    assert same_way > 1.5  # two downward presses: a net force of almost 2 unit normals
    assert float(figures.score[0]) > float(figures.score[1])


def test_hand_hand_depth_is_the_interaction_measure(hands: tuple[torch.Tensor, ...]) -> None:
    lv, lf, rv, rf = hands
    # Two overlapping hands (the right one pushed into the left from above) and two apart.
    left = torch.stack([place_above(lv, 0.0, 0.0)] * 2)
    right = torch.stack([place_above(rv, 0.12, 0.005), place_above(rv, 0.5, 0.0)])
    figures = measure_grasps(left, lf, right, rf, lambda p, rows: p[..., 2] + 1.0)
    assert torch.equal(figures.hand_hand_depth, penetration_depth(left, lf, right, rf))
    assert float(figures.hand_hand_depth[0]) > 0.001
    assert float(figures.hand_hand_depth[1]) == 0.0


def test_a_ball_analytic_and_from_its_cloud(hands: tuple[torch.Tensor, ...]) -> None:
    lv, lf, rv, rf = hands
    radius = 0.08
    # Right hand on top, its lowest vertex 4 mm into the ball; left hand underneath, 3 cm off it.
    right = place_extreme(rv, (0.0, 0.0, radius - 0.004), -1.0)[None]
    left = place_extreme(lv, (0.0, 0.0, -radius - 0.03), 1.0)[None]
    analytic = measure_grasps(left, lf, right, rf, lambda p, rows: p.norm(dim=-1) - radius)
    assert float(analytic.hand_object_depth[0]) == pytest.approx(0.004, abs=1e-6)
    assert float(analytic.left_gap[0]) == pytest.approx(0.03, abs=1e-6)
    assert float(analytic.right_gap[0]) == 0.0
    assert not bool(analytic.both_in_contact[0])
    assert float(analytic.score[0]) < 1.0

    # The same figures from a dense cloud of the ball agree to within the cloud's spacing.
    cloud, normals = fibonacci_sphere(4000, radius)
    spacing = math.sqrt(4 * math.pi * radius**2 / 4000)
    estimated = measure_grasps(left, lf, right, rf, lambda p, rows: cloud_signed_distance(p, cloud, normals))
    assert float(estimated.hand_object_depth[0]) == pytest.approx(0.004, abs=spacing)
    assert float(estimated.left_gap[0]) == pytest.approx(0.03, abs=spacing)
    assert float(estimated.right_gap[0]) == 0.0


def test_cloud_signed_distance_matches_a_ball() -> None:
    radius = 0.1
    cloud, normals = fibonacci_sphere(2000, radius)
    spacing = math.sqrt(4 * math.pi * radius**2 / 2000)  # about 8 mm
    gen = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(200, 3, generator=gen), dim=-1)
    radii = torch.tensor([0.0, 0.03, 0.07, 0.09, 0.11, 0.13, 0.2]).repeat_interleave(200 // 7 + 1)[:200]
    points = (directions * radii[:, None])[None]
    d = cloud_signed_distance(points, cloud, normals)[0]
    truth = radii - radius
    assert (d[radii <= 0.09] < 0).all()
    assert (d[radii >= 0.11] > 0).all()
    # Magnitude: the nearest cloud point is no nearer than the surface and at most about half a
    # spacing further along it.
    assert (d.abs() >= truth.abs() - 1e-5).all()
    assert (d.abs() <= truth.abs() + spacing).all()
    # Batched queries against one shared cloud.
    assert cloud_signed_distance(points.expand(3, -1, -1), cloud, normals).shape == (3, 200)


def test_statistics_of_hand_made_figures() -> None:
    figures = GraspFigures(
        hand_object_depth=torch.tensor([0.0, 0.001, 0.002, 0.003, 0.004]),
        hand_hand_depth=torch.tensor([0.0, 0.0, 0.0, 0.0, 0.005]),
        left_gap=torch.tensor([0.0, 0.004, 0.006, 0.0, 0.0]),
        right_gap=torch.tensor([0.0, 0.0, 0.0, 0.01, 0.005]),
        press_imbalance=torch.tensor([0.0, 1.0, float("nan"), 2.0, 0.5]),
    )
    stats = grasp_statistics(figures)
    assert stats.count == 5
    assert stats.mean_hand_object_mm == pytest.approx(2.0)
    assert stats.p95_hand_object_mm == pytest.approx(3.8)  # linear interpolation at rank 3.8
    assert stats.mean_hand_hand_mm == pytest.approx(1.0)
    assert stats.p95_hand_hand_mm == pytest.approx(4.0)
    assert stats.contact_ratio == pytest.approx(0.6)  # rows 0, 1 and 4 (5 mm is still contact)

    def score(ho: float, hh: float, gl: float, gr: float, imbalance: float) -> float:
        plausibility = math.exp(-(ho + hh) / 0.005) * 0.5 * (math.exp(-gl / 0.005) + math.exp(-gr / 0.005))
        balance = 1.0 if math.isnan(imbalance) else math.exp(-imbalance)
        return plausibility**PLAUSIBILITY_POWER * balance

    rows = zip(*(getattr(figures, f).tolist() for f in figures.__dataclass_fields__), strict=True)
    assert stats.mean_score == pytest.approx(sum(score(*r) for r in rows) / 5, rel=1e-5)
    assert stats.as_dict()["count"] == 5
    assert "5 grasps" in stats.summary()
    picked = figures.select(torch.tensor([4, 0]))
    assert picked.hand_hand_depth.tolist() == pytest.approx([0.005, 0.0])


def test_empty_input_is_refused(hands: tuple[torch.Tensor, ...]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        grasp_statistics(GraspFigures(*[torch.zeros(0)] * 5))
    lv, lf, rv, rf = hands
    with pytest.raises(ValueError, match="same, non-zero"):
        measure_grasps(lv[:0][None][:0], lf, rv[None][:0], rf, lambda p, rows: p[..., 2])
    with pytest.raises(ValueError, match="same, non-zero"):
        measure_grasps(lv[None], lf, torch.stack([rv, rv]), rf, lambda p, rows: p[..., 2])


def test_object_penetration_loss(hands: tuple[torch.Tensor, ...]) -> None:
    _, _, rv, rf = hands
    radius = 0.1
    cloud, normals = fibonacci_sphere(3000, radius)
    hand = rv - rv.mean(0)

    def on_ball(depth: float) -> torch.Tensor:
        """The hand on top of the ball, its lowest vertex ``depth`` below the top (negative: above)."""
        return place_extreme(hand, (0.0, 0.0, radius - depth), -1.0)

    vertices = torch.stack([on_ball(-0.03), on_ball(0.01)])  # 3 cm above; 1 cm into the ball
    points, point_normals = cloud.expand(2, -1, -1), normals.expand(2, -1, -1)
    loss = object_penetration_loss(vertices, rf, points, point_normals, band=0.02)
    assert loss.shape == (2,)
    assert float(loss[0]) == 0.0
    assert float(loss[1]) > 0.0
    # A narrower band drops the deeper vertices: less loss, but the shallow ones still count.
    narrow = object_penetration_loss(vertices, rf, points, point_normals, band=0.002)
    assert 0.0 < float(narrow[1]) < float(loss[1])

    # A hand deep inside a 50 cm ball: every depth exceeds the band, so nothing counts (a
    # one-sided cloud's "inside" that far is not trustworthy); with a wide band it does.
    big, big_normals = fibonacci_sphere(3000, 0.5)
    deep = hand[None]
    assert float(object_penetration_loss(deep, rf, big[None], big_normals[None], band=0.05)[0]) == 0.0
    assert float(object_penetration_loss(deep, rf, big[None], big_normals[None], band=1.0)[0]) > 0.0

    # Differentiable: the gradient pushes the penetrating hand up, out of the ball.
    moving = vertices[1:].clone().requires_grad_(True)
    object_penetration_loss(moving, rf, points[1:], point_normals[1:], band=0.02).sum().backward()
    assert moving.grad is not None and float(moving.grad[0, :, 2].sum()) < 0.0
