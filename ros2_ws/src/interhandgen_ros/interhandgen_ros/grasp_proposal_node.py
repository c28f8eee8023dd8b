"""grasp_proposal_node: bimanual grasp hypotheses for the object a depth camera sees (a lifecycle node).

    object_points     sensor_msgs/PointCloud2 in (input_qos, SENSOR_DATA by default): float x, y, z
                      fields, metres, any frame with z up
    grasp_proposals   interhandgen_msgs/BimanualGraspArray out: num_grasps grasps, best first, in the
                      cloud's frame and stamp; with robot_hands:=true each also in the robot hands'
                      joints and wrist poses (left_robot, right_robot; Retargeter, README "Robot hands")
    grasp_markers     visualization_msgs/MarkerArray out: the best markers_top_k grasps as hand meshes
    diagnostics       diagnostic_msgs/DiagnosticArray out: latency, processed and dropped counts,
                      backend, device
    generate_grasps   interhandgen_msgs/action/GenerateBimanualGrasps: ask once and wait, with
                      progress feedback and cancel

Only the newest cloud is processed; a cloud it cannot use (empty, NaN, malformed, another frame
than expected_frame_id, in millimetres) is dropped with a one-line warning and counted in the
diagnostics. Parameters: parameters.GRASP_PROPOSAL_PARAMETERS, listed by --help.

Goals: num_grasps must lie in the num_grasps parameter's range (GraspRequestConfig; 0 is refused
too), else the goal is aborted at once with the reason in result.message. A cancel, a deactivate or
a stop signal ends a running goal between two denoising steps (a fraction of a second on a CPU).
While a goal runs, the diagnostics say WARN "busy: goal running N s" and a cloud on the topic is
dropped and counted ("busy"), not left waiting for the model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from interhandgen_msgs.action import GenerateBimanualGrasps
from interhandgen_msgs.msg import BimanualGraspArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import QoSProfile
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import Cancelled
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.retargeter import Retargeter, TwoRobotHands
from interhandgen_ros.conversions import (
    InputError,
    cloud_to_points,
    grasps_to_message,
    require_metres,
    viewpoint_from_text,
)
from interhandgen_ros.executables import exit_now, start
from interhandgen_ros.markers import (
    INFERRED_COLOUR,
    INFERRED_POINT_SIZE_M,
    points_marker,
    rank_alphas,
    two_hand_markers,
)
from interhandgen_ros.node_base import WARNING_PERIOD_S, InterHandGenNode
from interhandgen_ros.parameters import GRASP_PROPOSAL_PARAMETERS, current_value

WARMUP_GRASPS = 2
# How often a goal waiting for the model (a cloud being processed) looks whether it was cancelled.
LOCK_POLL_S = 0.1


class GraspProposalNode(InterHandGenNode):
    PARAMETERS = GRASP_PROPOSAL_PARAMETERS
    # Several threads: the action's execute runs for seconds while topics and diagnostics go on.
    # (With two, clouds went unanswered in a full test run; three is what was tested throughout.)
    EXECUTOR_THREADS = 3

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("grasp_proposal_node", GRASP_PROPOSAL_PARAMETERS, **kwargs)
        self.model: GraspPipeline | None = None
        self._model_lock = threading.Lock()  # the topic worker and the action share one model
        self._proposals: Any = None
        self._markers: Any = None
        self._action: ActionServer | None = None
        self.retargeter: Retargeter | None = None

    def load(self) -> None:
        if self.param("robot_hands"):  # first: a robot file that does not load fails fast, before the model
            self.retargeter = Retargeter(RetargetConfig(robot=self.param("robot"), scale=self.param("robot_scale")))
        model = self.load_pipeline(GraspPipeline)
        # Warm-up: one full proposal on a procedural object (allocations, kernels, graphs, engines).
        points, normals = generate_objects(1, seed=0).sample_surface(2048, seed=0)
        model.sample(
            WARMUP_GRASPS,
            seed=0,
            ddim_steps=self.param("ddim_steps"),
            object_points=points[0],
            object_normals=normals[0],
        )
        self.model = model
        self.backend_name = model.backend.config.spec
        self.device_name = str(model.device)
        self._proposals = self.create_lifecycle_publisher(BimanualGraspArray, "grasp_proposals", 10)
        self._markers = self.create_lifecycle_publisher(MarkerArray, "grasp_markers", 1)
        self._action = ActionServer(
            self,
            GenerateBimanualGrasps,
            "generate_grasps",
            execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT if self._running else GoalResponse.REJECT,
            cancel_callback=lambda goal: CancelResponse.ACCEPT,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )

    def free(self) -> None:
        if self._action is not None:
            self._action.destroy()
            self._action = None
        for publisher in (self._proposals, self._markers):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._proposals = self._markers = None
        if self.model is not None:
            self.model.close()
        self.model = None
        self.retargeter = None

    def subscribe(self, qos: QoSProfile) -> Any:
        return self.create_subscription(PointCloud2, "object_points", self.offer, qos)

    def frame_of(self, msg: PointCloud2) -> str:
        return str(msg.header.frame_id)

    def propose(
        self, cloud: PointCloud2, num: int, seed: int, should_stop: Callable[[], bool] | None = None
    ) -> GraspSamples:
        """One cloud -> ranked grasps in its frame (InputError / DataError for clouds it cannot use).

        should_stop None (a cloud from the topic): InputError "busy" at once when a goal holds the model.
        A goal passes its cancel hook: it waits for the model, and errors.Cancelled when the hook says to stop.
        """
        points = require_metres(cloud_to_points(cloud)[0])
        limit = self.param("max_points")
        if len(points) > limit:
            keep = np.random.default_rng(seed).choice(len(points), size=limit, replace=False)
            points = points[np.sort(keep)]
        preprocess = CloudPreprocessConfig(voxel_size=self.param("voxel_size"))
        viewpoint = viewpoint_from_text(self.param("cloud_viewpoint"))
        self._acquire_model(should_stop)
        try:
            if self.model is None:
                raise InputError("the model is not loaded (node not configured)")
            grasps = self.model.sample(
                num,
                seed=seed,
                ddim_steps=self.param("ddim_steps"),
                cfg_weight=self.param("cfg_weight"),
                penetration_guidance_weight=current_value(self.specs, "penetration_guidance_weight", self.param),
                object_points=points,
                object_viewpoint=viewpoint,
                preprocess=preprocess,
                physics_rank=(
                    GraspPhysicsConfig(rank_candidates=self.param("rank_candidates"))
                    if self.param("rank") == "physics"
                    else None
                ),
                should_stop=should_stop or self.stopping,
                one_sided_completion=self.param("one_sided_completion"),
            )
        finally:
            self._model_lock.release()
        return grasps.ranked()

    def _acquire_model(self, should_stop: Callable[[], bool] | None) -> None:
        if should_stop is None:
            if not self._model_lock.acquire(blocking=False):
                raise InputError("busy: an action goal is using the model; the cloud is dropped")
            return
        while not self._model_lock.acquire(timeout=LOCK_POLL_S):
            if should_stop():
                raise Cancelled("stopped by the caller (should_stop) while waiting for the model")

    def process(self, msg: PointCloud2) -> None:
        grasps = self.propose(msg, self.param("num_grasps"), self.param("seed"))
        self._publish(grasps, msg.header)

    def _message(self, grasps: GraspSamples, header: Header) -> BimanualGraspArray:
        """Ranked grasps -> their message, each also in the robot hands' joints when robot_hands is on."""
        robot: TwoRobotHands | None = None
        if self.retargeter is not None:
            robot = self.retargeter.retarget(
                grasps.left_keypoints.detach().double().cpu().numpy(),
                grasps.right_keypoints.detach().double().cpu().numpy(),
            )
        name = "" if self.retargeter is None else self.retargeter.config.robot
        return grasps_to_message(grasps, header, robot, name)

    def _publish(self, grasps: GraspSamples, header: Header) -> None:
        if self._proposals is not None:
            self._proposals.publish(self._message(grasps, header))
        top_k = self.param("markers_top_k")
        if self._markers is not None and top_k > 0 and self.model is not None:
            shown = min(top_k, len(grasps.scores))
            markers = two_hand_markers(
                grasps.left_vertices[:shown],
                grasps.left_faces,
                grasps.right_vertices[:shown],
                grasps.right_faces,
                header,
                rank_alphas(shown, top_k),
                "grasp",
            )
            _, inferred = grasps.cloud.seen_and_inferred()
            if inferred is not None:
                markers.markers.append(
                    points_marker(inferred, header, "inferred_object", INFERRED_COLOUR, INFERRED_POINT_SIZE_M)
                )
            self._markers.publish(markers)

    def _execute(self, goal_handle: Any) -> GenerateBimanualGrasps.Result:
        request = goal_handle.request
        result = GenerateBimanualGrasps.Result()
        result.grasps.header = request.cloud.header

        def feedback(progress: float, stage: str) -> None:
            goal_handle.publish_feedback(GenerateBimanualGrasps.Feedback(progress=progress, stage=stage))

        # The same range as the num_grasps parameter (GraspRequestConfig); 0 is refused, not "the default".
        refusal = self.specs["num_grasps"].check(int(request.num_grasps))
        if refusal is not None:
            self.stats.drop("goal refused: num_grasps out of range")
            accepted = self.specs["num_grasps"].accepted_text
            result.message = f"goal refused: {refusal}; a goal takes the num_grasps parameter's range, {accepted}"
            self.get_logger().warning(result.message, throttle_duration_sec=WARNING_PERIOD_S)
            goal_handle.abort()
            return result

        def should_stop() -> bool:
            return bool(goal_handle.is_cancel_requested) or self.stopping()

        feedback(0.0, "preprocessing")
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            result.message = "canceled"
            return result
        seed = int(request.seed) if request.seed >= 0 else self.param("seed")
        # computing() spans the goal's end too: a stop waits (node_base.wait_idle) until it is reported.
        with self.computing():
            return self._run_goal(goal_handle, result, seed, should_stop, feedback)

    def _run_goal(
        self,
        goal_handle: Any,
        result: Any,
        seed: int,
        should_stop: Callable[[], bool],
        feedback: Callable[[float, str], None],
    ) -> Any:
        """Sample the goal's grasps and end the goal: succeeded, canceled, or aborted with the reason."""
        request = goal_handle.request
        started = time.monotonic()
        self.stats.busy_since = started
        try:
            feedback(0.1, "sampling")
            grasps = self.propose(request.cloud, int(request.num_grasps), seed, should_stop)
        except Cancelled:
            return self._stopped(goal_handle, result, started)
        except Exception as error:  # the goal fails with the reason; the node carries on
            self.stats.drop(f"action {type(error).__name__}")
            goal_handle.abort()
            result.message = str(error).splitlines()[0] if str(error) else type(error).__name__
            return result
        finally:
            self.stats.busy_since = None
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            result.message = "canceled"
            return result
        feedback(1.0, "done")
        result.grasps = self._message(grasps, request.cloud.header)
        result.message = f"{len(result.grasps.grasps)} grasps"
        goal_handle.succeed()
        return result

    def _stopped(self, goal_handle: Any, result: Any, started: float) -> Any:
        """A goal whose sampling its cancel hook ended: canceled (asked by the client) or aborted (the node stops)."""
        took = time.monotonic() - started
        if goal_handle.is_cancel_requested:
            result.message = f"canceled after {took:.1f} s"
            goal_handle.canceled()
        else:
            result.message = f"aborted after {took:.1f} s: the node is stopping (deactivated or signalled)"
            goal_handle.abort()
        self.get_logger().info(f"goal {result.message}")
        return result


NODE = GraspProposalNode


def main() -> None:
    """The executable (executables.grasp_proposal_node, which also takes over SIGINT before importing this)."""
    exit_now(start(__name__))


if __name__ == "__main__":
    main()
