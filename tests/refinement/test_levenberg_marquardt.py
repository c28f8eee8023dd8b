"""LevenbergMarquardtSolver (the stream's solver) against its references: the objective's least-squares form
against RefinementObjective itself, its difference Jacobian against autograd, and its minimum against
L-BFGS (HandsSolver.solve) on the same frames, hands apart and hands through each other."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.levenberg_marquardt import LevenbergMarquardtSolver, _as_double
from interhandgen_core.refinement.objective import FrameTargets
from interhandgen_core.refinement.refiner import HandPriorRefiner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from two_hand_scenes import Scene, apart, overlapping, scene_of, with_noise


def frame(refiner: HandPriorRefiner, scene: Scene, start: tuple[HandParams, HandParams], seed: int) -> FrameTargets:
    """A stream's frame: the scene's keypoints with 5 mm of noise and uneven confidence, a smoothness target,
    Eq. 9's target fixed at ``start``, every row near (the penetration term on)."""
    batch = scene.left_keypoints.shape[0]
    generator = torch.Generator().manual_seed(seed)
    yes = torch.ones(batch, dtype=torch.bool)
    targets = FrameTargets(
        with_noise(scene.left_keypoints, 0.005, seed),
        with_noise(scene.right_keypoints, 0.005, seed + 1),
        0.5 + 0.5 * torch.rand(batch, 21, generator=generator),
        0.5 + 0.5 * torch.rand(batch, 21, generator=generator),
        yes,
        yes,
        with_noise(scene.left_keypoints, 0.003, seed + 2),
        with_noise(scene.right_keypoints, 0.003, seed + 3),
        yes,
        yes,
        yes,
        yes,
        near=yes,
    )
    targets.prior_estimate, targets.placement = refiner.objective.prior_estimate(*start, targets)
    return targets


def perturbed(scene: Scene, seed: int) -> tuple[HandParams, HandParams]:
    """The scene's hands moved off it: finger angles, shape, rotation and 1 cm of translation."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for hand in (scene.left, scene.right):
        vector = hand.to_vector()
        noise = torch.randn(vector.shape, generator=generator)
        noise[:, :45] *= 0.1
        noise[:, 45:55] *= 0.3
        noise[:, 55:61] *= 0.05
        noise[:, 61:] *= 0.01
        out.append(HandParams.from_vector(vector + noise))
    return out[0], out[1]


def objective_value(
    refiner: HandPriorRefiner, hands: tuple[HandParams, HandParams], targets: FrameTargets
) -> torch.Tensor:
    with torch.no_grad():
        return refiner.objective(*hands, targets)


def test_residuals_square_to_the_objective(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    """Every term but penetration, as residuals: their squares sum to the objective's value per row."""
    refiner = HandPriorRefiner(model, RefinerConfig(penetration_weight=0.0, smoothness_weight=0.3))
    scene = apart(layers, 3, seed=1)
    start = perturbed(scene, seed=2)
    targets = frame(refiner, scene, start, seed=3)
    with torch.no_grad():
        residuals = refiner.objective.residuals(*start, targets)
    torch.testing.assert_close(residuals.pow(2).sum(-1), objective_value(refiner, start, targets), rtol=1e-5, atol=0)


def test_penetration_pairs_are_eq7(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    """The pairs' weighted total is the objective's penetration term and their depth at most its deepest vertex's
    distance; the pairs' residuals (depth along the normal, reweighted) square to w d0 / 2V at that state."""
    refiner = HandPriorRefiner(model, RefinerConfig(prior_weight=0.0))
    scene = overlapping(layers)
    near = torch.ones(2, dtype=torch.bool)
    pairs, total, deepest = refiner.objective.penetration_pairs(scene.left, scene.right, near)
    assert pairs is not None and bool((total > 0).all())
    targets = frame(refiner, scene, (scene.left, scene.right), seed=0)
    with torch.no_grad():
        terms = refiner.objective.terms(scene.left, scene.right, targets)
        residuals = refiner.objective.residuals(scene.left, scene.right, targets, pairs)
    torch.testing.assert_close(total, refiner.config.penetration_weight * terms["penetration"], rtol=1e-5, atol=0)
    assert bool(
        (deepest > 0.001).all() and (deepest <= refiner.objective.deepest_penetration(scene.left, scene.right)).all()
    )
    pair_part = residuals[:, -pairs.factor.shape[1] :]
    # w d0 / 2V per pair (the depth d0 in place of Eq. 7's distance, never larger): at most half of Eq. 7.
    assert bool(((pair_part.pow(2).sum(-1) > 0) & (pair_part.pow(2).sum(-1) <= total / 2 * (1 + 1e-5))).all())
    _, nothing, none_deep = refiner.objective.penetration_pairs(scene.left, scene.right, ~near)
    assert torch.equal(nothing, torch.zeros(2)) and torch.equal(none_deep, torch.zeros(2))


def test_difference_jacobian_matches_autograd(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    """The forward-difference Jacobian (one batched evaluation) against autograd's, with Eq. 7's pairs in."""
    refiner = HandPriorRefiner(model)
    solver = LevenbergMarquardtSolver(refiner.objective)
    solver._double.config = refiner.config
    scene = overlapping(layers, batch=1)
    targets = frame(refiner, scene, (scene.left, scene.right), seed=5)
    double = _as_double(targets)
    base = torch.stack([scene.left.to_vector(), scene.right.to_vector()]).double()
    mask = torch.ones(1, 128, dtype=torch.float64)
    u = 0.1 * torch.randn(1, 128, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    here = solver._linearised(base, u, mask, double)
    pairs, _, _ = solver._pairs(base, u, mask, double)
    assert pairs is not None

    def residuals(v: torch.Tensor) -> torch.Tensor:
        return solver._double.residuals(*solver._state(base, v, mask), double, pairs)[0]

    exact = torch.autograd.functional.jacobian(residuals, u)[:, 0]  # (R, N)
    scale = exact.abs().max()
    assert float((here.jacobian[0] - exact).abs().max()) < 1e-5 * float(scale)
    torch.testing.assert_close(here.residual[0], residuals(u))


def test_an_evaluation_from_one_mesh_forward_equals_the_residuals_and_the_pairs_apart(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    """_evaluated (keypoints and pair vertices from one forward of each mesh) against the residuals from the
    keypoint pass plus penetration_pairs (the reference): the same E, deepest vertex and pairs; for hands apart
    with the penetration term off (no row near) too."""
    refiner = HandPriorRefiner(model)
    solver = LevenbergMarquardtSolver(refiner.objective)
    solver._double.config = refiner.config
    for scene, near in ((overlapping(layers, batch=2), True), (apart(layers, batch=2, seed=3), False)):
        double = _as_double(frame(refiner, scene, (scene.left, scene.right), seed=7))
        double = replace(double, near=torch.full((2,), near))
        base = torch.stack([scene.left.to_vector(), scene.right.to_vector()]).double()
        mask = torch.ones(base.shape[1], 128, dtype=torch.float64)
        u = 0.1 * torch.randn(base.shape[1], 128, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
        fast = solver._evaluated(base, u, mask, double)
        with torch.no_grad():
            residual = solver._double.residuals(*solver._state(base, u, mask), double)
        pairs, total, deepest = solver._pairs(base, u, mask, double)
        # The keypoint pass's rest joints were regressed in float32 when the layer was made: its keypoints lie
        # about 10 nm from the mesh forward's, a relative 1e-8 of E.
        torch.testing.assert_close(fast.cost, residual.pow(2).sum(-1) + total, rtol=1e-7, atol=0)
        torch.testing.assert_close(fast.deepest, deepest, rtol=0, atol=1e-12)
        fast_pairs = fast.pairs[0]
        assert (fast_pairs is None) == (pairs is None)
        if pairs is not None and fast_pairs is not None:
            assert torch.equal(fast_pairs.left_ids, pairs.left_ids) and torch.equal(
                fast_pairs.right_ids, pairs.right_ids
            )
            torch.testing.assert_close(fast_pairs.factor, pairs.factor, rtol=0, atol=1e-12)


def test_each_hand_evaluated_on_its_own_columns_equals_every_state(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    """_points_by_hand (each hand on the base and its own columns, gathered) against hand_points on all N + 1
    states of two rows, with Eq. 7's pairs' vertices: the same points."""
    refiner = HandPriorRefiner(model)
    solver = LevenbergMarquardtSolver(refiner.objective)
    scene = overlapping(layers, batch=2)
    targets = _as_double(frame(refiner, scene, (scene.left, scene.right), seed=5))
    base = torch.stack([scene.left.to_vector(), scene.right.to_vector()]).double()
    mask = torch.ones(2, 128, dtype=torch.float64)
    u = 0.1 * torch.randn(2, 128, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    pairs, _, _ = solver._pairs(base, u, mask, targets)
    assert pairs is not None
    states = torch.cat([u[None], u[None] + 1e-3 * torch.eye(128, dtype=torch.float64)[:, None]]).reshape(-1, 128)
    vectors = solver._vectors(base, states, mask)
    gathered = solver._points_by_hand(vectors, pairs, batch=2)
    every = solver._double.hand_points(HandParams.from_vector(vectors[0]), HandParams.from_vector(vectors[1]), pairs)
    for a, b in zip(gathered, every, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_an_interrupt_ends_the_solve_after_the_iteration_it_answers_true_and_keeps_the_best_state(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    """interrupt(): asked after each iteration but the last; True after the first gives the state of iterations=1
    and an objective no higher than at the start, after the second that of iterations=2; never True, no change."""
    refiner = HandPriorRefiner(model)
    scene = overlapping(layers, batch=1)
    start = perturbed(scene, seed=8)
    targets = frame(refiner, scene, start, seed=9)
    free = torch.ones(2, 1, dtype=torch.bool)
    solve = refiner.stream_solver.solve
    asked: list[int] = []

    def after(count: int) -> Callable[[], bool]:
        def interrupt() -> bool:
            asked.append(1)
            return len(asked) >= count

        return interrupt

    for count in (1, 2):
        asked.clear()
        stopped = solve(*start, free, replace(targets), 8, interrupt=after(count))
        assert len(asked) == count
        for a, b in zip(stopped, solve(*start, free, replace(targets), count), strict=True):
            torch.testing.assert_close(a.to_vector(), b.to_vector(), rtol=0, atol=0)
        assert float(objective_value(refiner, stopped, targets)[0]) <= float(
            objective_value(refiner, start, targets)[0]
        )
    never = solve(*start, free, replace(targets), 8, interrupt=lambda: False)
    for a, b in zip(never, solve(*start, free, replace(targets), 8), strict=True):
        torch.testing.assert_close(a.to_vector(), b.to_vector(), rtol=0, atol=0)


def test_reaches_the_minimum_lbfgs_finds(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    """Hands apart, from the same start, to convergence: the objective ends no higher than L-BFGS's."""
    refiner = HandPriorRefiner(model, RefinerConfig(converged_decrease=0.0))
    scene = apart(layers, 2, seed=7)
    start = perturbed(scene, seed=8)
    targets = frame(refiner, scene, start, seed=9)
    free = torch.ones(2, 2, dtype=torch.bool)
    first = objective_value(refiner, start, targets)
    reference = objective_value(refiner, refiner.solver.solve(*start, free, replace(targets), 200), targets)
    fast = objective_value(refiner, refiner.stream_solver.solve(*start, free, replace(targets), 30), targets)
    assert bool((fast < 0.5 * first).all()), (first, fast)
    assert bool((fast <= reference * 1.02 + 1e-3).all()), (fast, reference)


def test_hands_through_each_other_come_apart_like_the_reference(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    """Palms 1 cm through each other, a start no stream meets (a frame starts where the last one ended): the
    exact depth (winding numbers) falls well below a solve without the penetration term, and the objective,
    on the two rows together, ends within 10% of L-BFGS's. Eq. 7 is discontinuous (a vertex that crosses the
    other surface adds its whole distance to the nearest vertex) and neither solver reaches its minimum: on
    row 1 Levenberg-Marquardt ends lower, on row 0 higher, with the palms still 6.5 mm deep where L-BFGS
    left 1.1 mm (printed with -s)."""
    refiner = HandPriorRefiner(model, RefinerConfig(converged_decrease=0.0))
    scene = overlapping(layers)
    start = perturbed(scene, seed=8)
    targets = frame(refiner, scene, start, seed=9)
    free = torch.ones(2, 2, dtype=torch.bool)
    reference = refiner.solver.solve(*start, free, replace(targets), 200)
    fast = refiner.stream_solver.solve(*start, free, replace(targets), 30)
    refiner.reconfigure(replace(refiner.config, penetration_weight=0.0))
    without = refiner.stream_solver.solve(*start, free, replace(targets), 30)
    refiner.reconfigure(replace(refiner.config, penetration_weight=RefinerConfig().penetration_weight))
    depths = [depth(layers, hands) for hands in (fast, reference, without)]
    assert bool((depths[2] > 0.005).all()), depths  # the premise: the keypoints alone leave them through each other
    print(
        "exact depth, mm: Levenberg-Marquardt",
        depths[0] * 1000,
        "L-BFGS",
        depths[1] * 1000,
        "no term",
        depths[2] * 1000,
    )
    assert bool((depths[0] < 0.7 * depths[2]).all()), depths
    assert float(depths[0].mean()) < float(depths[2].mean()) / 4, depths
    fast_value, reference_value = (objective_value(refiner, hands, targets).sum() for hands in (fast, reference))
    assert float(fast_value) <= 1.1 * float(reference_value), (fast_value, reference_value)


def depth(layers: tuple[HandLayer, HandLayer], hands: tuple[HandParams, HandParams]) -> torch.Tensor:
    """(B,) metres: the exact penetration depth of the two hands (contact/interaction.py)."""
    scene = scene_of(layers, hands)
    return penetration_depth(scene.left_vertices, layers[0].faces, scene.right_vertices, layers[1].faces)


def test_held_hands_do_not_move_and_a_few_iterations_lower_the_objective(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    refiner = HandPriorRefiner(model)
    scene = apart(layers, 2, seed=10)
    start = perturbed(scene, seed=11)
    targets = frame(refiner, scene, start, seed=12)
    free = torch.tensor([[True, False], [False, True]])  # row 0: the left hand moves; row 1: the right
    left, right = refiner.stream_solver.solve(*start, free, replace(targets), 3)
    assert torch.equal(left.to_vector()[1], start[0].to_vector()[1])
    assert torch.equal(right.to_vector()[0], start[1].to_vector()[0])
    assert bool((objective_value(refiner, (left, right), targets) < objective_value(refiner, start, targets)).all())
