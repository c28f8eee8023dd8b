"""hand_prior_node: a tracker's noisy two-hand estimates in, plausible, penetration-free, steady hands
out (a lifecycle node).

    hands/noisy       interhandgen_msgs/TwoHandState in (input_type two_hand_state), or a
                      geometry_msgs/PoseArray, left hand then right: 2 x 21 keypoints (pose_array),
                      2 x 21 MediaPipe world landmarks placed in its frame (mediapipe), or 2 x 26
                      OpenXR hand joint poses (openxr); conversions.POSE_ARRAY_INPUTS reads them
    hands/refined     interhandgen_msgs/TwoHandState out, one per processed input, its header, with
                      per-hand confidence (a lost hand: its last state, confidence decaying)
    hands/markers     visualization_msgs/MarkerArray out: both hands as meshes
    diagnostics       diagnostic_msgs/DiagnosticArray out

Streaming refinement (HandPriorRefiner.step, paper Eq. 9) warm-started from the previous frame;
swapped left/right labels are detected and corrected there. Only the newest input is processed;
a malformed one is dropped with a one-line warning and counted in the diagnostics. Parameters:
parameters.HAND_PRIOR_PARAMETERS, listed by --help; iterations and weights may change
while it runs.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import torch
from geometry_msgs.msg import PoseArray
from interhandgen_msgs.msg import TwoHandState
from rclpy.qos import QoSProfile
from visualization_msgs.msg import MarkerArray

from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.refiner import HandPriorRefiner
from interhandgen_ros.conversions import (
    POSE_ARRAY_INPUTS,
    refined_to_message,
    stamp_seconds,
    two_hand_state_to_observation,
)
from interhandgen_ros.executables import exit_now, start
from interhandgen_ros.markers import two_hand_markers
from interhandgen_ros.node_base import InterHandGenNode
from interhandgen_ros.parameters import HAND_PRIOR_PARAMETERS

# Refiner fields that follow node parameters of the same name, read at every frame.
TUNABLE = ("iterations", "prior_weight", "penetration_weight", "smoothness_weight")


class HandPriorNode(InterHandGenNode):
    PARAMETERS = HAND_PRIOR_PARAMETERS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hand_prior_node", HAND_PRIOR_PARAMETERS, **kwargs)
        self.refiner: HandPriorRefiner | None = None
        self._lock = threading.Lock()
        self._refined: Any = None
        self._markers: Any = None

    def _config(self) -> RefinerConfig:
        return replace(RefinerConfig(), **{name: self.param(name) for name in TUNABLE})

    def load(self) -> None:
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

    def free(self) -> None:
        for publisher in (self._refined, self._markers):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._refined = self._markers = None
        if self.refiner is not None:
            self.refiner.model.close()
        self.refiner = None

    def subscribe(self, qos: QoSProfile) -> Any:
        kind = PoseArray if self.param("input_type") in POSE_ARRAY_INPUTS else TwoHandState
        return self.create_subscription(kind, "hands/noisy", self.offer, qos)

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
            refined = self.refiner.step(observation, stamp_seconds(msg.header.stamp))
            model = self.refiner.model
        # refined.issues (lost hands, unit guesses) reach the ROS log through the library's
        # throttled logging (node_base.RosLogHandler), once each.
        if self._refined is not None:
            self._refined.publish(refined_to_message(refined, msg.header))
        if self._markers is not None and self.param("publish_markers"):
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


NODE = HandPriorNode


def main() -> None:
    """The executable (executables.hand_prior_node, which also takes over SIGINT before importing this)."""
    exit_now(start(__name__))


if __name__ == "__main__":
    main()
