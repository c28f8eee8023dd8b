"""Typed configuration of the prior refinement of noisy two-hand estimates (paper 3.5, Eq. 9).

The field defaults are the single source of truth; the CLI, the benchmark and the ROS
node only override them. Every value is checked in ``__post_init__``.

Objective per frame (refinement/objective.py), all terms summed:
    data          keypoint_weight * confidence * robust keypoint error, cm^2
                  (Geman-McClure with scale ``robust_scale_m``: a gross tracker error costs at most
                  scale^2, so one outlier cannot drag the hand)
    prior         prior_weight * L_reg of Eq. 9, the squared distance between the state and its
                  one-step forward-reverse diffusion estimate, normalised units
    penetration   penetration_weight * Eq. 7 between the two hands, cm per vertex
    smoothness    smoothness_weight * squared distance of the keypoints to their constant-velocity
                  prediction from the last two refined frames, cm^2 (streaming only)
    regularisers  pose_weight * mean squared finger angle (rad^2), betas_weight * mean squared betas
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import _ConfigBase, _require_float, _require_int


@dataclass(frozen=True)
class RefinerConfig(_ConfigBase):
    """Weights, iterations and tracking rules of HandPriorRefiner (refinement/refiner.py).

    iterations: L-BFGS iterations per frame warm-started from the previous refined frame.
    init_iterations: iterations for a hand seen for the first time (or again after being lost),
        started from a rigid fit of a mean hand to its palm keypoints.
    realign_iterations: iterations for a hand re-aligned rigidly after a jump beyond
        reacquire_distance_m: its articulation is kept, so it needs fewer than a new hand. Kept
        small because a slow frame makes a stream skip frames, and skipped frames make jumps.
    batch_iterations: iterations of ``refine`` on a batch of independent estimates.
    prior_timestep: t of the forward-reverse step of Eq. 9 (0-based, < the model's T). Small t
        asks "is this state a slightly noisy sample of the prior?", which is what a tracker's
        estimate is. The step's noise is drawn once per refiner and reused, so the prior term is
        a deterministic function of the state and adds no jitter of its own (not in the paper).
    prior_noise_draws: noise draws averaged in the forward-reverse step, an even number (antithetic
        pairs, refinement/prior_term.py); one denoiser call on a batch of draws x 2 x rows.
    prior_placement_distance_m: the prior judges where one hand is relative to the other only
        while the hands are closer than this (closest vertices): it learned interacting hands
        (paper 4.1), so for hands apart it knows their articulation but not their placement, and
        would pull them together (not in the paper). A large value judges it always.
    robust_scale_m: scale of the robust keypoint error; residuals far above it count as outliers.
    velocity_damping: fraction of the last frame's velocity the smoothness prediction keeps, [0, 1].
    min_keypoints: fewest finite keypoints (of 21) that make a hand observed this frame.
    hand_size_range_m: plausible median bone length of the 21 keypoints (observation.keypoint_hand_size;
        about 3 cm for an adult hand, wide enough for a noisy low-confidence frame); outside it the keypoints are in the wrong unit (a 1000x factor is
        taken as millimetres and converted) or garbage.
    swap_ratio: the two hands' labels are taken as swapped when matching the observation to the
        previous state the other way round costs less than this fraction of matching it as labelled.
    swap_min_distance_m: and the labelled matching is off by more than this (mean keypoint distance).
    confidence_decay: per-frame factor of the confidence of a hand that is held while it is lost.
    repaired_confidence_factor: factor applied to the confidence of an observation that had to be
        repaired (unit converted, labels swapped, keypoints missing).
    reacquire_distance_m: when the observed palm keypoints are this far (mean) from the last state's,
        the hand has moved beyond the robust data term's reach: its root is first re-aligned rigidly.
    hold_weight: weight of the pull of a held (lost) hand towards its last keypoints, in place of
        its data term, so that it stays put unless the tracked hand pushes it aside.
    reinit_after_frames: a hand lost for more frames than this is initialised afresh when it returns.
    warning_interval_s: the same kind of warning is logged at most once per interval (the count of
        the ones in between is reported with the next).
    """

    iterations: int = 8
    init_iterations: int = 60
    realign_iterations: int = 16
    batch_iterations: int = 60
    keypoint_weight: float = 1.0
    prior_weight: float = 4.0
    penetration_weight: float = 50.0
    smoothness_weight: float = 0.05
    pose_weight: float = 0.01
    betas_weight: float = 0.05
    prior_timestep: int = 30
    prior_noise_draws: int = 8
    prior_placement_distance_m: float = 0.02
    robust_scale_m: float = 0.03
    velocity_damping: float = 0.8
    min_keypoints: int = 6
    hand_size_range_m: tuple[float, float] = (0.01, 0.15)
    swap_ratio: float = 0.5
    swap_min_distance_m: float = 0.03
    confidence_decay: float = 0.9
    repaired_confidence_factor: float = 0.5
    reinit_after_frames: int = 15
    reacquire_distance_m: float = 0.08
    hold_weight: float = 0.3
    warning_interval_s: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "RefinerConfig"
        _require_int(owner, "iterations", self.iterations, 0)
        _require_int(owner, "init_iterations", self.init_iterations, 0)
        _require_int(owner, "realign_iterations", self.realign_iterations, 0)
        _require_int(owner, "batch_iterations", self.batch_iterations, 0)
        _require_int(owner, "prior_timestep", self.prior_timestep, 0)
        _require_int(owner, "prior_noise_draws", self.prior_noise_draws, 2)
        if self.prior_noise_draws % 2:
            raise ConfigError(
                f"{owner}.prior_noise_draws must be even (antithetic pairs), got {self.prior_noise_draws}"
            )
        _require_int(owner, "min_keypoints", self.min_keypoints, 3, 21)
        _require_int(owner, "reinit_after_frames", self.reinit_after_frames, 0)
        _require_int(owner, "seed", self.seed, 0)
        for name in ("keypoint_weight", "prior_weight", "penetration_weight", "smoothness_weight"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, math.inf, False, True))
        for name in ("pose_weight", "betas_weight", "warning_interval_s", "hold_weight"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, math.inf, False, True))
        object.__setattr__(
            self,
            "prior_placement_distance_m",
            _require_float(owner, "prior_placement_distance_m", self.prior_placement_distance_m, 0.0, math.inf),
        )
        for name in ("robust_scale_m", "swap_min_distance_m", "reacquire_distance_m"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, 1.0, low_open=True))
        for name in ("velocity_damping", "repaired_confidence_factor"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, 1.0))
        object.__setattr__(
            self, "swap_ratio", _require_float(owner, "swap_ratio", self.swap_ratio, 0.0, 1.0, low_open=True)
        )
        object.__setattr__(
            self,
            "confidence_decay",
            _require_float(owner, "confidence_decay", self.confidence_decay, 0.0, 1.0, high_open=False),
        )
        size = self.hand_size_range_m
        if (
            not isinstance(size, tuple | list)
            or len(size) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in size)
            or not 0.0 < size[0] < size[1] < 1.0
        ):
            raise ConfigError(
                f"{owner}.hand_size_range_m must be two numbers 0 < low < high < 1 (metres), got {size!r}"
            )
        object.__setattr__(self, "hand_size_range_m", (float(size[0]), float(size[1])))
