"""Eq. 9 as a frozen critic: the formula, the detach, batch independence and determinism."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HAND_DIM, HandParams
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.representation import scene_to_pair
from interhandgen_core.prior.sampler import DenoiseFn
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.refinement.prior_term import (
    PLACEMENT_RANGE_STD,
    antithetic_noise,
    forward_reverse_estimate,
    prior_regularizer,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, TINY_DIFFUSION, tiny_normalizer

TIMESTEP = 10
# Rows: both hands, left only, right only, no hand.
HAS_LEFT = torch.tensor([True, True, False, False])
HAS_RIGHT = torch.tensor([True, False, True, False])


def _hands(seed: int, batch: int = 4) -> tuple[Tensor, Tensor]:
    """(left, right) hand vectors (B, 64) of two hands about 10 cm apart, random pose, shape and root."""
    generator = torch.Generator().manual_seed(seed)

    def one(offset: float) -> Tensor:
        rotation = axis_angle_to_matrix(torch.randn(batch, 3, generator=generator))
        translation = torch.tensor([0.0, offset, 0.4]) + 0.02 * torch.randn(batch, 3, generator=generator)
        params = HandParams(
            0.3 * torch.randn(batch, 45, generator=generator),
            0.5 * torch.randn(batch, 10, generator=generator),
            rotation,
            translation,
        )
        return params.to_vector()

    return one(-0.05), one(0.05)


@pytest.fixture(scope="module")
def denoiser() -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(TINY_CONFIG).eval()


def _regularizer(denoise: DenoiseFn, left: Tensor, right: Tensor, noise: Tensor, rows: slice = slice(None)) -> Tensor:
    return prior_regularizer(
        denoise,
        DiffusionSchedule(TINY_DIFFUSION),
        tiny_normalizer(),
        HandParams.from_vector(left[rows]),
        HandParams.from_vector(right[rows]),
        HAS_LEFT[rows],
        HAS_RIGHT[rows],
        TIMESTEP,
        noise,
    )


def test_the_value_is_eq9_with_the_denoisers_estimate() -> None:
    left, right = _hands(0)
    generator = torch.Generator().manual_seed(1)
    estimate = torch.randn(8, HAND_DIM, generator=generator)
    seen: list[Tensor] = []

    def denoise(x_t: Tensor, t: Tensor, cond: Tensor, mask: Tensor, obj: Tensor | None) -> Tensor:
        seen.append(t)
        return estimate.clone()

    noise = torch.randn(1, 2, HAND_DIM, generator=generator)  # one draw
    value = _regularizer(denoise, left, right, noise)
    assert torch.equal(seen[0], torch.full((8,), TIMESTEP))

    # The formula, built from the scene representation (representation.py) rather than the term's code.
    normalizer = tiny_normalizer()
    left_p, right_p = HandParams.from_vector(left), HandParams.from_vector(right)
    other_raw, gamma_left = scene_to_pair(left_p, right_p)
    anchor_raw = torch.where(HAS_LEFT[:, None], gamma_left, right_p.canonical().to_vector())
    anchor, other = normalizer.normalize(anchor_raw), normalizer.normalize(other_raw)
    anchor_term = (anchor - estimate[:4])[:, :55].pow(2).mean(-1)
    other_term = (other - estimate[4:]).pow(2).mean(-1)
    expected = torch.stack([anchor_term[0] + other_term[0], anchor_term[1], anchor_term[2], torch.tensor(0.0)])
    torch.testing.assert_close(value, expected, atol=1e-5, rtol=1e-5)
    assert value[3] == 0.0

    # The anchor's root is canonical by construction: the estimate's root dims do not count.
    changed = estimate.clone()
    changed[:4, 55:] += 3.0
    estimate_root_moved = _regularizer(lambda *args: changed.clone(), left, right, noise)
    torch.testing.assert_close(estimate_root_moved, value, atol=0, rtol=0)


def test_the_gradient_reaches_the_hands_but_not_the_denoiser(denoiser: Denoiser) -> None:
    assert all(p.requires_grad for p in denoiser.parameters())
    left, right = (v.clone().requires_grad_(True) for v in _hands(2))
    noise = antithetic_noise(4, torch.Generator().manual_seed(3))
    value = _regularizer(denoiser, left, right, noise)
    value.sum().backward()
    assert all(p.grad is None for p in denoiser.parameters())  # the estimate is a constant target
    assert left.grad is not None and right.grad is not None
    assert torch.isfinite(left.grad).all() and torch.isfinite(right.grad).all()
    # Rows whose hand is judged get a gradient, a hand that is absent from its row none.
    assert (left.grad[:2, :55].abs().sum(-1) > 0).all()
    assert (right.grad[[0, 2], :55].abs().sum(-1) > 0).all()
    assert torch.equal(left.grad[2:], torch.zeros(2, HAND_DIM))
    assert torch.equal(right.grad[[1, 3]], torch.zeros(2, HAND_DIM))


def test_a_batch_equals_its_rows_one_by_one(denoiser: Denoiser) -> None:
    left, right = _hands(4)
    noise = antithetic_noise(4, torch.Generator().manual_seed(5))
    with torch.no_grad():
        batched = _regularizer(denoiser, left, right, noise)
        rows = [_regularizer(denoiser, left, right, noise, slice(i, i + 1)) for i in range(4)]
    torch.testing.assert_close(batched, torch.cat(rows), atol=1e-5, rtol=1e-5)
    assert (batched[:3] > 0).all()
    assert batched[3] == 0.0


def test_fixed_noise_makes_it_deterministic(denoiser: Denoiser) -> None:
    left, right = _hands(6)
    noise = torch.randn(1, 2, HAND_DIM, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        first = _regularizer(denoiser, left, right, noise)
        again = _regularizer(denoiser, left, right, noise.clone())
        other = _regularizer(denoiser, left, right, -noise)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert (other[:3] - first[:3]).abs().min() > 1e-6  # the noise does enter, so fixing it is what matters


def test_a_one_hand_row_does_not_depend_on_the_absent_hand(denoiser: Denoiser) -> None:
    left, right = _hands(8)
    moved_left, moved_right = _hands(9)
    noise = antithetic_noise(4, torch.Generator().manual_seed(10))
    with torch.no_grad():
        base = _regularizer(denoiser, left, right, noise)
        # Row 1 has no right hand, row 2 no left hand, row 3 neither: replace the absent ones.
        new_right = right.clone()
        new_right[[1, 3]] = moved_right[[1, 3]]
        new_left = left.clone()
        new_left[[2, 3]] = moved_left[[2, 3]]
        changed = _regularizer(denoiser, new_left, new_right, noise)
    torch.testing.assert_close(changed[1:], base[1:], atol=1e-6, rtol=0)


def test_antithetic_draws_average_the_estimate() -> None:
    left, right = _hands(11)
    noise = antithetic_noise(2, torch.Generator().manual_seed(12))
    assert torch.equal(noise[1], -noise[0])
    first, second = torch.randn(8, HAND_DIM), torch.randn(8, HAND_DIM)
    calls = iter([torch.cat([first, second])])
    averaged = _regularizer(lambda *args: next(calls), left, right, noise)
    mean_only = _regularizer(lambda *args: (first + second) / 2, left, right, noise[:1])
    torch.testing.assert_close(averaged, mean_only, atol=1e-6, rtol=1e-6)


def test_a_hand_metres_away_is_shown_to_the_denoiser_at_the_edge_of_the_data(denoiser: Denoiser) -> None:
    """Issue 21: the other hand's translation is clamped to PLACEMENT_RANGE_STD before the denoiser sees it, so
    that a hand far outside the data (a tracker's jump) gets the articulation estimate of the data's edge."""
    generator = torch.Generator().manual_seed(13)
    states = torch.randn(6, HAND_DIM, generator=generator).clamp(-2, 2)  # 3 anchors, then 3 other hands
    noise = antithetic_noise(2, torch.Generator().manual_seed(14))
    schedule = DiffusionSchedule(TINY_DIFFUSION)

    def estimate_with_other_at(normalised_translation: float) -> Tensor:
        moved = states.clone()
        moved[3:, 61:64] = normalised_translation
        return forward_reverse_estimate(denoiser, schedule, moved, TIMESTEP, noise)

    edge = estimate_with_other_at(PLACEMENT_RANGE_STD)
    torch.testing.assert_close(estimate_with_other_at(200.0), edge, atol=0, rtol=0)  # 10 m at 5 cm std
    assert (estimate_with_other_at(0.5 * PLACEMENT_RANGE_STD)[3:] - edge[3:]).abs().max() > 1e-4  # inside: as is
