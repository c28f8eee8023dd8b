"""The variance-preserving noise schedule and the deterministic DDIM update (paper Eq. 3, Algorithm 2).

Notation (paper -> code). The paper writes alpha_t for what DDPM calls alpha-bar_t, the
CUMULATIVE product; the per-step quantities are named as in DDPM:

    beta_t            betas[t]            linear from beta_1 = 1e-4 to beta_T = 0.01 (S.4.2)
    1 - beta_t        alphas[t]           per-step signal retention (not the paper's alpha)
    alpha_t (paper)   alphas_cumprod[t]   prod_{s <= t} (1 - beta_s); Eq. 3 and Algorithm 2 use this
    alpha_{t-1}       alphas_cumprod[t_prev], with t_prev = -1 meaning alpha = 1 (clean data)
    E(.)              eps_from_x0         the noise implied by an x_0 prediction (Algorithm 2 line 7)

Indices are 0-based: the paper's t = 1..T is ``t = 0..T-1`` here, so ``t = T-1`` is the
noisiest step and a DDIM chain ends with ``t_prev = -1``. Every function is batched: x
tensors are (B, D), ``t`` and ``t_prev`` are (B,) long tensors or Python ints shared by the
batch. Schedule tables are kept in float64 and cast to the dtype of ``x`` after lookup.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import DiffusionConfig


class DiffusionSchedule:
    """Tables of the linear beta schedule and the Eq. 3 / DDIM formulas over them.

    betas, alphas, alphas_cumprod: (T,) float64.
    """

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.config = config or DiffusionConfig()
        steps = self.config.num_timesteps
        self.num_timesteps = steps
        self.betas = torch.linspace(self.config.beta_start, self.config.beta_end, steps, dtype=torch.float64)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        # Index t + 1 so that t_prev = -1 (one step past the end of the chain) reads alpha = 1.
        self._cumprod_padded = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod])
        self._tables: dict[torch.device, Tensor] = {}

    def _alpha(self, t: Tensor | int, like: Tensor) -> Tensor:
        """alphas_cumprod at t (t = -1 -> 1), shaped (B, 1, ...) to broadcast against ``like`` (B, ...)."""
        device = like.device
        table = self._tables.get(device)
        if table is None:
            # MPS has no float64; everywhere else keep the lookup exact before the final cast.
            dtype = torch.float32 if device.type == "mps" else torch.float64
            table = self._cumprod_padded.to(device=device, dtype=dtype)
            self._tables[device] = table
        index = torch.as_tensor(t, device=device, dtype=torch.long) + 1
        # index_select, not table[index]: indexing with a 0-d device tensor reads it back to the
        # host (a synchronisation, which CUDA graph capture forbids).
        alpha = table.index_select(0, index.reshape(-1)).reshape(index.shape).to(like.dtype)
        if alpha.ndim == 0:
            return alpha
        return alpha.reshape(alpha.shape + (1,) * (like.ndim - alpha.ndim))

    def q_sample(self, x0: Tensor, t: Tensor | int, noise: Tensor) -> Tensor:
        """x_t = sqrt(alpha_t) x_0 + sqrt(1 - alpha_t) eps. x0, noise: (B, D); t: (B,) -> (B, D)."""
        alpha = self._alpha(t, x0)
        return alpha.sqrt() * x0 + (1.0 - alpha).sqrt() * noise  # Eq. 3

    def eps_from_x0(self, x_t: Tensor, t: Tensor | int, x0: Tensor) -> Tensor:
        """E(.) of Algorithm 2: the noise eps that Eq. 3 pairs with (x_t, x_0). (B, D) -> (B, D)."""
        alpha = self._alpha(t, x_t)
        return (x_t - alpha.sqrt() * x0) / (1.0 - alpha).sqrt()

    def x0_from_eps(self, x_t: Tensor, t: Tensor | int, eps: Tensor) -> Tensor:
        """Eq. 3 solved for x_0: (x_t - sqrt(1 - alpha_t) eps) / sqrt(alpha_t). (B, D) -> (B, D)."""
        alpha = self._alpha(t, x_t)
        return (x_t - (1.0 - alpha).sqrt() * eps) / alpha.sqrt()

    def ddim_step(self, x_t: Tensor, t: Tensor | int, t_prev: Tensor | int, eps: Tensor) -> Tensor:
        """Deterministic DDIM (eta = 0) from t to t_prev (-1 = clean). (B, D) -> (B, D).

        x_{t-1} = sqrt(alpha_{t-1}) (x_t - sqrt(1 - alpha_t) eps) / sqrt(alpha_t) + sqrt(1 - alpha_{t-1}) eps
        """
        alpha_prev = self._alpha(t_prev, x_t)
        return (
            alpha_prev.sqrt() * self.x0_from_eps(x_t, t, eps) + (1.0 - alpha_prev).sqrt() * eps
        )  # Algorithm 2, line 9

    def ddim_timesteps(self, num_steps: int, device: torch.device | str | None = None) -> Tensor:
        """(num_steps,) long, descending from T-1, evenly spaced ("trailing" spacing: T/n apart).

        E.g. T = 256, n = 32 -> 255, 247, ..., 7. Starting at T-1 makes the first step see pure
        noise, as Algorithm 2 line 5 samples x_T from N(0, I).
        """
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= self.num_timesteps:
            raise ConfigError(
                f"number of DDIM steps must be an integer in 1..{self.num_timesteps} (T), got {num_steps!r}"
            )
        # k T / n for k = n..1, rounded half up (not to even) so that spacings >= 1 never collide.
        points = torch.linspace(self.num_timesteps, 0, num_steps + 1, dtype=torch.float64)[:-1]
        return (torch.floor(points + 0.5).long() - 1).to(device)

    def ddim_timestep_pairs(self, num_steps: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """(t, t_prev), each (num_steps,) long: the DDIM chain's steps, t_prev ending with -1."""
        steps = self.ddim_timesteps(num_steps, device)
        return steps, torch.cat([steps[1:], steps.new_full((1,), -1)])
