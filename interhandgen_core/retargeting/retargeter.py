"""Two human hands -> two robot hands: wrist poses and joint positions, batched or streamed.

keypoints: (B, 21, 3) metres per hand, input frame (README "Conventions"; NaN where missing) ->
per side ``RobotHandCommands``: wrist_pose (B, 4, 4) the robot root body's pose in the input frame,
joint_positions (B, J) within the joint limits, in the order of ``joint_names`` (the model's).

How (after AnyTeleop / dex-retargeting's optimisation-based retargeting):
1. Side. The robot model is one hand (Shadow: right). The other side's human hand is mirrored
   (Gamma, x -> -x in the input frame) into that hand, retargeted, and its wrist pose mirrored back
   (hand_frame.mirror_poses): the other robot hand is taken to be the model's mirror image through
   its root's x = 0 plane, with the same joint positions (a real left hand's root frame may differ
   from that by a fixed rotation: multiply the wrist pose by it).
2. Wrist. The palm's frame of the human keypoints (wrist; bases of the fingers besides the thumb:
   hand_frame.py) is matched to the same frame of the robot's links at rest: the wrist pose is
   ``human_frame @ inverse(robot_rest_frame)``. The human hand's HandParams rotation is not needed
   (the frame from keypoints serves MANO, the procedural hand and a tracker's skeleton alike).
3. Fingers. Each mapped link's target is its human keypoint, scaled about the wrist (configuration.py:
   ``scale``), in the robot's root frame; damped least squares within the joint limits (solver.py),
   fingertip positions and base-to-tip vectors weighted most.
4. A stream (``StreamingRetargeter``) warm-starts every frame from the last solution, pulls towards the
   last command, and low-pass filters the commands (first order, ``filter_cutoff_hz``; the wrist
   rotation is blended and re-orthonormalised). A hand that is missing, NaN on a mapped keypoint or
   masked out holds its last command; one never seen has ``valid`` False, the rest pose and a NaN
   wrist pose.

A batch (``Retargeter.retarget``: a set of grasp proposals) solves all rows together from the rest
pose, numpy kinematics over the batch (kinematics.py), no loop over rows.

Solver: written here, a small damped-least-squares (Levenberg-Marquardt) solve on MuJoCo's own model
and Jacobians (mj_jacSite / mj_jacBody for a stream, the same Jacobians in numpy for a batch), not
``mink``: mink's differential IK with its limits as a QP is quick per step (0.08 ms for five
fingertip tasks on this CPU, measured with mink 1.3 and daqp) but it takes one configuration at a
time (a set of grasps would loop in Python over MjData), needs a QP solver package, and as a
velocity-level IK took more than 20 steps to bring the fingertips within 3 mm, where a plain
Gauss-Newton step on this small least-squares problem converges in a few. Latency: ``interhandgen
bench retarget`` (README "Robot hands").
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import DataError
from interhandgen_core.io.robot_hand_files import RobotSide
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.hand_frame import hand_frame, invert_poses, mirror_points, mirror_poses
from interhandgen_core.retargeting.kinematics import Kinematics, kinematics_for
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand
from interhandgen_core.retargeting.solver import ResidualWeights, solve_joints

SIDES: tuple[RobotSide, RobotSide] = ("left", "right")
_NUM_KEYPOINTS = 21


@dataclasses.dataclass
class RobotHandCommands:
    """One robot hand over B rows (frames or grasps), input frame, metres and radians.

    joint_positions: (B, J) in the order of joint_names; wrist_pose: (B, 4, 4) the root body's pose;
    valid: (B,) the row was retargeted from its own human hand (False: held, or never seen);
    link_positions: (B, K, 3) the robot's mapped links (hand.point_names) at the command;
    targets: (B, K, 3) where they were asked to be (the scaled human keypoints); scale: (B,) the factor used;
    fingertip_error_m: (B, F) distance of each robot fingertip to its target (NaN where not valid).
    """

    joint_names: tuple[str, ...]
    joint_positions: NDArray[np.float64]
    wrist_pose: NDArray[np.float64]
    valid: NDArray[np.bool_]
    link_positions: NDArray[np.float64]
    targets: NDArray[np.float64]
    scale: NDArray[np.float64]
    fingertip_error_m: NDArray[np.float64]


@dataclasses.dataclass
class TwoRobotHands:
    """Both robot hands' commands (RobotHandCommands), one row per frame or grasp."""

    left: RobotHandCommands
    right: RobotHandCommands

    def side(self, side: RobotSide) -> RobotHandCommands:
        return self.left if side == "left" else self.right

    @staticmethod
    def cat(parts: list[TwoRobotHands]) -> TwoRobotHands:
        """Rows of several results (frames of a stream) -> one result."""
        sides = []
        for side in SIDES:
            commands = [part.side(side) for part in parts]
            fields = {
                f.name: np.concatenate([getattr(c, f.name) for c in commands])
                for f in dataclasses.fields(RobotHandCommands)
                if f.name != "joint_names"
            }
            sides.append(RobotHandCommands(joint_names=commands[0].joint_names, **fields))
        return TwoRobotHands(sides[0], sides[1])

    def to_arrays(self) -> dict[str, NDArray[np.generic]]:
        """The robot commands file's arrays (README "Robot hands"): per side ``s``: s_joint_names (J,),
        s_joint_positions (N, J), s_wrist_pose (N, 4, 4), s_valid (N,), s_fingertip_error_m (N, F)."""
        arrays: dict[str, NDArray[np.generic]] = {}
        for side in SIDES:
            commands = self.side(side)
            arrays[f"{side}_joint_names"] = np.asarray(commands.joint_names, dtype=str)
            arrays[f"{side}_joint_positions"] = commands.joint_positions
            arrays[f"{side}_wrist_pose"] = commands.wrist_pose
            arrays[f"{side}_valid"] = commands.valid
            arrays[f"{side}_fingertip_error_m"] = commands.fingertip_error_m
        return arrays


@dataclasses.dataclass
class HandTargets:
    """targets: (B, K, 3) root frame; root_pose: (B, 4, 4) in the (mirrored where needed) input frame;
    scale: (B,); valid: (B,) every mapped keypoint finite and the palm's frame well defined."""

    targets: NDArray[np.float64]
    root_pose: NDArray[np.float64]
    scale: NDArray[np.float64]
    valid: NDArray[np.bool_]


def keypoints_to_targets(hand: RobotHand, keypoints: NDArray[np.floating], scale: float) -> HandTargets:
    """keypoints: (B, 21, 3) metres of a hand of the robot model's side -> the links' targets (HandTargets).

    scale > 0: fixed factor; 0: the robot hand's length over the human hand's (configuration.py).
    Invalid rows get the rest pose's points as targets and an identity root pose (never used).
    """
    keypoints = _checked_keypoints(keypoints)
    mapped = keypoints[:, hand.point_keypoints]  # (B, K, 3)
    frame = hand_frame(mapped[:, 0], mapped[:, hand.frame_points])
    valid: NDArray[np.bool_] = np.asarray(np.isfinite(mapped).all(axis=(1, 2)) & np.isfinite(frame).all(axis=(1, 2)))
    frame[~valid] = np.eye(4)
    mapped = np.where(valid[:, None, None], mapped, 0.0)
    if scale > 0:
        factor = np.full(keypoints.shape[0], float(scale))
    else:
        chain = mapped[:, hand.length_points]
        human_length = np.linalg.norm(np.diff(chain, axis=1), axis=-1).sum(axis=1)
        factor = hand.length_m / np.where(human_length > 1e-6, human_length, 1.0)
    # The human points in the palm's frame, scaled about the wrist, then in the robot's root frame.
    local = np.einsum("bji,bkj->bki", frame[:, :3, :3], mapped - frame[:, None, :3, 3]) * factor[:, None, None]
    rest = hand.rest_frame
    targets = local @ rest[:3, :3].T + rest[:3, 3]
    targets = np.where(valid[:, None, None], targets, hand.rest_points[None])
    root_pose = frame @ invert_poses(rest)
    return HandTargets(targets, root_pose, factor, valid)


def _checked_keypoints(keypoints: NDArray[np.floating]) -> NDArray[np.float64]:
    array = np.asarray(keypoints, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (_NUM_KEYPOINTS, 3):
        raise DataError(f"keypoints must be (B, 21, 3) metres, got shape {tuple(array.shape)}")
    return array


def _weights(hand: RobotHand, config: RetargetConfig, stay: float) -> ResidualWeights:
    point = np.full(len(hand.point_names), config.link_weight)
    point[0] = 0.0  # the wrist is fixed to the root
    point[hand.tip_points] = config.tip_weight
    return ResidualWeights(point=point, vector=config.vector_weight, stay=stay, damping=config.damping)


class Retargeter:
    """Batches of two-hand states (grasp sets, whole recordings frame by frame) -> TwoRobotHands, rows independent."""

    def __init__(self, config: RetargetConfig | None = None, hand: RobotHand | None = None) -> None:
        self.config = config or RetargetConfig()
        self.hand = hand if hand is not None else load_robot_hand(self.config.robot)

    def retarget(
        self,
        left_keypoints: NDArray[np.floating] | None,
        right_keypoints: NDArray[np.floating] | None,
    ) -> TwoRobotHands:
        """left/right_keypoints: (B, 21, 3) metres, input frame (None: that hand absent in every row)."""
        rows = next((np.shape(k)[0] for k in (left_keypoints, right_keypoints) if k is not None), None)
        if rows is None:
            raise DataError("retarget needs the keypoints of at least one hand")
        sides = {}
        for side, keypoints in zip(SIDES, (left_keypoints, right_keypoints), strict=True):
            if keypoints is None:
                keypoints = np.full((rows, _NUM_KEYPOINTS, 3), np.nan)
            sides[side] = self.retarget_side(keypoints, side)
        return TwoRobotHands(sides["left"], sides["right"])

    def retarget_side(self, keypoints: NDArray[np.floating], side: RobotSide) -> RobotHandCommands:
        """keypoints: (B, 21, 3) of the ``side`` human hand -> that robot hand's commands, cold-started."""
        hand, config = self.hand, self.config
        model_keypoints = _to_model_side(_checked_keypoints(keypoints), side, hand)
        targets = keypoints_to_targets(hand, model_keypoints, config.scale)
        rows = targets.targets.shape[0]
        rest = np.broadcast_to(hand.rest, (rows, hand.num_joints))
        kinematics = kinematics_for(hand, rows)
        joints, _ = solve_joints(
            kinematics,
            targets.targets,
            rest,
            rest,
            hand.lower,
            hand.upper,
            hand.tip_points,
            hand.base_points,
            _weights(hand, config, config.rest_weight),
            config.cold_iterations,
            config.tolerance_rad,
        )
        joints = np.where(targets.valid[:, None], joints, rest)
        wrist = np.where(targets.valid[:, None, None], targets.root_pose, np.nan)
        return _commands(hand, kinematics, joints, wrist, targets, targets.valid, side)


def _to_model_side(keypoints: NDArray[np.float64], side: RobotSide, hand: RobotHand) -> NDArray[np.float64]:
    return keypoints if side == hand.file.side else mirror_points(keypoints)


def _commands(
    hand: RobotHand,
    kinematics: Kinematics,
    joints: NDArray[np.float64],
    wrist: NDArray[np.float64],
    targets: HandTargets,
    valid: NDArray[np.bool_],
    side: RobotSide,
) -> RobotHandCommands:
    """Commands in the model side's input frame -> in the input frame, with links and fingertip errors."""
    points, _ = kinematics.points_and_jacobian(joints)
    safe_wrist = np.where(np.isfinite(wrist), wrist, np.eye(4))
    links = np.einsum("bij,bkj->bki", safe_wrist[:, :3, :3], points) + safe_wrist[:, None, :3, 3]
    goal = np.einsum("bij,bkj->bki", targets.root_pose[:, :3, :3], targets.targets) + targets.root_pose[:, None, :3, 3]
    error = np.linalg.norm(points[:, hand.tip_points] - targets.targets[:, hand.tip_points], axis=-1)
    error = np.where(valid[:, None], error, np.nan)
    links = np.where(np.isfinite(wrist[:, :1, :1]), links, np.nan)
    goal = np.where(targets.valid[:, None, None], goal, np.nan)
    if side != hand.file.side:
        wrist, links, goal = mirror_poses(wrist), mirror_points(links), mirror_points(goal)
    return RobotHandCommands(
        joint_names=hand.joint_names,
        joint_positions=joints,
        wrist_pose=wrist,
        valid=valid.copy(),
        link_positions=links,
        targets=goal,
        scale=targets.scale,
        fingertip_error_m=error,
    )


@dataclasses.dataclass
class _SideState:
    solution: NDArray[np.float64] | None = None  # (1, J) the last solve, unfiltered: the warm start
    joints: NDArray[np.float64] | None = None  # (1, J) the last command (filtered)
    wrist: NDArray[np.float64] | None = None  # (1, 4, 4) the last command's wrist pose, model side


class StreamingRetargeter:
    """Frame by frame, warm-started and low-pass filtered, for teleoperation (module docstring, step 4).

    ``step`` takes each hand's (21, 3) keypoints (or (1, 21, 3); None or NaN: lost) and returns
    TwoRobotHands of one row. Not thread-safe: one stream per instance.
    """

    def __init__(self, config: RetargetConfig | None = None, hand: RobotHand | None = None) -> None:
        self.config = config or RetargetConfig()
        self.hand = hand if hand is not None else load_robot_hand(self.config.robot)
        self.kinematics = kinematics_for(self.hand, 1)
        self.states = {side: _SideState() for side in SIDES}
        self._last_time: float | None = None

    def reset(self) -> None:
        """Forget the stream: the next frame starts cold."""
        self.states = {side: _SideState() for side in SIDES}
        self._last_time = None

    def step(
        self,
        left_keypoints: NDArray[np.floating] | None,
        right_keypoints: NDArray[np.floating] | None,
        time_s: float | None = None,
        left_mask: bool = True,
        right_mask: bool = True,
    ) -> TwoRobotHands:
        """One frame: each hand (21, 3) metres, input frame, or None; a False mask also counts as lost.

        time_s: the frame's time stamp (seconds) for the filter; None: 1 / rate_hz after the last.
        """
        dt = 1.0 / self.config.rate_hz
        if time_s is not None:
            if self._last_time is not None and time_s > self._last_time:
                dt = time_s - self._last_time
            self._last_time = time_s
        cutoff = self.config.filter_cutoff_hz
        alpha = 1.0 if cutoff <= 0 else 1.0 - math.exp(-2.0 * math.pi * cutoff * dt)
        out = {}
        for side, keypoints, mask in zip(
            SIDES, (left_keypoints, right_keypoints), (left_mask, right_mask), strict=True
        ):
            out[side] = self._step_side(side, keypoints, mask, alpha)
        return TwoRobotHands(out["left"], out["right"])

    def _step_side(
        self, side: RobotSide, keypoints: NDArray[np.floating] | None, mask: bool, alpha: float
    ) -> RobotHandCommands:
        hand, config, state = self.hand, self.config, self.states[side]
        array = np.full((1, _NUM_KEYPOINTS, 3), np.nan)
        if keypoints is not None and mask:
            array = _checked_keypoints(np.asarray(keypoints, dtype=np.float64).reshape(1, _NUM_KEYPOINTS, 3))
        targets = keypoints_to_targets(hand, _to_model_side(array, side, hand), config.scale)
        seen = bool(targets.valid[0])
        if seen:
            warm = state.solution is not None
            start = state.solution if state.solution is not None else hand.rest[None]
            reference = state.joints if state.joints is not None else hand.rest[None]
            solution, _ = solve_joints(
                self.kinematics,
                targets.targets,
                start,
                reference,
                hand.lower,
                hand.upper,
                hand.tip_points,
                hand.base_points,
                _weights(hand, config, config.stay_weight),
                config.iterations if warm else config.cold_iterations,
                config.tolerance_rad,
            )
            state.solution = solution
            if state.joints is None or state.wrist is None:
                state.joints, state.wrist = solution, targets.root_pose
            else:
                state.joints = state.joints + alpha * (solution - state.joints)
                state.wrist = _blend_poses(state.wrist, targets.root_pose, alpha)
        if state.joints is None or state.wrist is None:
            joints, wrist = hand.rest[None].copy(), np.full((1, 4, 4), np.nan)
        else:
            joints, wrist = state.joints.copy(), state.wrist.copy()
        if not seen:  # the targets of a held hand: where its command puts the links (no error to report)
            safe = np.where(np.isfinite(wrist), wrist, np.eye(4))
            points, _ = self.kinematics.points_and_jacobian(joints)
            targets = dataclasses.replace(targets, targets=points, root_pose=safe)
        return _commands(hand, self.kinematics, joints, wrist, targets, np.array([seen]), side)


def _blend_poses(previous: NDArray[np.float64], new: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    """(B, 4, 4) rigid poses -> previous + alpha (new - previous), the rotation projected back onto rotations."""
    blended = previous + alpha * (new - previous)
    u, _, vt = np.linalg.svd(blended[:, :3, :3])
    rotation = u @ vt
    out = blended.copy()
    out[:, :3, :3] = rotation
    out[:, 3] = (0.0, 0.0, 0.0, 1.0)
    return out
