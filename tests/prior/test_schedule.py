from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import DiffusionConfig
from interhandgen_core.prior.schedule import DiffusionSchedule


def reference_alpha_bar(t: int, config: DiffusionConfig) -> float:
    """Slow per-step product in plain Python; t = -1 -> 1."""
    T = config.num_timesteps
    out = 1.0
    for s in range(t + 1):
        beta = config.beta_start + (config.beta_end - config.beta_start) * s / (T - 1)
        out *= 1.0 - beta
    return out


def test_tables_match_reference() -> None:
    config = DiffusionConfig()
    schedule = DiffusionSchedule(config)
    assert schedule.betas.shape == (256,)
    assert schedule.betas[0].item() == pytest.approx(1e-4) and schedule.betas[-1].item() == pytest.approx(0.01)
    for t in (0, 1, 100, 255):
        assert schedule.alphas_cumprod[t].item() == pytest.approx(reference_alpha_bar(t, config), rel=1e-12)
    assert (schedule.alphas_cumprod.diff() < 0).all()
    assert 0.0 < schedule.alphas_cumprod[-1] < schedule.alphas_cumprod[0] < 1.0


def test_batched_formulas_match_per_sample_reference() -> None:
    config = DiffusionConfig(num_timesteps=50, beta_start=1e-3, beta_end=0.05)
    schedule = DiffusionSchedule(config)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(7, 64, generator=g, dtype=torch.float64)
    noise = torch.randn(7, 64, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 3, 10, 49, 25, 1, 49])
    t_prev = torch.tensor([-1, 0, 5, 40, -1, 0, 48])

    x_t = schedule.q_sample(x0, t, noise)
    eps = schedule.eps_from_x0(x_t, t, x0)
    x0_back = schedule.x0_from_eps(x_t, t, noise)
    stepped = schedule.ddim_step(x_t, t, t_prev, noise)
    for i in range(7):
        a = reference_alpha_bar(int(t[i]), config)
        a_prev = reference_alpha_bar(int(t_prev[i]), config)
        row_x_t = [math.sqrt(a) * float(x0[i, j]) + math.sqrt(1 - a) * float(noise[i, j]) for j in range(64)]
        torch.testing.assert_close(x_t[i], torch.tensor(row_x_t, dtype=torch.float64))
        torch.testing.assert_close(eps[i], noise[i])
        torch.testing.assert_close(x0_back[i], x0[i])
        # Algorithm 2 line 9, written out per element.
        row_prev = [
            math.sqrt(a_prev) * (row_x_t[j] - math.sqrt(1 - a) * float(noise[i, j])) / math.sqrt(a)
            + math.sqrt(1 - a_prev) * float(noise[i, j])
            for j in range(64)
        ]
        torch.testing.assert_close(stepped[i], torch.tensor(row_prev, dtype=torch.float64))


def test_ddim_to_clean_with_true_noise_recovers_x0() -> None:
    schedule = DiffusionSchedule()
    x0 = torch.randn(4, 64)
    noise = torch.randn(4, 64)
    t = torch.full((4,), 255)
    x_t = schedule.q_sample(x0, t, noise)
    torch.testing.assert_close(schedule.ddim_step(x_t, t, -1, noise), x0, rtol=1e-4, atol=1e-4)


def test_scalar_timestep_and_dtype() -> None:
    schedule = DiffusionSchedule()
    x0 = torch.randn(3, 64, dtype=torch.float32)
    out = schedule.q_sample(x0, 10, torch.zeros_like(x0))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x0 * math.sqrt(schedule.alphas_cumprod[10].item()))


def test_ddim_timesteps() -> None:
    schedule = DiffusionSchedule()
    steps = schedule.ddim_timesteps(32)
    assert steps.dtype == torch.long and steps.shape == (32,)
    assert steps[0] == 255 and steps[-1] == 7
    assert (steps.diff() == -8).all()
    assert torch.equal(schedule.ddim_timesteps(256), torch.arange(255, -1, -1))
    assert schedule.ddim_timesteps(1).tolist() == [255]
    for n in (3, 7, 31, 100, 255):
        s = schedule.ddim_timesteps(n)
        assert s[0] == 255 and len(set(s.tolist())) == n and (s.diff() < 0).all() and s[-1] >= 0
    t, t_prev = schedule.ddim_timestep_pairs(4)
    assert t.tolist() == [255, 191, 127, 63] and t_prev.tolist() == [191, 127, 63, -1]
    for bad in (0, 257, 2.0):
        with pytest.raises(ConfigError, match="DDIM steps"):
            schedule.ddim_timesteps(bad)  # type: ignore[arg-type]
