"""The trained prior as a frozen critic of a two-hand state (paper 3.5, Eq. 9).

    L_reg = || S(D_phi, x_l, x_r) - (x_l, x_r) ||_2^2                        (Eq. 9)

Notation (paper -> code):
    (x_l, x_r)      the state being refined: the anchor in right-hand space, Gamma(canonical
                    left hand), and the right hand in the left hand's frame (representation.py),
                    both normalised -> ``anchor``, ``other``
    S(.)            one forward-reverse diffusion step: x_t = q(x | t, eps) (Eq. 3), then the
                    denoiser's x_0 estimate. Through the cascade (Algorithm 2): the anchor is
                    judged unconditionally, the other hand conditioned on the anchor
    detach          the estimate is a constant target (torch.no_grad): the gradient of L_reg
                    moves the state towards it and never flows through D_phi, as in SDS and BUDDI
    t, eps          ``timestep`` and ``noise``: fixed by the caller (RefinerConfig.prior_timestep,
                    noise drawn once), so that L_reg is a deterministic function of the state and
                    adds no jitter to a stream. One fixed eps would bias the estimate along -eps
                    (the part of the noise the denoiser cannot tell from the data), so S draws in
                    antithetic pairs (eps, -eps) are averaged: the bias cancels to first order
                    (``antithetic_noise``; not in the paper, which draws one eps per step)

A hand that is absent from a row is not judged: with one hand only, that hand is the
anchor (a right hand as itself, a left hand through Gamma) and the conditional term is off.
The anchor's root is canonical by construction, so only its pose and shape are compared.

The denoiser is shown the other hand's translation clamped to ``PLACEMENT_RANGE_STD`` standard
deviations of the training data (normalised units): it learnt articulation from interacting
hands only, and a hand metres away lies so far outside its data that its estimate of the
articulation is meaningless (a hand re-aligned to a tracker jumping 1 m per frame was driven to
its pose limits by it, issue 21). Placements inside the range are shown unchanged; not in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import BETAS, HAND_DIM, POSE, ROOT, TRANSL, HandParams
from interhandgen_core.prior.representation import Normalizer
from interhandgen_core.prior.sampler import DenoiseFn
from interhandgen_core.prior.schedule import DiffusionSchedule

_ANCHOR_DIMS = slice(POSE.start, BETAS.stop)
# Largest |normalised translation| of the other hand shown to the denoiser (see the module docstring).
PLACEMENT_RANGE_STD = 4.0


def pair_states(normalizer: Normalizer, left: HandParams, right: HandParams, has_left: Tensor) -> Tensor:
    """left, right HandParams (B,), world frame; has_left (B,) bool -> (2B, 64) normalised: the anchors
    (Gamma(canonical left), or the canonical right hand where there is no left one), then the right
    hands in the left hands' frames."""
    anchor_left = left.canonical().mirrored().to_vector()
    anchor_right = right.canonical().to_vector()
    anchor = normalizer.normalize(torch.where(has_left[:, None], anchor_left, anchor_right))
    other = normalizer.normalize(right.in_frame_of(left).to_vector())
    return torch.cat([anchor, other])


@torch.no_grad()
def forward_reverse_estimate(
    denoise: DenoiseFn, schedule: DiffusionSchedule, states: Tensor, timestep: int, noise: Tensor
) -> Tensor:
    """S(D_phi, x_l, x_r) of Eq. 9, detached: states (2B, 64) from ``pair_states``, noise (S, 2, 64)
    (``antithetic_noise``; index 1: anchor, other) -> (2B, 64) the denoiser's x_0 estimates averaged
    over the S draws; the anchors unconditional, the other hands conditioned on their anchors.
    The other hands' translations are clamped to the data's range first (module docstring)."""
    batch = states.shape[0] // 2
    states = states.clone()
    states[batch:, TRANSL] = states[batch:, TRANSL].clamp(-PLACEMENT_RANGE_STD, PLACEMENT_RANGE_STD)
    anchor = states[:batch]
    draws = noise.shape[0]
    repeated = states.repeat(draws, 1)  # (S * 2B, 64), draw-major
    eps = noise[:, :, None, :].expand(draws, 2, batch, noise.shape[-1]).reshape(repeated.shape)
    t = torch.full((repeated.shape[0],), timestep, dtype=torch.long, device=states.device)
    x_t = schedule.q_sample(repeated, t, eps)  # Eq. 3
    cond = torch.cat([torch.zeros_like(anchor), anchor]).repeat(draws, 1)
    mask = torch.cat([torch.zeros(batch, dtype=torch.bool), torch.ones(batch, dtype=torch.bool)]).to(t.device)
    estimate = denoise(x_t, t, cond, mask.repeat(draws), None)
    return estimate.reshape(draws, 2 * batch, -1).mean(0)


def regularizer_from_estimate(
    states: Tensor, estimate: Tensor, has_left: Tensor, has_right: Tensor, judge_placement: Tensor | None = None
) -> Tensor:
    """|| estimate - state ||^2 of Eq. 9 per row: states, estimate (2B, 64) -> (B,), differentiable in ``states``.

    judge_placement (B,) bool: rows where the other hand's root (its placement relative to the
    anchor) is judged too; elsewhere only its articulation and shape. None: every row.
    """
    batch = states.shape[0] // 2
    anchor_term = (states[:batch] - estimate[:batch])[:, _ANCHOR_DIMS].pow(2).mean(-1)
    other_error = (states[batch:] - estimate[batch:]).pow(2)
    if judge_placement is not None:
        keep = torch.ones_like(other_error)
        keep[:, ROOT] = judge_placement[:, None].to(keep.dtype)
        other_error = other_error * keep
    other_term = other_error.mean(-1)
    any_hand = (has_left | has_right).to(anchor_term.dtype)
    both = (has_left & has_right).to(other_term.dtype)
    return any_hand * anchor_term + both * other_term


def regularizer_residuals(
    states: Tensor, estimate: Tensor, has_left: Tensor, has_right: Tensor, judge_placement: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``regularizer_from_estimate`` as residuals: states, estimate (2B, 64) -> the anchor's (B, 55) and the
    other hand's (B, 64), whose squares sum to it per row (the means become a factor 1/sqrt(dims))."""
    batch = states.shape[0] // 2
    anchor_dims = _ANCHOR_DIMS.stop - _ANCHOR_DIMS.start
    any_hand = (has_left | has_right).to(states.dtype)[:, None]
    both = (has_left & has_right).to(states.dtype)[:, None]
    anchor = (states[:batch] - estimate[:batch])[:, _ANCHOR_DIMS] * any_hand / anchor_dims**0.5
    other = (states[batch:] - estimate[batch:]) * both / HAND_DIM**0.5
    if judge_placement is not None:
        keep = torch.ones_like(other)
        keep[:, ROOT] = judge_placement[:, None].to(keep.dtype)
        other = other * keep
    return anchor, other


def prior_regularizer(
    denoise: DenoiseFn,
    schedule: DiffusionSchedule,
    normalizer: Normalizer,
    left: HandParams,
    right: HandParams,
    has_left: Tensor,
    has_right: Tensor,
    timestep: int,
    noise: Tensor,
    judge_placement: Tensor | None = None,
) -> Tensor:
    """Eq. 9 per row, estimate and distance in one: left, right HandParams (B,) in one world frame,
    has_left, has_right (B,) bool, noise (S, 2, 64) -> (B,) mean squared normalised difference between the
    state and its forward-reverse estimate, differentiable in the state (see regularizer_from_estimate)."""
    states = pair_states(normalizer, left, right, has_left)
    estimate = forward_reverse_estimate(denoise, schedule, states, timestep, noise)
    return regularizer_from_estimate(states, estimate, has_left, has_right, judge_placement)


def antithetic_noise(draws: int, generator: torch.Generator) -> Tensor:
    """-> (draws, 2, 64) standard normal noise in antithetic pairs (eps, -eps); draws must be even."""
    half = torch.randn(draws // 2, 2, HAND_DIM, generator=generator)
    return torch.cat([half, -half])
