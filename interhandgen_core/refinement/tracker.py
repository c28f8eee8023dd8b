"""The stream's tracking state machine: what each hand remembers between frames and what a frame starts from.

Per hand (``Track``), per frame, before the solve (``HandTracker.plan``):
    - labels that are the other way round (each hand matches the other's last state,
      refinement/observation.py ``labels_swapped``) are swapped back;
    - an observed hand starts afresh from its first guess (refinement/start_states.py) when
      it has no state or was lost for more than ``reinit_after_frames``; is moved rigidly
      onto its palm keypoints when they jumped further than ``reacquire_distance_m``; and
      else is warm-started from its last state, pulled towards the constant-velocity
      prediction of its keypoints;
    - a hand that is not observed is held at its last state, anchored to its last keypoints
      with ``hold_weight`` (it gives way where the other hand moves into it), or is left
      out when it has never been seen.
After the solve (``HandTracker.advance``) an observed hand's track takes the refined state;
a held one counts its lost frames and its confidence decays.

Notation (code -> meaning; metres, frame t):
    K_t         track.keypoints            (1, 21, 3) last refined keypoints
    K_{t-1}     track.previous_keypoints   (1, 21, 3) the frame before, when tracked in both
    lambda      velocity_damping
    P           prediction                 K_t + lambda (K_t - K_{t-1}), the smoothness target
    v           track.velocity             (1, 3) m/frame: the palm's mean displacement between
                                           the last two tracked frames; v <- lambda v per lost frame
    c           track.confidence           c <- c_obs * f * g for an observed frame (f =
                                           repaired_confidence_factor when repaired or swapped,
                                           else 1; g = fit_confidence(r), r the refined hand's
                                           mean distance to its observed keypoints);
                                           c <- c * confidence_decay per lost frame, reported
                                           times (fit_residual_m / (k |v_0|))^2 once k lost
                                           frames at the last seen speed |v_0| exceed it

A tracked hand is warm-started at its last state moved by lambda v, where it is likely to be.
A lost hand is carried on by v, damped each frame, instead of standing still while the person
goes on moving (dead reckoning; its confidence decays meanwhile). A hand that was started afresh
or re-aligned has no velocity until it is tracked in two frames: the jump is not a motion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.io.hands_file import SIDES
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.initialisation import rigid_fit
from interhandgen_core.refinement.objective import FrameTargets
from interhandgen_core.refinement.observation import PALM_KEYPOINTS, labels_swapped, same_hand_twice
from interhandgen_core.refinement.side_targets import SideTargets, relabelled
from interhandgen_core.refinement.start_states import StartStates


@dataclass
class Track:
    """What the stream remembers of one hand."""

    state: HandParams | None = None
    keypoints: Tensor | None = None  # (1, 21, 3) last refined
    previous_keypoints: Tensor | None = None  # (1, 21, 3) the frame before, when tracked in both
    confidence: float = 0.0
    frames_lost: int = 0
    velocity: Tensor | None = None  # (1, 3) m/frame, palm; None: unknown (first frame, after a jump)
    speed_when_lost: float = 0.0  # |v| m/frame when it was last seen, while it is lost


@dataclass
class FramePlan:
    """What one frame of the stream is solved from and fitted to.

    sides: each side's targets, after a label swap was undone; swapped: whether it was;
    states: the state each side starts from (1,); targets: the frame's FrameTargets;
    free: (2, 1) bool, the hands (left, right) the solve moves; iterations: L-BFGS
    iterations; fresh: a hand started from its first guess (far from its end, so Eq. 9's
    target is recomputed at every evaluation); issues: what was noted, one line each.
    """

    sides: dict[str, SideTargets]
    swapped: bool
    states: dict[str, HandParams]
    targets: FrameTargets
    free: Tensor
    iterations: int
    fresh: bool
    issues: list[str] = field(default_factory=list)
    restarted: set[str] = field(default_factory=set)  # sides started afresh or re-aligned: no velocity


class HandTracker:
    """The tracks of both hands of one stream, and the rules that move them from frame to frame."""

    def __init__(self) -> None:
        self.tracks: dict[str, Track] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next frame starts tracking afresh."""
        self.tracks = {side: Track() for side in SIDES}

    def plan(
        self, sides: dict[str, SideTargets], config: RefinerConfig, starts: StartStates, device: torch.device
    ) -> FramePlan:
        """One frame's targets per side (batch of one) -> FramePlan, from the tracks (which are left as they are)."""
        issues: list[str] = []
        left_track, right_track = self.tracks["left"], self.tracks["right"]
        sides = _without_a_duplicate(sides, self.tracks, config, issues)
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
                sides = {"left": relabelled(rt), "right": relabelled(lt)}
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
        restarted: set[str] = set()
        for side in SIDES:
            track, t = self.tracks[side], sides[side]
            observed = bool(t.observed[0])
            zero_kp = torch.zeros_like(t.keypoints)
            if observed:
                if track.state is None or track.frames_lost > config.reinit_after_frames:
                    states[side], fresh = starts.initial(side, t), True
                    smooth[side] = (zero_kp, False)
                    restarted.add(side)
                else:
                    ahead = _ahead(track, config.velocity_damping)
                    states[side] = _translated(track.state, ahead)
                    jump = _palm_jump(t, track, config.reacquire_distance_m, ahead)
                    # A jump seen on a frame the tracker itself doubts is more likely its error than a motion.
                    if jump is not None and float(t.confidence[0]) >= config.realign_min_confidence:
                        # Far beyond the robust data term's reach: re-align the root before fitting.
                        states[side], realigned = _realigned(track.state, t, track), True
                        restarted.add(side)
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
                # Carried on by its damped velocity (dead reckoning) while it is lost.
                ahead = _ahead(track, config.velocity_damping)
                states[side] = _translated(track.state, ahead) if track.state is not None else starts.parked(side, 1)
                # A held hand stays part of the scene: anchored to where it is expected, it gives
                # way where the tracked hand moves into it instead of being passed through.
                present[side] = free[side] = held
                smooth[side] = (zero_kp, False)
                if held and track.keypoints is not None:
                    expected = track.keypoints if ahead is None else track.keypoints + ahead[:, None]
                    data[side] = (expected, torch.full_like(t.weight, config.hold_weight))
                    issues.append(
                        f"{side} hand not observed; holding its last state (lost {track.frames_lost + 1} frames)"
                    )

        def flag(value: bool) -> Tensor:
            return torch.tensor([value], device=device)

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
        return FramePlan(
            sides,
            swapped,
            states,
            targets,
            torch.stack([flag(free["left"]), flag(free["right"])]),
            iterations,
            fresh,
            issues,
            restarted,
        )

    def advance(
        self, plan: FramePlan, refined: dict[str, tuple[HandParams, Tensor]], config: RefinerConfig
    ) -> dict[str, tuple[HandParams, Tensor, Tensor]]:
        """Update the tracks with a frame's refined (state (1,), keypoints (1, 21, 3)) per side ->
        per side (state, keypoints, confidence (1,)) to report: keypoints NaN and confidence 0
        for a hand that has never been seen."""
        result: dict[str, tuple[HandParams, Tensor, Tensor]] = {}
        for side in SIDES:
            params, kp = refined[side]
            track, t = self.tracks[side], plan.sides[side]

            if bool(t.observed[0]):
                repaired = bool(t.repaired[0]) or plan.swapped
                confidence = float(t.confidence[0]) * (config.repaired_confidence_factor if repaired else 1.0)
                confidence *= fit_confidence(kp, t.keypoints, t.weight, config.fit_residual_m)
                continued = track.frames_lost == 0 and side not in plan.restarted and track.keypoints is not None
                track.previous_keypoints = track.keypoints if continued else None
                track.velocity = _palm_velocity(kp, track.keypoints) if continued else None
                track.state, track.keypoints, track.confidence, track.frames_lost = params, kp, confidence, 0
            elif track.state is not None:
                if track.frames_lost == 0:
                    track.speed_when_lost = 0.0 if track.velocity is None else float(track.velocity.norm())
                track.frames_lost += 1
                track.confidence *= config.confidence_decay
                track.previous_keypoints = None
                if track.velocity is not None:  # carried on (plan): the carried state is the new last one
                    track.state, track.keypoints = params, kp
                    track.velocity = config.velocity_damping * track.velocity
            has_state = track.state is not None
            reported = track.confidence * _drift_confidence(track, config.fit_residual_m)
            result[side] = (
                params,
                kp if has_state else torch.full_like(kp, torch.nan),
                torch.tensor([reported if has_state else 0.0], device=kp.device),
            )
        return result


def _without_a_duplicate(
    sides: dict[str, SideTargets], tracks: dict[str, Track], config: RefinerConfig, issues: list[str]
) -> dict[str, SideTargets]:
    """Both slots holding one hand (a tracker error) -> the slot that matches its own track worse dropped
    (both when neither hand has a track: which hand it is cannot be told), with an issue line."""
    lt, rt = sides["left"], sides["right"]
    if not (bool(lt.observed[0]) and bool(rt.observed[0])):
        return sides
    if not bool(same_hand_twice(lt.keypoints, rt.keypoints, lt.weight, rt.weight, config.duplicate_distance_m)[0]):
        return sides
    misfit = {}
    for side in SIDES:
        track, t = tracks[side], sides[side]
        seen = t.weight[0] > 0
        if track.keypoints is not None and bool(seen.any()):
            misfit[side] = float((t.keypoints[0, seen] - track.keypoints[0, seen]).norm(dim=-1).mean())
    if len(misfit) == 2:
        dropped = ["left"] if misfit["left"] > misfit["right"] else ["right"]
    else:
        dropped = [side for side in SIDES if side not in misfit] if misfit else list(SIDES)
    issues.append(
        "left and right keypoints are the same hand (a tracker error); "
        f"dropped the {' and '.join(dropped)} {'one' if len(dropped) == 1 else 'ones'}"
    )
    return {side: _unobserved(t) if side in dropped else t for side, t in sides.items()}


def _unobserved(targets: SideTargets) -> SideTargets:
    return replace(targets, observed=torch.zeros_like(targets.observed), weight=torch.zeros_like(targets.weight))


def fit_confidence(keypoints: Tensor, observed: Tensor, weight: Tensor, residual_m: float) -> float:
    """keypoints, observed (1, 21, 3) metres, weight (1, 21) -> a factor in (0, 1] on the confidence of a
    refined hand: 1 while its mean distance r to the observed keypoints (weight > 0) is at most
    ``residual_m``, (residual_m / r)^2 above: a fit that landed far from what was seen says so. The
    mean, not a robust statistic, because it is what a robot following the hand sees: above a factor
    of 0.5 the hand is within sqrt(2) residual_m of its observation (outliers the observation's repair
    found already have weight 0)."""
    seen = weight[0] > 0
    if not bool(seen.any()):
        return 1.0
    residual = float((keypoints[0, seen] - observed[0, seen]).norm(dim=-1).mean())
    if not residual <= residual_m:  # NaN too
        return (residual_m / residual) ** 2 if residual == residual else 0.0
    return 1.0


def _drift_confidence(track: Track, residual_m: float) -> float:
    """A factor in (0, 1] on the confidence of a lost hand: (residual_m / d)^2 once the distance d = k |v_0|
    it would have moved in its k lost frames at the speed it was last seen with exceeds ``residual_m``
    (fit_confidence's rule): where a fast hand went while unseen is a guess, however it is carried on."""
    drift = track.frames_lost * track.speed_when_lost
    return 1.0 if drift <= residual_m else (residual_m / drift) ** 2


def _palm_velocity(keypoints: Tensor, previous: Tensor | None) -> Tensor | None:
    """(1, 21, 3) this frame's and the last frame's refined keypoints -> (1, 3) the palm's mean displacement."""
    if previous is None:
        return None
    palm = list(PALM_KEYPOINTS)
    return (keypoints[:, palm] - previous[:, palm]).mean(dim=1)


def _ahead(track: Track, damping: float) -> Tensor | None:
    """(1, 3) where the hand is expected to have moved since its last state: lambda v; None without a velocity."""
    return None if track.velocity is None else damping * track.velocity


def _translated(state: HandParams, shift: Tensor | None) -> HandParams:
    return state if shift is None else HandParams(state.pose, state.betas, state.rotation, state.translation + shift)


def _palm_jump(
    targets: SideTargets, track: Track, reacquire_distance_m: float, ahead: Tensor | None = None
) -> float | None:
    """Mean distance (metres) of the observed palm keypoints from the last state's (moved by ``ahead``
    (1, 3), where the hand was expected), when above ``reacquire_distance_m``; None otherwise."""
    if track.keypoints is None:
        return None
    palm = list(PALM_KEYPOINTS)
    weight = targets.weight[0, palm].gt(0).to(track.keypoints.dtype)
    if float(weight.sum()) < 3:
        return None
    expected = track.keypoints[0, palm] if ahead is None else track.keypoints[0, palm] + ahead
    distance = (targets.keypoints[0, palm] - expected).norm(dim=-1)
    mean = float((distance * weight).sum() / weight.sum())
    return mean if mean > reacquire_distance_m else None


def _realigned(state: HandParams, targets: SideTargets, track: Track) -> HandParams:
    """The state moved rigidly so that its palm keypoints fit the observed ones."""
    assert track.keypoints is not None
    palm = list(PALM_KEYPOINTS)
    rotation, translation = rigid_fit(
        track.keypoints[:, palm], targets.keypoints[:, palm], targets.weight[:, palm].gt(0).to(state.pose.dtype)
    )
    return state.transformed(rotation, translation)
