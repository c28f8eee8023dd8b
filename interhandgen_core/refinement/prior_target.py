"""Eq. 9's target for a stream's frame, re-taken only when the state has moved (the stream's fast path).

Notation (code -> meaning; per frame of a stream, normalised units of the prior's data):
    x           states      (2, 64)  ``pair_states``: the anchor's articulation and shape, the other
                                     hand's articulation, shape and placement relative to the anchor
    S(x)        estimate    (2, 64)  the forward-reverse estimate of Eq. 9 (one denoiser call)
    c(x)        correction  (2, 64)  S(x) - x: where the prior would move the state
    x_k                              the state where S was last evaluated
    epsilon                          RefinerConfig.prior_reuse_distance

    target(x) = x + c(x_k)   if rms(x - x_k) <= epsilon (same hands judged), else S(x), and x_k <- x

The state the prior sees is canonical (the anchor's rotation and position removed), so hands carried
through the world together, or fingers that move little between frames, leave it nearly unchanged; the
denoiser call (a third of a frame's time on a CPU) is then skipped. The correction, not the estimate,
is carried over: an estimate kept while the state moved on would pull the hand back to where it was.
epsilon = 0 evaluates S at every frame (the reference; tests/refinement/test_prior_target.py compares).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.refinement.objective import FrameTargets, RefinementObjective
from interhandgen_core.refinement.prior_term import pair_states


@dataclass
class _Evaluated:
    states: Tensor  # x_k (2B, 64)
    correction: Tensor  # c(x_k) (2B, 64)
    placement: Tensor  # (B,) bool, the placement gate at x_k
    judged: Tensor  # (2, B) bool, the sides judged at x_k


class PriorTarget:
    """Eq. 9's target of a stream's frames (module docstring); ``reset`` when the stream restarts."""

    def __init__(self, objective: RefinementObjective) -> None:
        self.objective = objective
        self._last: _Evaluated | None = None
        self.evaluations = 0  # denoiser calls made (for the benchmark and the tests)

    def reset(self) -> None:
        self._last = None

    def __call__(self, left: HandParams, right: HandParams, targets: FrameTargets) -> tuple[Tensor, Tensor]:
        """left, right (B,) the frame's start states -> (estimate (2B, 64), placement (B,) bool) of Eq. 9."""
        judged = torch.stack([targets.left_judged, targets.right_judged])
        states = pair_states(self.objective.normalizer, left, right, targets.left_judged)
        last, reach = self._last, self.objective.config.prior_reuse_distance
        if (
            last is not None
            and reach > 0
            and last.states.shape == states.shape
            and torch.equal(last.judged, judged)
            and float((states - last.states).pow(2).mean().sqrt()) <= reach
        ):
            return states + last.correction, last.placement
        estimate, placement = self.objective.prior_estimate(left, right, targets)
        self.evaluations += 1
        self._last = _Evaluated(states, estimate - states, placement, judged)
        return estimate, placement
