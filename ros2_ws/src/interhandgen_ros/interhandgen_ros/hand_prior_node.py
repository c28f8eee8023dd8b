"""hand_prior_node: a tracker's noisy two-hand estimates in, plausible, penetration-free, steady hands
out (a lifecycle node).

    hands/noisy       interhandgen_msgs/TwoHandState in (input_type two_hand_state), or a
                      geometry_msgs/PoseArray, left hand then right: 2 x 21 keypoints (pose_array),
                      2 x 21 MediaPipe world landmarks placed in its frame (mediapipe), or 2 x 26
                      OpenXR hand joint poses (openxr); conversions.POSE_ARRAY_INPUTS reads them
    hands/refined     interhandgen_msgs/TwoHandState out, one per processed input, its header, with
                      per-hand confidence (a lost hand: its last state, confidence decaying)
    hands/markers     visualization_msgs/MarkerArray out: both hands as meshes
    robot_hands/{left,right}/joint_states
                      sensor_msgs/JointState out (robot_hands:=true): each robot hand's joints, as
                      the model names them, one per refined frame, its header
    robot_hands/{left,right}/command
                      interhandgen_msgs/RobotHandCommand out (robot_hands:=true): the same joints,
                      the wrist pose in the input frame, whether it was retargeted from this frame
                      (valid) or held, and the fingertip error
    robot_hands/markers
                      visualization_msgs/MarkerArray out (robot_hands:=true): the links as skeletons
    diagnostics       diagnostic_msgs/DiagnosticArray out

Streaming refinement (HandPriorRefiner.step, paper Eq. 9) warm-started from the previous frame;
swapped left/right labels are detected and corrected there. Only the newest input is processed; a
malformed one is dropped with a one-line warning and counted in the diagnostics. With the
parameter robot_hands true, each refined frame is retargeted onto two robot hands
(StreamingRetargeter: warm-started, low-pass filtered); a hand missing from the frame's input, or
refined below the parameter robot_min_confidence, is not retargeted: that hand's command is held
(valid false), and one never commanded is not published. A robot file that does not load fails
on_configure with one line, and the node stays unconfigured. Parameters:
parameters.HAND_PRIOR_PARAMETERS, listed by --help (the optimiser's iterations and the weights may
change while it runs).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from geometry_msgs.msg import PoseArray
from interhandgen_msgs.msg import HandState, RobotHandCommand, TwoHandState
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from visualization_msgs.msg import MarkerArray

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.retargeter import StreamingRetargeter
from interhandgen_ros.conversions import (
    POSE_ARRAY_INPUTS,
    refined_to_message,
    robot_command_to_message,
    stamp_seconds,
    two_hand_state_to_observation,
)
from interhandgen_ros.executables import exit_now, start
from interhandgen_ros.markers import clear_markers, robot_hand_markers, two_hand_markers
from interhandgen_ros.node_base import InterHandGenNode
from interhandgen_ros.parameters import HAND_PRIOR_PARAMETERS

# Refiner fields that follow node parameters of the same name, read at every frame.
TUNABLE = ("stream_solver", "iterations", "prior_weight", "penetration_weight", "smoothness_weight")


class HandPriorNode(InterHandGenNode):
    PARAMETERS = HAND_PRIOR_PARAMETERS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hand_prior_node", HAND_PRIOR_PARAMETERS, **kwargs)
        self.refiner: HandPriorRefiner | None = None
        self._lock = threading.Lock()
        self._refined: Any = None
        self._markers: Any = None
        self._markers_last_s = -math.inf  # time.monotonic() of the last marker update
        self.retargeter: StreamingRetargeter | None = None
        # The stream's timing as it arrives (the worker refines only the newest input): the last input's
        # stamp and the longest gap between consecutive inputs since the last refined one (step's silence_s).
        self._arrival_lock = threading.Lock()
        self._last_arrival_s: float | None = None
        self._silence_s = 0.0
        self._robot: dict[str, Any] = {}  # publisher name -> lifecycle publisher

    def _config(self) -> RefinerConfig:
        return replace(RefinerConfig(), **{name: self.param(name) for name in TUNABLE})

    def load(self) -> None:
        if self.param("robot_hands"):  # first: a robot file that does not load fails fast, before the model
            config = RetargetConfig(
                robot=self.param("robot"),
                scale=self.param("robot_scale"),
                filter_cutoff_hz=self.param("robot_filter_cutoff_hz"),
            )
            self.retargeter = StreamingRetargeter(config)
        model = self.load_pipeline(TwoHandPipeline)
        refiner = HandPriorRefiner(model, self._config())
        # Warm-up: a few streaming frames of a still pair of hands, then forget them.
        layer_left, layer_right = model.left_layer, model.right_layer
        zeros = torch.zeros(1, 45, device=model.device)
        betas = torch.zeros(1, 10, device=model.device)
        eye = torch.eye(3, device=model.device)[None]
        left = layer_left(
            HandParams(zeros, betas, eye, torch.tensor([[-0.06, 0.0, 0.0]], device=model.device))
        ).keypoints
        right = layer_right(
            HandParams(zeros, betas, eye, torch.tensor([[0.06, 0.0, 0.0]], device=model.device))
        ).keypoints
        from interhandgen_core.refinement.observation import TwoHandObservation

        for _ in range(3):
            refiner.step(TwoHandObservation.from_keypoints(left[0].cpu(), right[0].cpu()))
        refiner.reset()
        self.refiner = refiner
        self.backend_name = model.backend.config.spec
        self.device_name = str(model.device)
        self._refined = self.create_lifecycle_publisher(TwoHandState, "hands/refined", 10)
        self._markers = self.create_lifecycle_publisher(MarkerArray, "hands/markers", 1)
        if self.retargeter is not None:
            for side in ("left", "right"):
                self._robot[f"{side}_joints"] = self.create_lifecycle_publisher(
                    JointState, f"robot_hands/{side}/joint_states", 10
                )
                self._robot[f"{side}_command"] = self.create_lifecycle_publisher(
                    RobotHandCommand, f"robot_hands/{side}/command", 10
                )
            self._robot["markers"] = self.create_lifecycle_publisher(MarkerArray, "robot_hands/markers", 1)

    def free(self) -> None:
        for publisher in (self._refined, self._markers, *self._robot.values()):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._refined = self._markers = None
        self._robot = {}
        self.retargeter = None
        with self._arrival_lock:
            self._last_arrival_s, self._silence_s = None, 0.0
        if self.refiner is not None:
            self.refiner.model.close()
        self.refiner = None

    def subscribe(self, qos: QoSProfile) -> Any:
        kind = PoseArray if self.param("input_type") in POSE_ARRAY_INPUTS else TwoHandState
        return self.create_subscription(kind, "hands/noisy", self._arrive, qos)

    def _arrive(self, msg: Any) -> None:
        """Subscription callback: note the stream's gap before this input, then offer it to the worker."""
        stamp = stamp_seconds(msg.header.stamp)
        with self._arrival_lock:
            if self._last_arrival_s is not None:
                self._silence_s = max(self._silence_s, stamp - self._last_arrival_s)
            self._last_arrival_s = stamp
        self.offer(msg)

    def frame_of(self, msg: Any) -> str:
        return str(msg.header.frame_id)

    def process(self, msg: Any) -> None:
        if isinstance(msg, PoseArray):
            observation = POSE_ARRAY_INPUTS[self.param("input_type")](msg)
        else:
            observation = two_hand_state_to_observation(msg)
        with self._lock:
            if self.refiner is None:
                return
            config = self._config()
            if config != self.refiner.config:  # a weight or the iterations changed at run time
                self.refiner.reconfigure(config)
            with self._arrival_lock:
                silence, self._silence_s = self._silence_s, 0.0
            interrupt = self.newer_waiting if self.param("hurry_when_behind") else None
            refined = self.refiner.step(observation, stamp_seconds(msg.header.stamp), silence, interrupt)
            model = self.refiner.model
            markers_due = self._markers_due(time.monotonic())
            if self.retargeter is not None:
                self._command_robot_hands(self.retargeter, refined, msg.header, markers_due)
        # refined.issues (lost hands, unit guesses) reach the ROS log through the library's
        # throttled logging (node_base.RosLogHandler), once each.
        if self._refined is not None:
            self._refined.publish(refined_to_message(refined, msg.header))
        if self._markers is not None and markers_due:
            with torch.no_grad():
                lo = model.left_layer(refined.left)
                ro = model.right_layer(refined.right)
            alphas = [(float(refined.left_confidence[0]), float(refined.right_confidence[0]))]
            self._markers.publish(
                two_hand_markers(
                    lo.vertices,
                    model.left_layer.faces,
                    ro.vertices,
                    model.right_layer.faces,
                    msg.header,
                    alphas,
                    "hands",
                )
            )

    def _markers_due(self, now_s: float) -> bool:
        """Markers are published at most markers_max_hz times a second (they cost more than the refinement)."""
        if not self.param("publish_markers") or now_s - self._markers_last_s < 1.0 / self.param("markers_max_hz"):
            return False
        self._markers_last_s = now_s
        return True

    def _command_robot_hands(
        self, retargeter: StreamingRetargeter, refined: RefinedHands, header: Any, markers_due: bool
    ) -> None:
        """One refined frame -> both robot hands' commands, published; a hand whose observation the refiner did
        not use this frame (RefinedHands.*_observed: lost, held, dropped as a duplicate), or refined below
        robot_min_confidence, holds its last command (valid false); one never commanded is not published."""
        threshold = self.param("robot_min_confidence")
        seen = bool(refined.left_observed[0]), bool(refined.right_observed[0])
        hands = retargeter.step(
            refined.left_keypoints[0].detach().double().cpu().numpy(),
            refined.right_keypoints[0].detach().double().cpu().numpy(),
            stamp_seconds(header.stamp),
            left_mask=seen[0] and float(refined.left_confidence[0]) >= threshold,
            right_mask=seen[1] and float(refined.right_confidence[0]) >= threshold,
        )
        name = retargeter.config.robot
        markers = MarkerArray(markers=[clear_markers(header)])
        for side, commands, code in (("left", hands.left, HandState.LEFT), ("right", hands.right, HandState.RIGHT)):
            message = robot_command_to_message(commands, 0, code, name, header)
            if not np.isfinite(commands.wrist_pose[0]).all():
                continue  # never commanded: nothing a robot could follow
            self._robot[f"{side}_joints"].publish(message.joint_state)
            self._robot[f"{side}_command"].publish(message)
            if not markers_due:
                continue
            markers.markers += robot_hand_markers(
                commands.link_positions[0],
                retargeter.hand.point_keypoints,
                commands.wrist_pose[0],
                header,
                f"robot_{side}",
                1.0 if message.valid else 0.4,
            )
        if markers_due:
            self._robot["markers"].publish(markers)


NODE = HandPriorNode


def main() -> None:
    """The executable (executables.hand_prior_node, which also takes over SIGINT before importing this)."""
    exit_now(start(__name__))


if __name__ == "__main__":
    main()
