"""HandPriorRefiner: noisy two-hand estimates in, plausible penetration-free hands out (paper 3.5).

>>> refiner = HandPriorRefiner.from_pretrained()                 # the shipped small prior
>>> for left_kp, right_kp in tracker:                            # (21, 3) metres each, or None
...     hands = refiner.step(TwoHandObservation.from_keypoints(left_kp, right_kp))
...     hands.left_keypoints, hands.left_confidence              # (1, 21, 3), (1,)

``step`` is for a stream: each frame is warm-started from the previous refined frame and
pulled towards the keypoints' constant-velocity prediction. ``refine`` takes a batch of
independent estimates (no history). Both minimise refinement/objective.py with L-BFGS over
each hand's 64-number vector (world frame, refinement/solver.py).

The parts:
    observation -> per-side targets      refinement/side_targets.py
    first guesses, parked placeholders   refinement/start_states.py
    the stream's tracking state machine  refinement/tracker.py
    the L-BFGS solve                     refinement/solver.py
    issue lines and their throttled log  refinement/issues.py

Tracking rules (RefinerConfig), all reported in ``RefinedHands.issues`` and logged
(throttled):
    - A hand that is not observed (None, NaN keypoints, confidence 0, implausible scale) is
      held at its last refined state while its confidence decays. It stays an obstacle: anchored
      to its last keypoints with ``hold_weight``, it gives way where the tracked hand moves
      into it. When it returns after more than ``reinit_after_frames`` it is initialised afresh
      from its palm keypoints.
    - Keypoints in millimetres are converted; labels that are the other way round (judged
      against the previous state) are swapped back. Both lower the output confidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.io.hands_file import SIDES, HandsFile, hands_file_from_params
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.issues import ThrottledLog
from interhandgen_core.refinement.levenberg_marquardt import LevenbergMarquardtSolver
from interhandgen_core.refinement.objective import FrameTargets, RefinementObjective, hands_near
from interhandgen_core.refinement.observation import TwoHandObservation
from interhandgen_core.refinement.prior_target import PriorTarget
from interhandgen_core.refinement.prior_term import antithetic_noise
from interhandgen_core.refinement.side_targets import SideTargets, observation_to_targets
from interhandgen_core.refinement.solver import HandsSolver
from interhandgen_core.refinement.start_states import StartStates
from interhandgen_core.refinement.state_bounds import bounded_state
from interhandgen_core.refinement.tracker import HandTracker
from interhandgen_core.runtime.configuration import BackendConfig

logger = logging.getLogger(__name__)


@dataclass
class RefinedHands:
    """B refined two-hand states, world frame, metres.

    left, right: HandParams (B,); for a hand that has never been seen, a parked placeholder.
    left_keypoints, right_keypoints: (B, 21, 3), NaN where a hand has no state.
    left_confidence, right_confidence: (B,) in [0, 1]; 0 where a hand has no state.
    left_observed, right_observed: (B,) bool, the row's observation of the hand was used (after the
        refiner's own checks: enough finite keypoints, a plausible size, the labels, a duplicate); False
        where the hand is held or carried on while lost, or has never been seen. A consumer that acts
        only on a hand seen this frame (a robot hand that holds its command while its hand is lost) reads
        this rather than judging the input again.
    issues: what was wrong with the input, one line each.
    """

    left: HandParams
    right: HandParams
    left_keypoints: Tensor
    right_keypoints: Tensor
    left_confidence: Tensor
    right_confidence: Tensor
    left_observed: Tensor
    right_observed: Tensor
    issues: list[str] = field(default_factory=list)

    @staticmethod
    def cat(items: list[RefinedHands]) -> RefinedHands:
        """Frames of a stream -> one RefinedHands with every frame, issues concatenated."""
        if not items:
            raise DataError("no refined frames to concatenate")
        return RefinedHands(
            HandParams.cat([h.left for h in items]),
            HandParams.cat([h.right for h in items]),
            torch.cat([h.left_keypoints for h in items]),
            torch.cat([h.right_keypoints for h in items]),
            torch.cat([h.left_confidence for h in items]),
            torch.cat([h.right_confidence for h in items]),
            torch.cat([h.left_observed for h in items]),
            torch.cat([h.right_observed for h in items]),
            [issue for h in items for issue in h.issues],
        )


class HandPriorRefiner:
    """Refines two-hand estimates with a two-hand prior (not an object-conditioned one) as a frozen critic."""

    def __init__(self, model: TwoHandPipeline, config: RefinerConfig | None = None) -> None:
        if model.prior.object_encoder is not None:
            raise ConfigError(
                "refinement needs the two-hand prior; this checkpoint is object-conditioned "
                "(load the default with HandPriorRefiner.from_pretrained())"
            )
        self.model = model
        self.config = config or RefinerConfig()
        if self.config.prior_timestep >= model.schedule.num_timesteps:
            raise ConfigError(
                f"RefinerConfig.prior_timestep={self.config.prior_timestep} must be below the model's "
                f"T={model.schedule.num_timesteps}"
            )
        device = model.device
        generator = torch.Generator().manual_seed(self.config.seed)
        noise = antithetic_noise(self.config.prior_noise_draws, generator).to(device)
        self.objective = RefinementObjective(
            model._denoise,
            model.schedule,
            model.normalizer,
            model.left_layer,
            model.right_layer,
            self.config,
            noise,
        )
        self.solver = HandsSolver(self.objective, device)
        self.stream_solver = LevenbergMarquardtSolver(self.objective)
        mean = HandParams.from_vector(model.normalizer.mean[None].to(device))
        # The prior's mean finger pose is the first guess of a new hand (right-hand space; Gamma for a left one).
        self.starts = StartStates(model.left_layer, model.right_layer, mean, device)
        self._log = ThrottledLog(self.config.warning_interval_s, logger)
        self.tracker = HandTracker()
        self.prior_target = PriorTarget(self.objective)
        self._last_time_s: float | None = None  # the last step's timestamp, seconds

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        config: RefinerConfig | None = None,
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> HandPriorRefiner:
        """Load a two-hand prior (the shipped default when ``path`` is None) with its denoiser backend
        (runtime/backend.py; torch eager when None) and wrap it."""
        return cls(TwoHandPipeline.from_pretrained(path, device=device, mano_dir=mano_dir, backend=backend), config)

    # Fields fixed at construction: they shape the noise draws and the unit checks made then.
    _FIXED_FIELDS = ("seed", "prior_noise_draws", "prior_timestep")

    def reconfigure(self, config: RefinerConfig) -> None:
        """Use ``config`` from the next frame on (weights, iterations, tracking rules); the stream is kept.

        The noise draws of Eq. 9 are made at construction, so seed, prior_noise_draws and
        prior_timestep cannot change here (make a new refiner for those).
        """
        fixed = [name for name in self._FIXED_FIELDS if getattr(config, name) != getattr(self.config, name)]
        if fixed:
            raise ConfigError(f"RefinerConfig.{', '.join(fixed)} cannot change on a running refiner; make a new one")
        if config.warning_interval_s != self.config.warning_interval_s:
            self._log = ThrottledLog(config.warning_interval_s, logger)
        self.config = config
        self.objective.config = config

    def reset(self) -> None:
        """Forget the stream: the next ``step`` starts tracking afresh."""
        self.tracker.reset()
        self.prior_target.reset()
        self._last_time_s = None

    def _restart_on_time(self, time_s: float | None, silence_s: float | None, issues: list[str]) -> None:
        """A stream silent for more than ``reinit_after_s`` by its timestamps, or whose timestamps went back,
        starts tracking afresh (counting lost frames cannot see a topic that went quiet). ``silence_s``: the
        longest gap of the stream since the last step, when the caller skipped frames; None: the gap since
        the last step's timestamp."""
        last, self._last_time_s = self._last_time_s, time_s
        if time_s is None or last is None:
            return
        gap = time_s - last
        silent = gap if silence_s is None else silence_s
        if gap >= 0 and silent > self.config.reinit_after_s:
            self.tracker.reset()
            issues.append(
                f"no frame for {silent:.2f} s (reinit_after_s {self.config.reinit_after_s:g}); tracking restarted"
            )
        elif gap < 0:
            self.tracker.reset()
            issues.append(f"the frame's timestamp is {-gap:.3f} s before the last one; tracking restarted")

    def layer(self, side: str) -> HandLayer:
        return self.model.left_layer if side == "left" else self.model.right_layer

    def _targets(self, observation: TwoHandObservation) -> tuple[dict[str, SideTargets], list[str]]:
        """Both sides' targets of B rows, and the issues noted on the way."""
        issues: list[str] = []
        sides: dict[str, SideTargets] = {}
        dtype = self.model.left_layer.v_template.dtype
        for side in SIDES:
            sides[side], notes = observation_to_targets(
                side,
                observation.side(side),
                observation.batch_size,
                self.layer(side),
                self.config,
                self.model.device,
                dtype,
            )
            issues += notes
        return sides, issues

    # ---------------------------------------------------------------- public API

    def refine(self, observation: TwoHandObservation) -> RefinedHands:
        """B independent two-hand estimates -> RefinedHands (B,); no history, ``batch_iterations`` each."""
        batch = observation.batch_size
        sides, issues = self._targets(observation)
        left0, right0 = self.starts.initial("left", sides["left"]), self.starts.initial("right", sides["right"])
        zero_kp = torch.zeros_like(sides["left"].keypoints)
        no = torch.zeros(batch, dtype=torch.bool, device=zero_kp.device)
        targets = FrameTargets(
            sides["left"].keypoints,
            sides["right"].keypoints,
            sides["left"].weight,
            sides["right"].weight,
            sides["left"].observed,
            sides["right"].observed,
            zero_kp,
            zero_kp,
            no,
            no,
            sides["left"].observed,
            sides["right"].observed,
        )
        self._gate(left0, right0, targets)
        free = torch.stack([sides["left"].observed, sides["right"].observed])
        left, right = self.solver.solve_staged(left0, right0, free, targets, self.config.batch_iterations)
        left, right = self._bounded(left, right, issues)
        left_kp, right_kp = self.solver.keypoints(left, right)
        out = []
        for side, kp in (("left", left_kp), ("right", right_kp)):
            t = sides[side]
            confidence = (
                t.confidence * t.observed * torch.where(t.repaired, self.config.repaired_confidence_factor, 1.0)
            )
            out.append((torch.where(t.observed[:, None, None], kp, torch.nan), confidence))
        self._warn_all(issues)
        observed = (sides["left"].observed.clone(), sides["right"].observed.clone())
        return RefinedHands(left, right, out[0][0], out[1][0], out[0][1], out[1][1], *observed, issues)

    def step(
        self,
        observation: TwoHandObservation,
        time_s: float | None = None,
        silence_s: float | None = None,
        interrupt: Callable[[], bool] | None = None,
    ) -> RefinedHands:
        """One frame of a stream (batch of one) -> its refined state, warm-started from the last frame.

        ``time_s``: the frame's timestamp in seconds (any clock, increasing), when known: a gap
        longer than ``reinit_after_s`` or a step back in time restarts tracking.
        ``silence_s``: for a caller that skips frames (a node that refines only the newest input), the
        longest gap between consecutive frames of the stream since the last step, seconds, by their
        timestamps: the stream's silence, which the gap since the last *refined* frame overstates (a
        slow machine skipping frames of a live stream would otherwise restart tracking at every frame).
        ``interrupt``: asked between solver iterations (Levenberg-Marquardt; L-BFGS ignores it); True ends the
        frame's solve there with its best state so far, whose fit sets its confidence as for any frame: for a
        caller with a newer input waiting (hand_prior_node's hurry_when_behind), which would otherwise be
        superseded while this frame runs its full iterations.
        """
        if observation.batch_size != 1:
            raise DataError(
                f"step takes one frame (batch of 1), got {observation.batch_size}; "
                "call it once per frame, or use refine for independent estimates"
            )
        config = self.config
        sides, issues = self._targets(observation)
        self._restart_on_time(time_s, silence_s, issues)
        plan = self.tracker.plan(sides, config, self.starts, self.model.device)
        issues += plan.issues
        self._gate(plan.states["left"], plan.states["right"], plan.targets)
        if not plan.fresh and config.prior_weight > 0:
            # Warm-started, the state moves little within a frame: Eq. 9's detached target is taken
            # once at the start of the frame instead of at every evaluation (a denoiser call saved
            # per evaluation); a fresh start is far from its end, so it recomputes the target.
            plan.targets.prior_estimate, plan.targets.placement = self.prior_target(
                plan.states["left"], plan.states["right"], plan.targets
            )
        states = (plan.states["left"], plan.states["right"], plan.free, plan.targets, plan.iterations)
        if config.stream_solver == "levenberg_marquardt":
            left, right = self.stream_solver.solve(*states, interrupt=interrupt)
        else:
            left, right = self.solver.solve_staged(*states)
        left, right = self._bounded(left, right, issues)
        left_kp, right_kp = self.solver.keypoints(left, right)
        result = self.tracker.advance(plan, {"left": (left, left_kp), "right": (right, right_kp)}, config)
        self._warn_all(issues)
        return RefinedHands(
            result["left"][0],
            result["right"][0],
            result["left"][1],
            result["right"][1],
            result["left"][2],
            result["right"][2],
            plan.sides["left"].observed.clone(),
            plan.sides["right"].observed.clone(),
            issues,
        )

    def _bounded(self, left: HandParams, right: HandParams, issues: list[str]) -> tuple[HandParams, HandParams]:
        """Both hands clamped to the plausible shape and pose ranges (refinement/state_bounds.py), noting which left them."""
        out = []
        for side, hand in (("left", left), ("right", right)):
            inside, outside = bounded_state(hand, self.config.betas_limit, self.config.joint_angle_limit_rad)
            if bool(outside.any()):
                issues.append(
                    f"{side} hand left the plausible shape and pose ranges "
                    f"(betas_limit {self.config.betas_limit:g}, joint_angle_limit_rad "
                    f"{self.config.joint_angle_limit_rad:g}) in {int(outside.sum())} of {hand.batch_size} rows; clamped"
                )
            out.append(inside)
        return out[0], out[1]

    def _gate(self, left: HandParams, right: HandParams, targets: FrameTargets) -> None:
        """Set targets.near: the rows whose hands may touch this frame, judged on the start states and on
        the observed keypoints (RefinerConfig.penetration_gate_m).

        The nearest-vertex pairs of the penetration term are searched at every evaluation, not once per
        frame: kept over a warm-started frame's solve, stale pairs (a vertex judged against the tangent
        plane of a vertex no longer its nearest) pushed the hands apart where they touched, and cost
        6 mm of mean keypoint error on development sequences.
        """
        gate = self.config.penetration_gate_m
        observed = [
            torch.where(weight[..., None] > 0, keypoints, torch.nan)
            for keypoints, weight in (
                (targets.left_keypoints, targets.left_weight),
                (targets.right_keypoints, targets.right_weight),
            )
        ]
        near = hands_near(observed[0], observed[1], gate)
        if not bool(near.all()):  # the start states' skeletons only where the observations are apart
            with torch.no_grad():
                start_kp = self.model.left_layer.keypoints(left), self.model.right_layer.keypoints(right)
            near = near | hands_near(*start_kp, gate)
        targets.near = near

    def to_hands_file(self, hands: RefinedHands) -> HandsFile:
        """RefinedHands -> the hands-file schema (README "Conventions"), with keypoints NaN where a hand has no state."""
        out = hands_file_from_params(
            self.model.left_layer,
            self.model.right_layer,
            hands.left,
            hands.right,
            left_confidence=hands.left_confidence,
            right_confidence=hands.right_confidence,
        )
        for side in SIDES:
            keypoints = getattr(out, f"{side}_keypoints").copy()
            missing = ~torch.isfinite(getattr(hands, f"{side}_keypoints")).all(-1).all(-1).cpu().numpy()
            keypoints[missing] = float("nan")
            setattr(out, f"{side}_keypoints", keypoints)
        return replace(out)

    def _warn_all(self, issues: list[str]) -> None:
        for issue in issues:
            self._log.warn(issue)
