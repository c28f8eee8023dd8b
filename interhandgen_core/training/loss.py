"""The diffusion loss of Algorithm 1 (steps 5-9) and what each kind of denoiser learns from a (target, condition) pair.

Notation (paper -> code):
    (x_r, x_l)     (x0, cond)      (B, 64) normalised target hand and conditioning (anchor) hand
    null           cond_mask False conditioning dropped with probability p_uncond (step 5)
    eps            noise           (B, 64) ~ N(0, I) (step 6)
    t              t               (B,) long, uniform in 0..T-1 (0-based; paper 1..T)
    x_t            x_t             q_sample(x0, t, noise) (step 8, Eq. 3)
    D_phi          network         predicts x_0; loss ||x_r - D_phi(x_t, x_l, t)||^2 (step 9)

The root transform (ROOT, 9 numbers) of an unconditional sample carries no information
(S.4.2): those numbers are left out of the loss for unconditional samples without an object.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interhandgen_core.hands.hand_params import ROOT
from interhandgen_core.prior.schedule import DiffusionSchedule


def x0_loss(pred: Tensor, x0: Tensor, root_mask: Tensor) -> Tensor:
    """Mean squared error of an x_0 prediction, (B, 64) each, root_mask (B,) bool -> scalar.

    Rows whose root transform carries no information (root_mask False: no hand condition and
    no object, S.4.2) do not count their 9 root numbers; the mean is over the entries that count.
    """
    weight = torch.ones_like(x0)
    weight[:, ROOT] = root_mask[:, None].to(x0.dtype)
    return ((pred - x0).square() * weight).sum() / weight.sum().clamp_min(1.0)


def diffusion_loss(
    network: nn.Module,
    schedule: DiffusionSchedule,
    x0: Tensor,
    cond: Tensor,
    p_uncond: float,
    generator: torch.Generator | None = None,
    object_points: Tensor | None = None,
    p_uncond_object: float = 0.0,
) -> Tensor:
    """One draw of Algorithm 1 steps 5-9 on a batch. x0 (target), cond: (B, 64) normalised -> scalar loss.

    ``network`` is a Denoiser, or a PriorNetwork when ``object_points`` (B, P, 3) are given.
    """
    batch, device = x0.shape[0], x0.device
    cond_mask = torch.rand(batch, device=device, generator=generator) >= p_uncond  # step 5
    t = torch.randint(0, schedule.num_timesteps, (batch,), device=device, generator=generator)
    noise = torch.randn(x0.shape, device=device, dtype=x0.dtype, generator=generator)  # step 6
    x_t = schedule.q_sample(x0, t, noise)  # step 8, Eq. 3
    if object_points is None:
        return x0_loss(network(x_t, t, cond, cond_mask), x0, cond_mask)  # step 9
    object_mask = torch.rand(batch, device=device, generator=generator) >= p_uncond_object
    pred = network(x_t, t, cond, cond_mask, object_points, object_mask)
    return x0_loss(pred, x0, cond_mask | object_mask)  # step 9


def model_inputs(num_hands: int, x0: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
    """(target, condition) pairs (B, 64) each -> what the denoiser learns: unchanged for the decomposed prior;
    for the joint baseline (num_hands 2) both hands as one (B, 128) target, [anchor, other], unconditioned."""
    if num_hands == 2:
        return torch.cat([cond, x0], dim=-1), cond
    return x0, cond
