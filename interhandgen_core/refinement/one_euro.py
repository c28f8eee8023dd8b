"""The One-Euro filter on keypoints: an adaptive low-pass filter for noisy interactive input.

Casiez, Roussel, Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy
Input in Interactive Systems", CHI 2012. The filter XR and vision hand trackers smooth
their keypoints with; here, for a user who wants it on a tracker's keypoints, and as the
benchmark's baseline (evaluation/refinement_benchmark.py). The reference implementation on
PyPI (``OneEuroFilter`` 0.2.1, BSD-3, by the paper's authors) filters one scalar per object
in Python and lets a NaN poison its state; this one filters every element of a tensor at
once, each as the paper's filter would, and holds or resets a lost element.

Notation (per element, i.e. per coordinate of each keypoint; step i at time t_i seconds):
    x_i             the input (metres); NaN when the element was not seen
    dt_i            t_i - t_last, t_last the time of the element's last finite input (1 / fps
                    when no timestamps are given or they do not increase); rate = 1 / dt_i
    alpha(f)        1 / (1 + rate / (2 pi f)): the smoothing factor of cutoff f Hz
    dx_i            (x_i - xhat_{i-1}) rate; dxhat_i = alpha(d_cutoff) dx_i + (1 - alpha(d_cutoff)) dxhat_{i-1}
    f_c             min_cutoff + beta |dxhat_i|  (Hz; beta in Hz per metre per second)
    xhat_i          alpha(f_c) x_i + (1 - alpha(f_c)) xhat_{i-1}: the output
    first input     xhat = x, dxhat = 0 (also after a reset)
    lost (NaN)      the output holds xhat while t_i - t_last <= max_hold_s, then is NaN and
                    the element resets: its next finite input starts afresh
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import DataError


@dataclass(frozen=True)
class OneEuroConfig(ConfigBase):
    """Settings of :class:`OneEuroFilter` (Hz, seconds).

    The defaults of min_cutoff_hz, beta and d_cutoff_hz were chosen by grid search
    (``interhandgen bench refine --tune-one-euro --suite wide --sequences 8``, evaluation/one_euro_tuning.py):
    the lowest pooled MPJPE over 8 wide-suite sequences of 240 frames at seed 7, which no
    benchmark uses, over min_cutoff_hz 0.25-5, beta 0-100 and d_cutoff_hz 0.5-2 (168 points):
    21.09 mm there (acceleration error 23.3 mm/frame^2); the next points are within 0.2 mm.
    """

    # Tuned by grid search (see the class docstring): 3 Hz, 20 Hz per m/s, 1 Hz.
    min_cutoff_hz: float = setting(
        3.0, low=0.0, high=1000.0, low_open=True, units="Hz", help="cutoff of a still keypoint: less is smoother"
    )
    beta: float = setting(
        20.0, low=0.0, high=1e6, units="Hz per m/s", help="cutoff added per unit of speed: more is less lag"
    )
    d_cutoff_hz: float = setting(
        1.0, low=0.0, high=1000.0, low_open=True, units="Hz", help="cutoff of the speed estimate"
    )
    fps: float = setting(
        30.0, low=0.0, high=10000.0, low_open=True, units="Hz", help="input rate where no timestamps are given"
    )
    max_hold_s: float = setting(
        0.5, low=0.0, allow_inf=True, units="seconds", help="a lost keypoint holds its last value this long"
    )


def smoothing_factor(rate_hz: Tensor, cutoff_hz: Tensor | float) -> Tensor:
    """rate_hz (...) samples per second, cutoff_hz (...) -> (...) alpha = 1 / (1 + rate / (2 pi cutoff))."""
    return 1.0 / (1.0 + rate_hz / (2.0 * math.pi * cutoff_hz))


class OneEuroFilter:
    """A stream of tensors of one shape, filtered element by element (see the module's notation).

    >>> smooth = OneEuroFilter(OneEuroConfig())
    >>> for keypoints, stamp in tracker:        # (2, 21, 3) metres, NaN where lost; seconds
    ...     filtered = smooth(keypoints, stamp)
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next input starts every element afresh."""
        self._value: Tensor | None = None  # xhat
        self._speed: Tensor | None = None  # dxhat
        self._last: Tensor | None = None  # t_last, float64, NaN where the element has no state
        self._time: float | None = None

    def __call__(self, x: Tensor, timestamp: float | None = None) -> Tensor:
        """x (...) floating point, NaN where not seen; timestamp seconds or None (1 / fps after the last) -> (...) filtered."""
        if not x.is_floating_point():
            raise DataError(f"the One-Euro filter takes floating-point values, got {x.dtype}")
        step = 1.0 / self.config.fps
        now = (0.0 if self._time is None else self._time + step) if timestamp is None else float(timestamp)
        if self._time is not None and not now > self._time:
            now = self._time + step  # repeated or backward stamps: one nominal step on
        self._time = now
        if self._value is None or self._value.shape != x.shape:
            if self._value is not None:
                raise DataError(f"the filter's stream has shape {tuple(self._value.shape)}, got {tuple(x.shape)}")
            self._value = torch.zeros_like(x)
            self._speed = torch.zeros_like(x)
            self._last = torch.full(x.shape, torch.nan, dtype=torch.float64, device=x.device)
        assert self._speed is not None and self._last is not None  # set together with _value
        seen = torch.isfinite(x)
        elapsed = now - self._last  # NaN where no state
        alive = torch.isfinite(elapsed) & (elapsed <= self.config.max_hold_s)
        rate = (1.0 / elapsed.clamp_min(1e-9)).to(x.dtype)
        go_on = seen & alive
        c = self.config
        raw_speed = (x - self._value) * rate
        speed = torch.lerp(self._speed, raw_speed, smoothing_factor(rate, c.d_cutoff_hz))
        cutoff = c.min_cutoff_hz + c.beta * speed.abs()
        value = torch.lerp(self._value, x, smoothing_factor(rate, cutoff))
        fresh = seen & ~alive
        self._value = torch.where(go_on, value, torch.where(fresh, x, self._value))
        self._speed = torch.where(go_on, speed, torch.where(fresh, torch.zeros_like(x), self._speed))
        self._last = torch.where(seen, torch.full_like(self._last, now), torch.where(alive, self._last, torch.nan))
        held = ~seen & alive
        return torch.where(seen | held, self._value, torch.full_like(x, torch.nan))
