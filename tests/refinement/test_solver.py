"""HandsSolver.solve_staged (penetration only where the first stage's result interpenetrates) against the
reference, ``solve`` with the penetration term on throughout, through HandPriorRefiner.refine."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from two_hand_scenes import Scene, apart, overlapping, scene_of

CONFIG = RefinerConfig(batch_iterations=20)


def reference(model: InterHandGen) -> HandPriorRefiner:
    """A refiner whose solves keep the penetration term on every row throughout (the slow path)."""
    refiner = HandPriorRefiner(model, CONFIG)
    solver = refiner.solver
    solver.solve_staged = lambda left, right, free, targets, iterations: solver.solve(  # type: ignore[method-assign]
        left, right, free, replace(targets, near=None), iterations
    )
    return refiner


def refined(refiner: HandPriorRefiner, scene: Scene) -> RefinedHands:
    return refiner.refine(TwoHandObservation.from_keypoints(scene.left_keypoints, scene.right_keypoints))


def depth(layers: tuple[HandLayer, HandLayer], out: RefinedHands) -> torch.Tensor:
    scene = scene_of(layers, (out.left, out.right))
    return penetration_depth(scene.left_vertices, layers[0].faces, scene.right_vertices, layers[1].faces)


def test_hands_apart_get_the_reference_solution(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    scene = apart(layers, 3, seed=2)
    fast, slow = refined(HandPriorRefiner(model, CONFIG), scene), refined(reference(model), scene)
    torch.testing.assert_close(fast.left_keypoints, slow.left_keypoints, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast.right_keypoints, slow.right_keypoints, atol=1e-5, rtol=0)


def test_interpenetrating_hands_are_pushed_apart_like_the_reference(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    scene = overlapping(layers)
    fast, slow = refined(HandPriorRefiner(model, CONFIG), scene), refined(reference(model), scene)
    without = depth(layers, refined(HandPriorRefiner(model, replace(CONFIG, penetration_weight=0.0)), scene))
    fast_depth, slow_depth = depth(layers, fast), depth(layers, slow)
    assert (without > 0.005).all()  # the premise: the keypoints alone leave the palms through each other
    assert (fast_depth < 0.7 * without).all() and (fast_depth < slow_depth + 0.002).all(), (fast_depth, slow_depth)
    for a, b in ((fast.left_keypoints, slow.left_keypoints), (fast.right_keypoints, slow.right_keypoints)):
        assert float((a - b).norm(dim=-1).mean()) < 0.005  # both fit the same keypoints, within 5 mm
