"""HandPriorRefiner: noisy two-hand estimates in, plausible penetration-free hands out (paper 3.5).

>>> refiner = HandPriorRefiner.from_pretrained()                 # the shipped small prior
>>> for left_kp, right_kp in tracker:                            # (21, 3) metres each, or None
...     hands = refiner.step(TwoHandObservation.from_keypoints(left_kp, right_kp))
...     hands.left_keypoints, hands.left_confidence              # (1, 21, 3), (1,)

``step`` is for a stream: each frame is warm-started from the previous refined frame and
pulled towards the keypoints' constant-velocity prediction. ``refine`` takes a batch of
independent estimates (no history). Both minimise refinement/objective.py with L-BFGS over
each hand's 64-number vector (world frame), in variables scaled so that one unit is a
typical correction (``_VARIABLE_SCALE``).

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
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.hands.hand_params import BETAS, HAND_DIM, POSE, ROT6D, TRANSL, HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.io.hands_file import SIDES, HandsFile, hands_file_from_params
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.initialisation import hands_from_palm_keypoints, rigid_fit
from interhandgen_core.refinement.objective import FrameTargets, RefinementObjective
from interhandgen_core.refinement.observation import (
    PALM_KEYPOINTS,
    HandObservation,
    TwoHandObservation,
    labels_swapped,
    repair_keypoints,
)
from interhandgen_core.refinement.prior_term import antithetic_noise
from interhandgen_core.runtime.configuration import BackendConfig

logger = logging.getLogger(__name__)

# One unit of the optimisation variable per dimension of the hand vector: 0.1 rad of finger
# or root rotation, 0.3 of a shape coefficient, 1 cm of wrist position. L-BFGS's first step
# is a plain gradient step, so similar units make it a sensible one.
_VARIABLE_SCALE = torch.zeros(HAND_DIM)
_VARIABLE_SCALE[POSE] = 0.1
_VARIABLE_SCALE[BETAS] = 0.3
_VARIABLE_SCALE[ROT6D] = 0.1
_VARIABLE_SCALE[TRANSL] = 0.01

# Where a hand that has never been seen is parked: far from the other hand, so that it
# takes part in nothing, with finite numbers everywhere.
_PARKED_TRANSLATION_M = 10.0


@dataclass
class RefinedHands:
    """B refined two-hand states, world frame, metres.

    left, right: HandParams (B,); for a hand that has never been seen, a parked placeholder.
    left_keypoints, right_keypoints: (B, 21, 3), NaN where a hand has no state.
    left_confidence, right_confidence: (B,) in [0, 1]; 0 where a hand has no state.
    issues: what was wrong with the input, one line each.
    """

    left: HandParams
    right: HandParams
    left_keypoints: Tensor
    right_keypoints: Tensor
    left_confidence: Tensor
    right_confidence: Tensor
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
            [issue for h in items for issue in h.issues],
        )


@dataclass
class _SideTargets:
    keypoints: Tensor  # (B, 21, 3)
    weight: Tensor  # (B, 21)
    observed: Tensor  # (B,) bool
    repaired: Tensor  # (B,) bool
    confidence: Tensor  # (B,)
    init: HandParams | None  # from a parameter observation
    init_ok: Tensor  # (B,) bool, rows of ``init`` that are finite and observed


@dataclass
class _Track:
    """What the stream remembers of one hand."""

    state: HandParams | None = None
    keypoints: Tensor | None = None  # (1, 21, 3) last refined
    previous_keypoints: Tensor | None = None  # (1, 21, 3) the frame before, when tracked in both
    confidence: float = 0.0
    frames_lost: int = 0


def issue_kind(issue: str) -> str:
    """What kind of problem an issue line reports: its text before the details ("(...)") and the remedy ("; ...")."""
    return issue.split(";")[0].split("(")[0].strip()


class _ThrottledLog:
    """Logs each kind of warning at most once per interval, with the count of the ones held back."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def warn(self, message: str) -> None:
        kind = issue_kind(message)
        now = time.monotonic()
        if now - self.last.get(kind, -float("inf")) >= self.interval_s:
            held = self.held.pop(kind, 0)
            logger.warning(message + (f" (and {held} more like it)" if held else ""))
            self.last[kind] = now
        else:
            self.held[kind] = self.held.get(kind, 0) + 1


class HandPriorRefiner:
    """Refines two-hand estimates with a two-hand prior (not an object-conditioned one) as a frozen critic."""

    def __init__(self, model: InterHandGen, config: RefinerConfig | None = None) -> None:
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
        self.scale = _VARIABLE_SCALE.to(device)
        mean = HandParams.from_vector(model.normalizer.mean[None].to(device))
        # The prior's mean finger pose is the first guess of a new hand (right-hand space; Gamma for a left one).
        self.mean_pose = {"right": mean.pose[0], "left": mean.mirrored().pose[0]}
        self._log = _ThrottledLog(self.config.warning_interval_s)
        self.reset()

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
        return cls(InterHandGen.from_pretrained(path, device=device, mano_dir=mano_dir, backend=backend), config)

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
            self._log = _ThrottledLog(config.warning_interval_s)
        self.config = config
        self.objective.config = config

    def reset(self) -> None:
        """Forget the stream: the next ``step`` starts tracking afresh."""
        self.tracks = {side: _Track() for side in SIDES}

    def layer(self, side: str) -> HandLayer:
        return self.model.left_layer if side == "left" else self.model.right_layer

    # ---------------------------------------------------------------- observations

    def _side_targets(self, side: str, obs: HandObservation | None, batch: int) -> tuple[_SideTargets, list[str]]:
        device = self.model.device
        notes: list[str] = []
        if obs is None:
            zeros = torch.zeros(batch, device=device)
            return (
                _SideTargets(
                    torch.zeros(batch, 21, 3, device=device),
                    torch.zeros(batch, 21, device=device),
                    zeros.bool(),
                    zeros.bool(),
                    zeros,
                    None,
                    zeros.bool(),
                ),
                notes,
            )
        dtype = self.model.left_layer.v_template.dtype
        confidence = obs.confidences().to(device, dtype)
        init: HandParams | None = None
        params_ok = torch.zeros(batch, dtype=torch.bool, device=device)
        if obs.params is not None:
            params = obs.params.to(device, dtype)
            params_ok = torch.isfinite(params.to_vector()).all(-1)
            if not bool(params_ok.all()):
                notes.append(f"{side} hand parameters hold NaN or inf; treated as missing")
            init = _finite_or_parked(params, params_ok)
        if obs.keypoints is not None:
            repaired = repair_keypoints(
                obs.keypoints.to(device, dtype), side, self.config.min_keypoints, self.config.hand_size_range_m
            )
            notes += repaired.notes
            keypoints, weight = repaired.keypoints, repaired.weight
            observed, fixed = repaired.observed, repaired.repaired
            if init is not None:  # parameters only where they are finite and the keypoints are usable
                params_ok = params_ok & observed
        else:
            assert init is not None
            with torch.no_grad():
                keypoints = self.layer(side)(init).keypoints
            observed, fixed = params_ok, torch.zeros_like(params_ok)
            weight = observed[:, None].expand(batch, 21).to(keypoints.dtype)
        lost = observed & (confidence <= 0)
        if bool(lost.any()):
            notes.append(f"{side} hand has confidence 0; treated as missing")
        observed = observed & (confidence > 0)
        weight = weight * (confidence * observed)[:, None]
        return (
            _SideTargets(
                keypoints,
                weight,
                observed,
                fixed,
                confidence,
                init if bool(params_ok.any()) else None,
                params_ok & observed,
            ),
            notes,
        )

    # ---------------------------------------------------------------- optimisation

    def _parked(self, side: str, batch: int) -> HandParams:
        device = self.model.device
        translation = torch.zeros(batch, 3, device=device)
        translation[:, 0] = _PARKED_TRANSLATION_M if side == "right" else -_PARKED_TRANSLATION_M
        return HandParams(
            self.mean_pose[side].expand(batch, -1).clone(),
            torch.zeros(batch, 10, device=device),
            torch.eye(3, device=device).expand(batch, 3, 3).clone(),
            translation,
        )

    def _initial(self, side: str, targets: _SideTargets) -> HandParams:
        """A first guess per row: the observed parameters where finite, else the palm fit, else parked."""
        batch = targets.keypoints.shape[0]
        fitted = hands_from_palm_keypoints(self.layer(side), targets.keypoints, targets.weight, self.mean_pose[side])
        guess = _where(targets.observed, fitted, self._parked(side, batch))
        if targets.init is not None:
            guess = _where(targets.init_ok, targets.init, guess)
        return guess

    def _palm_jump(self, targets: _SideTargets, track: _Track) -> float | None:
        """Mean distance (metres) of the observed palm keypoints from the last state's, when above
        RefinerConfig.reacquire_distance_m; None otherwise."""
        if track.keypoints is None:
            return None
        palm = list(PALM_KEYPOINTS)
        weight = targets.weight[0, palm].gt(0).to(track.keypoints.dtype)
        if float(weight.sum()) < 3:
            return None
        distance = (targets.keypoints[0, palm] - track.keypoints[0, palm]).norm(dim=-1)
        mean = float((distance * weight).sum() / weight.sum())
        return mean if mean > self.config.reacquire_distance_m else None

    def _realigned(self, state: HandParams, targets: _SideTargets, track: _Track) -> HandParams:
        """The state moved rigidly so that its palm keypoints fit the observed ones."""
        assert track.keypoints is not None
        palm = list(PALM_KEYPOINTS)
        rotation, translation = rigid_fit(
            track.keypoints[:, palm], targets.keypoints[:, palm], targets.weight[:, palm].gt(0).to(state.pose.dtype)
        )
        return state.transformed(rotation, translation)

    def _optimise(
        self, left: HandParams, right: HandParams, free: Tensor, targets: FrameTargets, iterations: int
    ) -> tuple[HandParams, HandParams]:
        """L-BFGS on the rows' free hands. free: (2, B) bool (left, right) -> refined (left, right)."""
        if iterations == 0 or not bool(free.any()):
            return left, right
        base = torch.stack([left.to_vector(), right.to_vector()]).detach()
        u = torch.zeros_like(base, requires_grad=True)
        optimiser = torch.optim.LBFGS(
            [u],
            lr=1.0,
            max_iter=iterations,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-7,
            tolerance_change=1e-9,
        )
        mask = free[..., None].to(base.dtype)

        def vectors() -> Tensor:
            return base + mask * u * self.scale

        def closure() -> Tensor:
            optimiser.zero_grad()
            vec = vectors()
            loss = self.objective(HandParams.from_vector(vec[0]), HandParams.from_vector(vec[1]), targets).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimiser.step(closure)
        with torch.no_grad():
            vec = vectors()
        return HandParams.from_vector(vec[0]), HandParams.from_vector(vec[1])

    def _keypoints(self, left: HandParams, right: HandParams) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            left_kp, right_kp, _, _ = self.objective.keypoints(left, right)
        return left_kp, right_kp

    # ---------------------------------------------------------------- public API

    def refine(self, observation: TwoHandObservation) -> RefinedHands:
        """B independent two-hand estimates -> RefinedHands (B,); no history, ``batch_iterations`` each."""
        batch = observation.batch_size
        issues: list[str] = []
        sides: dict[str, _SideTargets] = {}
        for side in SIDES:
            sides[side], notes = self._side_targets(side, observation.side(side), batch)
            issues += notes
        left0, right0 = self._initial("left", sides["left"]), self._initial("right", sides["right"])
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
        free = torch.stack([sides["left"].observed, sides["right"].observed])
        left, right = self._optimise(left0, right0, free, targets, self.config.batch_iterations)
        left_kp, right_kp = self._keypoints(left, right)
        out = []
        for side, kp in (("left", left_kp), ("right", right_kp)):
            t = sides[side]
            confidence = (
                t.confidence * t.observed * torch.where(t.repaired, self.config.repaired_confidence_factor, 1.0)
            )
            out.append((torch.where(t.observed[:, None, None], kp, torch.nan), confidence))
        self._warn_all(issues)
        return RefinedHands(left, right, out[0][0], out[1][0], out[0][1], out[1][1], issues)

    def step(self, observation: TwoHandObservation) -> RefinedHands:
        """One frame of a stream (batch of one) -> its refined state, warm-started from the last frame."""
        if observation.batch_size != 1:
            raise DataError(
                f"step takes one frame (batch of 1), got {observation.batch_size}; "
                "call it once per frame, or use refine for independent estimates"
            )
        config = self.config
        issues: list[str] = []
        sides: dict[str, _SideTargets] = {}
        for side in SIDES:
            sides[side], notes = self._side_targets(side, observation.side(side), 1)
            issues += notes
        left_track, right_track = self.tracks["left"], self.tracks["right"]
        swapped = False
        if left_track.keypoints is not None and right_track.keypoints is not None:
            lt, rt = sides["left"], sides["right"]
            swapped = bool(
                labels_swapped(
                    lt.keypoints,
                    rt.keypoints,
                    lt.weight.gt(0).to(lt.keypoints.dtype),
                    rt.weight.gt(0).to(rt.keypoints.dtype),
                    left_track.keypoints,
                    right_track.keypoints,
                    config.swap_ratio,
                    config.swap_min_distance_m,
                )[0]
            )
            if swapped:
                sides = {"left": _relabelled(rt), "right": _relabelled(lt)}
                issues.append(
                    "left and right labels look swapped (each hand matches the other's last state); swapped back"
                )

        states: dict[str, HandParams] = {}
        data = {side: (sides[side].keypoints, sides[side].weight) for side in SIDES}
        present: dict[str, bool] = {}
        free: dict[str, bool] = {}
        smooth: dict[str, tuple[Tensor, bool]] = {}
        fresh = False  # a hand started from the mean hand: many iterations, Eq. 9's target re-taken
        realigned = False  # a hand moved rigidly to a far observation: its articulation is kept
        for side in SIDES:
            track, t = self.tracks[side], sides[side]
            observed = bool(t.observed[0])
            zero_kp = torch.zeros_like(t.keypoints)
            if observed:
                if track.state is None or track.frames_lost > config.reinit_after_frames:
                    states[side], fresh = self._initial(side, t), True
                    smooth[side] = (zero_kp, False)
                else:
                    states[side] = track.state
                    jump = self._palm_jump(t, track)
                    if jump is not None:
                        # Far beyond the robust data term's reach: re-align the root before fitting.
                        states[side], realigned = self._realigned(track.state, t, track), True
                        issues.append(
                            f"{side} hand moved {100 * jump:.0f} cm since the last frame; re-aligned to the observation"
                        )
                        smooth[side] = (zero_kp, False)
                    elif (
                        track.keypoints is not None and track.previous_keypoints is not None and track.frames_lost == 0
                    ):
                        prediction = track.keypoints + config.velocity_damping * (
                            track.keypoints - track.previous_keypoints
                        )
                        smooth[side] = (prediction, True)
                    else:
                        prediction = track.keypoints if track.keypoints is not None else zero_kp
                        smooth[side] = (prediction, track.keypoints is not None)
                present[side], free[side] = True, True
            else:
                held = track.state is not None and track.keypoints is not None
                states[side] = track.state if track.state is not None else self._parked(side, 1)
                # A held hand stays part of the scene: anchored to where it was last seen, it gives
                # way where the tracked hand moves into it instead of being passed through.
                present[side] = free[side] = held
                smooth[side] = (zero_kp, False)
                if held and track.keypoints is not None:
                    data[side] = (track.keypoints, torch.full_like(t.weight, config.hold_weight))
                    issues.append(
                        f"{side} hand not observed; holding its last state (lost {track.frames_lost + 1} frames)"
                    )

        def flag(value: bool) -> Tensor:
            return torch.tensor([value], device=self.model.device)

        targets = FrameTargets(
            data["left"][0],
            data["right"][0],
            data["left"][1],
            data["right"][1],
            flag(present["left"]),
            flag(present["right"]),
            smooth["left"][0],
            smooth["right"][0],
            flag(smooth["left"][1]),
            flag(smooth["right"][1]),
            sides["left"].observed,
            sides["right"].observed,
        )
        iterations = config.init_iterations if fresh else config.realign_iterations if realigned else config.iterations
        if not fresh and config.prior_weight > 0:
            # Warm-started, the state moves little within a frame: Eq. 9's detached target is taken
            # once at the start of the frame instead of at every evaluation (a denoiser call saved
            # per evaluation); a fresh start is far from its end, so it recomputes the target.
            targets.prior_estimate, targets.placement = self.objective.prior_estimate(
                states["left"], states["right"], targets
            )
        left, right = self._optimise(
            states["left"], states["right"], torch.stack([flag(free["left"]), flag(free["right"])]), targets, iterations
        )
        left_kp, right_kp = self._keypoints(left, right)
        result: dict[str, tuple[HandParams, Tensor, Tensor]] = {}
        for side, params, kp in (("left", left, left_kp), ("right", right, right_kp)):
            track, t = self.tracks[side], sides[side]
            if bool(t.observed[0]):
                repaired = bool(t.repaired[0]) or swapped
                confidence = float(t.confidence[0]) * (config.repaired_confidence_factor if repaired else 1.0)
                track.previous_keypoints = track.keypoints if track.frames_lost == 0 else None
                track.state, track.keypoints, track.confidence, track.frames_lost = params, kp, confidence, 0
            elif track.state is not None:
                track.frames_lost += 1
                track.confidence *= config.confidence_decay
                track.previous_keypoints = None
            has_state = track.state is not None
            result[side] = (
                params,
                kp if has_state else torch.full_like(kp, torch.nan),
                torch.tensor([track.confidence if has_state else 0.0], device=kp.device),
            )
        self._warn_all(issues)
        return RefinedHands(
            result["left"][0],
            result["right"][0],
            result["left"][1],
            result["right"][1],
            result["left"][2],
            result["right"][2],
            issues,
        )

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


def _where(condition: Tensor, a: HandParams, b: HandParams) -> HandParams:
    """Row-wise choice between two HandParams batches. condition (B,) bool."""
    return HandParams.from_vector(torch.where(condition[:, None], a.to_vector(), b.to_vector()))


def _finite_or_parked(params: HandParams, ok: Tensor) -> HandParams:
    """Rows that are not ``ok`` replaced by zeros with the identity rotation (never used as data)."""
    safe = torch.zeros_like(params.to_vector())
    safe[:, ROT6D] = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], device=safe.device)
    return HandParams.from_vector(torch.where(ok[:, None], torch.nan_to_num(params.to_vector()), safe))


def _relabelled(targets: _SideTargets) -> _SideTargets:
    """A side's targets moved to the other label. Keypoints stay as they are (a left hand's keypoints are
    where they are); parameters of the other hand model are dropped, the fit starts from the keypoints."""
    return replace(
        targets, init=None, init_ok=torch.zeros_like(targets.init_ok), repaired=torch.ones_like(targets.repaired)
    )
