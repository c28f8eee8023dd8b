"""PriorTarget (Eq. 9's target re-taken only when the state moved) against the reference, re-taken every
frame (prior_reuse_distance 0), on a stream."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from two_hand_scenes import apart, mpjpe_mm, with_noise

FRAMES = 12


def streamed(refiner: HandPriorRefiner, left: torch.Tensor, right: torch.Tensor) -> RefinedHands:
    return RefinedHands.cat([refiner.step(TwoHandObservation.from_keypoints(left[i], right[i])) for i in range(FRAMES)])


def test_a_slow_stream_reuses_the_target_and_stays_with_the_reference(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    truth = apart(layers, FRAMES, seed=3, drift_m=0.01)  # carried 1 cm, articulation fixed
    left, right = with_noise(truth.left_keypoints, 0.001, 4), with_noise(truth.right_keypoints, 0.001, 5)
    reference = HandPriorRefiner(model, RefinerConfig(prior_reuse_distance=0.0))
    fast = HandPriorRefiner(model, RefinerConfig(prior_reuse_distance=0.3))
    slow_out, fast_out = streamed(reference, left, right), streamed(fast, left, right)
    # The first frame starts fresh (its solve takes the target itself); every later one takes it here.
    assert reference.prior_target.evaluations == FRAMES - 1
    assert fast.prior_target.evaluations < (FRAMES - 1) / 2, fast.prior_target.evaluations
    for a, b in (
        (fast_out.left_keypoints, slow_out.left_keypoints),
        (fast_out.right_keypoints, slow_out.right_keypoints),
    ):
        assert mpjpe_mm(a, b) < 1.0


def test_a_restart_forgets_the_target(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    truth = apart(layers, FRAMES, seed=6, drift_m=0.01)
    refiner = HandPriorRefiner(model, replace(RefinerConfig(), prior_reuse_distance=1e6))  # would reuse forever
    streamed(refiner, truth.left_keypoints, truth.right_keypoints)
    assert refiner.prior_target.evaluations == 1
    refiner.reset()
    streamed(refiner, truth.left_keypoints, truth.right_keypoints)
    assert refiner.prior_target.evaluations == 2  # taken afresh after the restart, then reused
