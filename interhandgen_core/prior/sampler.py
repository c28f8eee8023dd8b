"""Cascaded reverse diffusion with classifier-free and anti-penetration guidance (Algorithm 2).

Notation (paper -> code):
    D_phi(x_t, x_l | empty, t)  ``denoise(x_t, t, cond, cond_mask, object_embedding)``: the x_0
                                prediction of any runtime backend, normalised units
    E(.)                        ``schedule.eps_from_x0``
    w_cfg                       ``config.cfg_weight``               (Eq. 4, Algorithm 2 line 18)
    w_pen                       ``config.penetration_weight`` at t = 0, multiplied by
                                ``config.penetration_decay`` per DDIM step away from t = 0;
                                each step's change is bounded by
                                ``config.penetration_max_step`` (not in the paper)
    L_pen                       ``guidance.penetration_loss``       (Eq. 7-8)
    x_l                         the anchor: sampled unconditionally in right-hand space, made
                                canonical, and mirrored by Gamma into a left hand (line 11)

Everything is batched over samples: the conditional and unconditional passes of CFG are
one call on a doubled batch, and the guidance gradient of all samples is one backward
pass (samples are independent, so the gradient of the summed loss is each sample's own).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.prior.guidance import penetration_loss
from interhandgen_core.prior.representation import HAND_DIM, HandParams, Normalizer
from interhandgen_core.prior.schedule import DiffusionSchedule

DenoiseFn = Callable[[Tensor, Tensor, Tensor, Tensor, "Tensor | None"], Tensor]


class CascadedSampler:
    """Samples two-hand interactions: left anchor first, then the right hand given it."""

    def __init__(
        self,
        denoise: DenoiseFn,
        schedule: DiffusionSchedule,
        normalizer: Normalizer,
        right_layer: HandLayer,
        left_layer: HandLayer,
        config: SamplerConfig,
    ) -> None:
        if config.ddim_steps > schedule.num_timesteps:
            raise ConfigError(f"ddim_steps={config.ddim_steps} exceeds the model's T={schedule.num_timesteps}")
        self.denoise = denoise
        self.schedule = schedule
        self.normalizer = normalizer
        self.right_layer = right_layer
        self.left_layer = left_layer
        self.config = config

    def _noise(self, num: int, generator: torch.Generator, device: torch.device) -> Tensor:
        # Drawn on the CPU so that a seed gives the same samples on every device.
        return torch.randn(num, HAND_DIM, generator=generator).to(device)

    def penetration_weights(self) -> list[float]:
        """w_pen per DDIM step, first (noisiest) to last (t = 0)."""
        steps = self.config.ddim_steps
        return [self.config.penetration_weight * self.config.penetration_decay ** (steps - 1 - k) for k in range(steps)]

    @torch.no_grad()
    def sample_anchor(self, num: int, generator: torch.Generator, device: torch.device) -> Tensor:
        """Algorithm 2 lines 5-10: (num, 64) normalised right-hand-space anchors."""
        x = self._noise(num, generator, device)
        cond = torch.zeros_like(x)
        mask = torch.zeros(num, dtype=torch.bool, device=device)
        for t, t_prev in zip(*self.schedule.ddim_timestep_pairs(self.config.ddim_steps, device), strict=True):
            tt = t.expand(num)
            x0 = self.denoise(x, tt, cond, mask, None)
            eps = self.schedule.eps_from_x0(x, tt, x0)  # line 7
            x = self.schedule.ddim_step(x, tt, t_prev, eps)  # line 9
        return x

    def anchor_to_condition(self, anchor: Tensor) -> tuple[Tensor, HandParams]:
        """Normalised anchor (N, 64) -> (normalised condition (N, 64), left hand, canonical).

        The anchor's root is not supervised in training (S.4.2); it is replaced by the
        canonical frame, and its mirror image Gamma(x_0) is the left hand (line 11).
        """
        right_space = HandParams.from_vector(self.normalizer.denormalize(anchor)).canonical()
        return self.normalizer.normalize(right_space.to_vector()), right_space.mirrored()

    def sample_other(self, cond: Tensor, left: HandParams, generator: torch.Generator) -> Tensor:
        """Algorithm 2 lines 13-22: the right hand given the left anchor. cond (N, 64) -> (N, 64) normalised."""
        num, device = cond.shape[0], cond.device
        w_cfg = self.config.cfg_weight
        with torch.no_grad():
            anchor_vertices = self.left_layer(left.pose, left.betas, left.rotation, left.translation).vertices
        x = self._noise(num, generator, device)
        weights = self.penetration_weights()
        cond2 = torch.cat([cond, cond])
        mask2 = torch.cat(
            [torch.ones(num, dtype=torch.bool, device=device), torch.zeros(num, dtype=torch.bool, device=device)]
        )
        steps = zip(*self.schedule.ddim_timestep_pairs(self.config.ddim_steps, device), weights, strict=True)
        for t, t_prev, w_pen in steps:
            tt = t.expand(num)
            with torch.no_grad():
                if w_cfg > 0:
                    x0_both = self.denoise(torch.cat([x, x]), t.expand(2 * num), cond2, mask2, None)
                    eps_cond = self.schedule.eps_from_x0(x, tt, x0_both[:num])  # line 16
                    eps_uncond = self.schedule.eps_from_x0(x, tt, x0_both[num:])  # line 15
                    eps = (1.0 + w_cfg) * eps_cond - w_cfg * eps_uncond  # line 18, Eq. 4
                else:
                    eps = self.schedule.eps_from_x0(x, tt, self.denoise(x, tt, cond, mask2[:num], None))
                x = self.schedule.ddim_step(x, tt, t_prev, eps)  # line 20
            if w_pen > 0:
                x = self._guide(x, t_prev, eps, anchor_vertices, w_pen)
        return x

    def _guide(self, x_prev: Tensor, t_prev: Tensor, eps: Tensor, anchor_vertices: Tensor, weight: float) -> Tensor:
        """Anti-penetration guidance: x_{t-1} <- x_{t-1} - w_pen grad L_pen(x_{t-1}, x_l).

        The vertices come from the clean estimate (x_{t-1} - sqrt(1 - alpha_{t-1}) eps) / sqrt(alpha_{t-1})
        (paper 3.4), so the loss sees hands, not noise.
        """
        with torch.enable_grad():
            x_var = x_prev.detach().requires_grad_(True)
            x0 = self.schedule.x0_from_eps(x_var, t_prev, eps)
            hand = HandParams.from_vector(self.normalizer.denormalize(x0))
            vertices = self.right_layer(hand.pose, hand.betas, hand.rotation, hand.translation).vertices
            loss = penetration_loss(vertices, self.right_layer.faces, anchor_vertices, self.left_layer.faces).sum()
            (grad,) = torch.autograd.grad(loss, x_var)
        step = weight * grad
        # Trust region per sample (SamplerConfig.penetration_max_step): a deep penetration
        # is separated over several steps instead of in one jump that overshoots contact.
        norm = step.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        step = step * (self.config.penetration_max_step / norm).clamp(max=1.0)
        return (x_prev - step).detach()

    def sample(self, num: int, generator: torch.Generator, device: torch.device) -> tuple[HandParams, HandParams]:
        """num two-hand samples -> (left, right) in the left hand's canonical frame."""
        anchor = self.sample_anchor(num, generator, device)
        cond, left = self.anchor_to_condition(anchor)
        right_norm = self.sample_other(cond, left, generator)
        right = HandParams.from_vector(self.normalizer.denormalize(right_norm.detach()))
        return left, right
