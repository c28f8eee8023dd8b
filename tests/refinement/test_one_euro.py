"""The One-Euro filter (Casiez et al. 2012): matches a per-scalar transcription of the paper, adapts to speed, holds lost values."""

from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.refinement.one_euro import OneEuroConfig, OneEuroFilter


class ScalarOneEuro:
    """The paper's algorithm for one scalar, written out as its authors' reference code has it."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: float | None = None
        self.dx = 0.0
        self.t: float | None = None

    @staticmethod
    def alpha(rate: float, cutoff: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * rate)

    def __call__(self, x: float, t: float) -> float:
        if self.x is None or self.t is None:
            self.x, self.dx, self.t = x, 0.0, t
            return x
        rate = 1.0 / (t - self.t)
        self.t = t
        a_d = self.alpha(rate, self.d_cutoff)
        self.dx = a_d * (x - self.x) * rate + (1.0 - a_d) * self.dx
        a = self.alpha(rate, self.min_cutoff + self.beta * abs(self.dx))
        self.x = a * x + (1.0 - a) * self.x
        return self.x


def _signal(frames: int, width: int, fps: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(frames, dtype=torch.float64) / fps
    clean = torch.sin(2.0 * t)[:, None] * torch.linspace(0.05, 0.5, width, dtype=torch.float64)
    return t, clean + 0.01 * torch.randn(frames, width, generator=generator, dtype=torch.float64)


def test_matches_the_per_scalar_reference_with_irregular_timestamps() -> None:
    t, noisy = _signal(120, 6, 30.0)
    t = t + 0.01 * torch.sin(7.0 * t)  # irregular, increasing steps
    config = OneEuroConfig(min_cutoff_hz=1.3, beta=4.0, d_cutoff_hz=1.7)
    smoother = OneEuroFilter(config)
    ours = torch.stack([smoother(noisy[i], float(t[i])) for i in range(120)])
    references = [ScalarOneEuro(1.3, 4.0, 1.7) for _ in range(6)]
    expected = torch.tensor(
        [[references[j](float(noisy[i, j]), float(t[i])) for j in range(6)] for i in range(120)], dtype=torch.float64
    )
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_without_timestamps_it_steps_by_one_over_fps() -> None:
    _, noisy = _signal(40, 3, 60.0)
    with_stamps, without = OneEuroFilter(OneEuroConfig(fps=60.0)), OneEuroFilter(OneEuroConfig(fps=60.0))
    for i in range(40):
        torch.testing.assert_close(without(noisy[i]), with_stamps(noisy[i], i / 60.0))


def test_beta_cuts_the_lag_at_high_speed_more_than_at_low_speed() -> None:
    fps = 60.0
    t = torch.arange(120, dtype=torch.float64) / fps

    def lag(speed: float, beta: float) -> float:
        smoother = OneEuroFilter(OneEuroConfig(min_cutoff_hz=1.0, beta=beta, fps=fps))
        ramp = speed * t
        out = torch.stack([smoother(ramp[i : i + 1], float(t[i])) for i in range(120)])[:, 0]
        return float((ramp - out)[-1])  # steady-state lag, metres

    slow, fast = lag(0.05, 20.0), lag(1.5, 20.0)
    assert fast < lag(1.5, 0.0) / 5  # beta opens the cutoff at speed
    # Relative to the distance travelled per second, the fast ramp lags far less than the slow one.
    assert fast / 1.5 < 0.2 * (slow / 0.05)


def test_a_lost_value_holds_then_resets_and_the_rest_filters_on() -> None:
    config = OneEuroConfig(min_cutoff_hz=1.0, beta=0.0, fps=10.0, max_hold_s=0.25)
    smoother = OneEuroFilter(config)
    first = smoother(torch.tensor([1.0, 2.0]), 0.0)
    torch.testing.assert_close(first, torch.tensor([1.0, 2.0]))
    held = smoother(torch.tensor([float("nan"), 3.0]), 0.1)
    assert float(held[0]) == 1.0 and 2.0 < float(held[1]) < 3.0  # held; filtered
    smoother(torch.tensor([float("nan"), 3.0]), 0.2)
    lost = smoother(torch.tensor([float("nan"), 3.0]), 0.3)  # 0.3 s since seen: beyond the hold
    assert math.isnan(float(lost[0])) and math.isfinite(float(lost[1]))
    again = smoother(torch.tensor([5.0, 3.0]), 0.4)
    assert float(again[0]) == 5.0  # a fresh start, not a blend with the stale 1.0


def test_backward_timestamps_step_on_and_a_reset_forgets() -> None:
    smoother = OneEuroFilter(OneEuroConfig(fps=30.0))
    smoother(torch.zeros(3), 1.0)
    out = smoother(torch.ones(3), 0.5)  # backwards: treated as one nominal step
    assert bool(torch.isfinite(out).all()) and bool((out > 0).all()) and bool((out < 1).all())
    smoother.reset()
    torch.testing.assert_close(smoother(torch.full((3,), 7.0), 0.0), torch.full((3,), 7.0))


def test_bad_input_is_refused_with_what_to_fix() -> None:
    smoother = OneEuroFilter()
    smoother(torch.zeros(2, 21, 3))
    with pytest.raises(DataError, match=r"shape \(2, 21, 3\)"):
        smoother(torch.zeros(21, 3))
    with pytest.raises(DataError, match="floating-point"):
        OneEuroFilter()(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ConfigError, match="min_cutoff_hz"):
        OneEuroConfig(min_cutoff_hz=0.0)
