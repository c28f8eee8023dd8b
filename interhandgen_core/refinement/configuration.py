"""Typed configuration of the prior refinement of noisy two-hand estimates (paper 3.5, Eq. 9).

The field declarations (default, range, units, help; interhandgen_core/config.py) are the single
source of truth; the CLI, the benchmark and the ROS node only override them, and the ROS node's
parameters take their defaults and ranges from them.

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

from dataclasses import dataclass

from interhandgen_core.config import ConfigBase, setting
from interhandgen_core.errors import ConfigError

# The stream's solvers (``step``): refinement/levenberg_marquardt.py, and L-BFGS (refinement/solver.py).
STREAM_SOLVERS = ("levenberg_marquardt", "lbfgs")


@dataclass(frozen=True)
class RefinerConfig(ConfigBase):
    """Weights, iterations and tracking rules of HandPriorRefiner (refinement/refiner.py).

    stream_solver: the solver of ``step``'s frames: "levenberg_marquardt" (refinement/levenberg_marquardt.py,
        the default) or "lbfgs" (refinement/solver.py, the reference). ``refine`` always uses L-BFGS.
    iterations: solver iterations per frame warm-started from the previous refined frame (at most, for
        Levenberg-Marquardt: see converged_decrease).
    converged_decrease: a Levenberg-Marquardt solve stops once a step lowered the objective by less than
        this fraction of it (every row): a frame that moved little ends after one or two iterations.
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
    prior_reuse_distance: a stream's frame re-takes Eq. 9's target (one denoiser call) only when the prior's
        view of the state (pair_states, normalised units) moved more than this (root mean square over its
        dimensions) since it was last taken; in between, the correction taken then is applied to the new
        state (refinement/prior_target.py). 0: every frame.
    prior_placement_distance_m: the prior judges where one hand is relative to the other only
        while the hands are closer than this (closest vertices): it learned interacting hands
        (paper 4.1), so for hands apart it knows their articulation but not their placement, and
        would pull them together (not in the paper). A large value judges it always.
    penetration_gate_m: the penetration term is evaluated only on rows whose two skeletons (start of
        the frame, or the observation) come closer than this; farther hands cannot touch within a
        frame, and a frame without touching hands needs no mesh (keypoints only: ~5x cheaper).
    penetration_tolerance_m: L-BFGS (refine, and stream_solver "lbfgs") first solves without the penetration
        term; only a result whose deepest vertex is more than this behind the other hand's surface is solved
        again with it (refinement/solver.py, ``solve_staged``). Levenberg-Marquardt does not stop early while a
        vertex is deeper than this (refinement/levenberg_marquardt.py).
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
    realign_min_confidence: a palm jump re-aligns the hand only on an observation at least this
        confident; a jump on a frame the tracker doubts is more often its error than a motion.
    fit_residual_m: a refined hand whose mean distance r to its observed keypoints exceeds this is
        published with its confidence times (fit_residual_m / r)^2 (refinement/tracker.py): a hand
        published with confidence above 0.5 is then within sqrt(2) fit_residual_m of what was seen.
    betas_limit: largest |beta| of a refined hand; joint_angle_limit_rad: largest rotation of a finger
        joint from the flat hand; a state outside is clamped and reported (refinement/state_bounds.py).
    duplicate_distance_m: both slots' keypoints closer than this (mean) are one hand reported twice
        (a tracker error): the slot that matches its own track worse is dropped, with a warning.
    hold_weight: weight of the pull of a held (lost) hand towards its last keypoints, in place of
        its data term, so that it stays put unless the tracked hand pushes it aside.
    reinit_after_frames: a hand lost for more frames than this is initialised afresh when it returns.
    reinit_after_s: a stream whose timestamps (``step(..., time_s)``) jump ahead by more than this, or go
        back, starts tracking afresh: a topic that went quiet sends no lost frames to count.
    warning_interval_s: the same kind of warning is logged at most once per interval (the count of
        the ones in between is reported with the next).
    """

    stream_solver: str = setting(
        "levenberg_marquardt", choices=STREAM_SOLVERS, help="solver of a stream's frames (step); refine uses L-BFGS"
    )
    iterations: int = setting(8, low=0, high=200, help="optimiser iterations per frame")
    converged_decrease: float = setting(
        0.3, low=0.0, high=1.0, help="a stream's Levenberg-Marquardt solve stops once a step lowers E less than this"
    )
    init_iterations: int = setting(60, low=0, help="iterations for a hand seen for the first time")
    realign_iterations: int = setting(16, low=0, help="iterations for a hand re-aligned after a jump")
    batch_iterations: int = setting(60, low=0, help="iterations of refine on a batch of independent estimates")
    keypoint_weight: float = setting(1.0, low=0.0, help="weight of the keypoint data term")
    prior_weight: float = setting(2.0, low=0.0, high=1000.0, help="weight of the prior term (paper Eq. 9)")
    penetration_weight: float = setting(50.0, low=0.0, high=10000.0, help="weight of hand-hand penetration (Eq. 7)")
    smoothness_weight: float = setting(0.05, low=0.0, high=100.0, help="weight of temporal smoothness")
    pose_weight: float = setting(0.01, low=0.0, help="weight of the mean squared finger angle")
    betas_weight: float = setting(0.05, low=0.0, help="weight of the mean squared betas")
    prior_timestep: int = setting(30, low=0, help="t of the forward-reverse step of Eq. 9 (< the model's T)")
    prior_noise_draws: int = setting(8, low=2, help="noise draws averaged in the prior term; even")
    prior_reuse_distance: float = setting(
        0.3, low=0.0, help="a stream re-takes Eq. 9's target once its state moved more than this (rms, normalised)"
    )
    prior_placement_distance_m: float = setting(
        0.02, low=0.0, units="metres", help="the prior judges the hands' placement only when closer than this"
    )
    penetration_gate_m: float = setting(
        0.05, low=0.0, units="metres", help="penetration is evaluated only for skeletons closer than this"
    )
    penetration_tolerance_m: float = setting(
        0.001, low=0.0, units="metres", help="interpenetration left to a solve without the penetration term"
    )
    robust_scale_m: float = setting(
        0.03, low=0.0, high=1.0, low_open=True, units="metres", help="scale of the robust keypoint error"
    )
    velocity_damping: float = setting(
        0.8, low=0.0, high=1.0, help="fraction of the last velocity the smoothness prediction keeps"
    )
    min_keypoints: int = setting(6, low=3, high=21, help="fewest finite keypoints that make a hand observed")
    hand_size_range_m: tuple[float, float] = setting(
        (0.01, 0.15), units="metres", help="plausible median bone length of the keypoints (low, high)"
    )
    swap_ratio: float = setting(
        0.5, low=0.0, high=1.0, low_open=True, help="cost ratio below which the hands' labels are taken as swapped"
    )
    swap_min_distance_m: float = setting(
        0.03, low=0.0, high=1.0, low_open=True, units="metres", help="and the labelled matching is off by more"
    )
    confidence_decay: float = setting(0.8, low=0.0, high=1.0, help="per-frame confidence factor of a held hand")
    repaired_confidence_factor: float = setting(
        0.5, low=0.0, high=1.0, help="confidence factor of an observation that had to be repaired"
    )
    reinit_after_frames: int = setting(15, low=0, help="a hand lost longer than this is initialised afresh")
    reinit_after_s: float = setting(
        0.5, low=0.0, low_open=True, units="seconds", help="a stream silent this long restarts tracking"
    )
    reacquire_distance_m: float = setting(
        0.08, low=0.0, high=1.0, low_open=True, units="metres", help="palm jump beyond which a hand is re-aligned"
    )
    realign_min_confidence: float = setting(
        0.5, low=0.0, high=1.0, help="least observation confidence for which a palm jump re-aligns the hand"
    )
    fit_residual_m: float = setting(
        0.03, low=0.0, low_open=True, units="metres", help="mean fit residual above which confidence is lowered"
    )
    betas_limit: float = setting(3.0, low=0.0, low_open=True, help="largest |beta| of a refined hand")
    joint_angle_limit_rad: float = setting(
        2.1, low=0.0, high=3.2, low_open=True, units="radians", help="largest rotation of a finger joint"
    )
    duplicate_distance_m: float = setting(
        0.01, low=0.0, units="metres", help="both slots this close (mean keypoint distance) are one hand twice"
    )
    hold_weight: float = setting(0.3, low=0.0, help="pull of a lost hand towards its last keypoints")
    warning_interval_s: float = setting(5.0, low=0.0, units="seconds", help="least time between warnings of a kind")
    seed: int = setting(0, low=0, help="random seed of the prior term's noise")

    def check_consistency(self) -> None:
        owner = "RefinerConfig"
        if self.prior_noise_draws % 2:
            raise ConfigError(
                f"{owner}.prior_noise_draws must be even (antithetic pairs), got {self.prior_noise_draws}"
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
