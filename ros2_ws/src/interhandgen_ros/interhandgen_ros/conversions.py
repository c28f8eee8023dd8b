"""Pure conversions between ROS messages and interhandgen_core's arrays (no rclpy: tested alone).

    PointCloud2                  -> cloud_to_points   -> (N, 3) float64 metres, message frame
    (N, 3) points                -> require_metres    -> the same, or InputError for millimetres
    GraspSamples (ranked)        -> grasps_to_message -> BimanualGraspArray, the cloud's header
    TwoHandState                 -> two_hand_state_to_observation -> TwoHandObservation (1 frame)
    PoseArray of 2 x 21 poses    -> pose_array_to_observation     -> TwoHandObservation (1 frame)
    PoseArray of 2 x 21 MediaPipe world landmarks -> mediapipe_pose_array_to_observation -> the same
    PoseArray of 2 x 26 OpenXR hand joint poses   -> openxr_pose_array_to_observation    -> the same
    input_type -> its PoseArray reader: POSE_ARRAY_INPUTS
    RefinedHands (1 frame)       -> refined_to_message            -> TwoHandState
    RobotHandCommands, a row     -> robot_command_to_message      -> RobotHandCommand (JointState + wrist)
    (4, 4) pose matrix           -> matrix_to_pose                -> Pose
    HandState x B                -> hand_states_to_params         -> HandParams (B rows), for meshes

Every malformed input raises InputError with one line that says what is wrong; the nodes log
it (throttled), count the message as dropped and carry on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray
from interhandgen_msgs.msg import BimanualGrasp, BimanualGraspArray, HandState, RobotHandCommand, TwoHandState
from sensor_msgs.msg import JointState, PointCloud2, PointField
from std_msgs.msg import Header

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.tracker_skeletons import (
    NUM_MEDIAPIPE_LANDMARKS,
    NUM_OPENXR_JOINTS,
    check_hands_placed,
    mediapipe_to_keypoints,
    openxr_joints_to_keypoints,
)
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.sensor_cloud import MILLIMETRE_SPAN, robust_span
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import RefinedHands
from interhandgen_core.retargeting.retargeter import RobotHandCommands, TwoRobotHands

NUM_KEYPOINTS = 21
# A cloud bigger than this is refused before any copy (the library refuses 5M after reading it).
MAX_CLOUD_POINTS = 5_000_000
_FLOAT_TYPES = {PointField.FLOAT32: "f4", PointField.FLOAT64: "f8"}


class InputError(ValueError):
    """A message the node cannot use; the message is one line saying why."""


def cloud_to_points(msg: PointCloud2) -> tuple[np.ndarray, int]:
    """PointCloud2 with float32/float64 x, y, z fields -> (points (N, 3) float64 metres, dropped count).

    Points with a NaN or infinite coordinate are dropped (organised clouds mark holes so) and
    counted; rows padded beyond width * point_step are handled; big-endian data is read as such.
    """
    count = int(msg.width) * int(msg.height)
    if count == 0:
        raise InputError("empty cloud (width x height = 0)")
    if count > MAX_CLOUD_POINTS:
        raise InputError(f"cloud of {count} points exceeds the {MAX_CLOUD_POINTS} this node accepts; crop it first")
    fields = {f.name: f for f in msg.fields}
    missing = [axis for axis in "xyz" if axis not in fields]
    if missing:
        raise InputError(f"cloud has no {', '.join(missing)} field (fields: {sorted(fields) or 'none'})")
    order = ">" if msg.is_bigendian else "<"
    formats, offsets = [], []
    for axis in "xyz":
        field = fields[axis]
        if field.datatype not in _FLOAT_TYPES:
            raise InputError(f"cloud field {axis} has datatype {field.datatype}; float32 (7) or float64 (8) expected")
        if field.count != 1:
            raise InputError(f"cloud field {axis} has count {field.count}; 1 expected")
        formats.append(order + _FLOAT_TYPES[field.datatype])
        offsets.append(int(field.offset))
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    widest = max(offset + np.dtype(fmt).itemsize for offset, fmt in zip(offsets, formats, strict=True))
    if point_step < widest:
        raise InputError(f"point_step {point_step} is smaller than the x/y/z fields need ({widest} bytes)")
    if row_step < int(msg.width) * point_step:
        raise InputError(f"row_step {row_step} is smaller than width x point_step ({int(msg.width) * point_step})")
    data = memoryview(msg.data).cast("B") if not isinstance(msg.data, bytes | bytearray) else msg.data
    if len(data) < row_step * int(msg.height):
        raise InputError(f"cloud data holds {len(data)} bytes, its header promises {row_step * int(msg.height)}")
    layout = np.dtype({"names": ["x", "y", "z"], "formats": formats, "offsets": offsets, "itemsize": point_step})
    raw = np.frombuffer(data, dtype=np.uint8, count=row_step * int(msg.height)).reshape(int(msg.height), row_step)
    rows = np.ascontiguousarray(raw[:, : int(msg.width) * point_step]).view(layout).reshape(-1)
    points = np.stack([rows["x"], rows["y"], rows["z"]], axis=-1).astype(np.float64)
    finite = np.isfinite(points).all(axis=1)
    return points[finite], int(count - finite.sum())


def require_metres(points: np.ndarray) -> np.ndarray:
    """(N, 3) finite points -> the same, or InputError when they look like millimetres.

    The library's test (pipelines/sensor_cloud.py: a robust span over MILLIMETRE_SPAN units) decides;
    where the library divides such a cloud by 1000 and goes on, a node refuses it: ROS clouds are
    metres (REP 103), and proposals in a frame whose unit is wrong would mislead the planner.
    """
    span = robust_span(points)
    if span > MILLIMETRE_SPAN:
        raise InputError(
            f"cloud in millimetres: it spans {span:.0f} units, more than the {MILLIMETRE_SPAN:g} of any object "
            "in metres; ROS clouds are metres (REP 103): scale it at its source, or crop a scene to the object"
        )
    return points


def viewpoint_from_text(text: str) -> np.ndarray | None:
    """The cloud_viewpoint parameter, "x,y,z" metres in the cloud's frame or "" (unknown) -> (3,) float64 or None.

    InputError for anything else (the parameter's pattern refuses it at set time already).
    """
    if not text.strip():
        return None
    try:
        values = np.array([float(part) for part in text.split(",")], dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (3,) or not np.isfinite(values).all():
        raise InputError(f"cloud_viewpoint must be three numbers x,y,z (metres) or empty, got {text!r}")
    return values


def points_to_cloud(points: np.ndarray, header: Header) -> PointCloud2:
    """(N, 3) metres -> an unorganised PointCloud2 of float32 x, y, z (for demos and tests)."""
    array = np.ascontiguousarray(np.asarray(points, dtype=np.float32).reshape(-1, 3))
    msg = PointCloud2(header=header, height=1, width=len(array), is_bigendian=False, is_dense=True)
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    msg.point_step, msg.row_step = 12, 12 * len(array)
    msg.data = array.tobytes()
    return msg


def _point(xyz: np.ndarray) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def hand_state(
    side: int, params: HandParams, keypoints: torch.Tensor, confidence: float, header: Header, row: int = 0
) -> HandState:
    """Row ``row`` of HandParams and keypoints (B, 21, 3) metres -> HandState in ``header``'s frame."""
    msg = HandState(header=header, side=side, confidence=float(confidence))
    pose = params.pose[row].detach().double().cpu().numpy()
    msg.pose = pose.astype(np.float32)
    msg.betas = params.betas[row].detach().double().cpu().numpy().astype(np.float32)
    quaternion = matrix_to_quaternion(params.rotation[row : row + 1].detach().double().cpu())[0].numpy()  # w, x, y, z
    translation = params.translation[row].detach().double().cpu().numpy()
    msg.wrist_pose = Pose()
    msg.wrist_pose.position = _point(translation)
    msg.wrist_pose.orientation.w, msg.wrist_pose.orientation.x = float(quaternion[0]), float(quaternion[1])
    msg.wrist_pose.orientation.y, msg.wrist_pose.orientation.z = float(quaternion[2]), float(quaternion[3])
    msg.keypoints = [_point(p) for p in keypoints[row].detach().double().cpu().numpy()]
    return msg


def grasps_to_message(
    grasps: GraspSamples, header: Header, robot: TwoRobotHands | None = None, robot_name: str = ""
) -> BimanualGraspArray:
    """GraspSamples (already in the cloud's frame, best first) -> BimanualGraspArray with the cloud's header;
    ``robot``: the same grasps retargeted onto the robot hands ``robot_name`` (one row per grasp), or None."""
    figures = grasps.figures
    scores = grasps.scores.detach().cpu().numpy()
    contact = ((figures.left_gap <= 0.005).float() + (figures.right_gap <= 0.005).float()) / 2.0
    out = BimanualGraspArray(header=header)
    for i in range(len(scores)):
        grasp = BimanualGrasp(
            left=hand_state(HandState.LEFT, grasps.left, grasps.left_keypoints, 1.0, header, i),
            right=hand_state(HandState.RIGHT, grasps.right, grasps.right_keypoints, 1.0, header, i),
            score=float(scores[i]),
            object_penetration_depth=float(figures.hand_object_depth[i]),
            hand_penetration_depth=float(figures.hand_hand_depth[i]),
            contact_ratio=float(contact[i]),
        )
        if robot is not None:
            grasp.left_robot = robot_command_to_message(robot.left, i, HandState.LEFT, robot_name, header)
            grasp.right_robot = robot_command_to_message(robot.right, i, HandState.RIGHT, robot_name, header)
        out.grasps.append(grasp)
    return out


def hand_states_to_params(states: list[HandState]) -> HandParams:
    """B HandStates (pose, betas, wrist pose; metres, their header's frame) -> HandParams, float64.

    The inverse of hand_state: feed the result to a HandLayer for the meshes (previews, RViz).
    """
    if not states:
        raise InputError("no hand states to convert")
    for msg in states:
        if len(msg.pose) != 45 or len(msg.betas) != 10:
            raise InputError(
                f"a HandState has {len(msg.pose)} pose and {len(msg.betas)} betas values, 45 and 10 expected"
            )
    pose = torch.tensor(np.array([msg.pose for msg in states], dtype=np.float64))
    betas = torch.tensor(np.array([msg.betas for msg in states], dtype=np.float64))
    wrist = [msg.wrist_pose for msg in states]
    quaternion = torch.tensor([[w.orientation.w, w.orientation.x, w.orientation.y, w.orientation.z] for w in wrist])
    if not bool(torch.isfinite(quaternion).all()) or bool((quaternion.norm(dim=-1) < 1e-6).any()):
        raise InputError("a HandState's wrist orientation is not a finite, non-zero quaternion")
    translation = torch.tensor([[w.position.x, w.position.y, w.position.z] for w in wrist], dtype=torch.float64)
    return HandParams(pose, betas, quaternion_to_matrix(quaternion.double()), translation)


def _keypoints(msg: HandState) -> np.ndarray:
    if len(msg.keypoints) != NUM_KEYPOINTS:
        raise InputError(f"a HandState has {len(msg.keypoints)} keypoints, {NUM_KEYPOINTS} expected")
    return np.array([[p.x, p.y, p.z] for p in msg.keypoints], dtype=np.float64)


def _hand_observation(msg: HandState) -> HandObservation:
    confidence = float(msg.confidence)
    if not math.isfinite(confidence):
        confidence = 0.0  # a NaN confidence says nothing; treat the hand as not tracked
    keypoints = torch.as_tensor(_keypoints(msg))[None]
    if not torch.isfinite(keypoints).any():
        confidence = 0.0
    # Outside [0, 1] it goes through as it is: the refiner clamps it and says so (refinement/side_targets.py).
    return HandObservation(keypoints=keypoints, confidence=torch.tensor([confidence]))


def two_hand_state_to_observation(msg: TwoHandState) -> TwoHandObservation:
    """TwoHandState (keypoints in its frame, metres) -> one frame for HandPriorRefiner.step.

    The refiner reads the keypoints; a hand whose keypoints are all NaN, or whose confidence
    is 0, counts as lost. The message's pose, betas and wrist pose are not read: trackers
    that report keypoints only leave them zero.
    """
    if msg.left.side != HandState.LEFT or msg.right.side != HandState.RIGHT:
        raise InputError(
            f"TwoHandState.left.side must be LEFT ({HandState.LEFT}) and right.side RIGHT ({HandState.RIGHT}), "
            f"got {msg.left.side} and {msg.right.side}"
        )
    return TwoHandObservation(_hand_observation(msg.left), _hand_observation(msg.right))


def pose_array_to_observation(msg: PoseArray) -> TwoHandObservation:
    """PoseArray of 42 poses (the left hand's 21 keypoints, then the right's; positions in metres;
    orientations ignored) -> one frame. A hand with any NaN position loses those keypoints only."""
    if len(msg.poses) != 2 * NUM_KEYPOINTS:
        raise InputError(
            f"a keypoint PoseArray needs {2 * NUM_KEYPOINTS} poses (left then right), got {len(msg.poses)}"
        )
    xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses], dtype=np.float64)
    left, right = torch.as_tensor(xyz[:NUM_KEYPOINTS]), torch.as_tensor(xyz[NUM_KEYPOINTS:])

    def confidence(keypoints: torch.Tensor) -> torch.Tensor:
        return torch.tensor([1.0 if bool(torch.isfinite(keypoints).any()) else 0.0])

    return TwoHandObservation(
        HandObservation(keypoints=left[None], confidence=confidence(left)),
        HandObservation(keypoints=right[None], confidence=confidence(right)),
    )


def _two_hands(msg: PoseArray, per_hand: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """PoseArray of 2 x per_hand poses -> positions (2, per_hand, 3) and quaternions (2, per_hand, 4) x, y, z, w."""
    if len(msg.poses) != 2 * per_hand:
        raise InputError(
            f"a {layout} PoseArray needs {2 * per_hand} poses ({per_hand} for the left hand, then {per_hand} "
            f"for the right; NaN positions for a hand not tracked), got {len(msg.poses)}"
        )
    xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses], dtype=np.float64)
    quaternions = np.array(
        [[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in msg.poses], dtype=np.float64
    )
    return xyz.reshape(2, per_hand, 3), quaternions.reshape(2, per_hand, 4)


def _observation(left: torch.Tensor, right: torch.Tensor) -> TwoHandObservation:
    """Keypoints (1, 21, 3) per hand, NaN where missing -> one frame; a hand without any keypoint is lost."""

    def side(keypoints: torch.Tensor) -> HandObservation:
        seen = bool(torch.isfinite(keypoints).all(-1).any())
        return HandObservation(keypoints=keypoints, confidence=torch.tensor([1.0 if seen else 0.0]))

    return TwoHandObservation(side(left), side(right))


def mediapipe_pose_array_to_observation(msg: PoseArray) -> TwoHandObservation:
    """PoseArray of 42 poses, MediaPipe's 21 hand world landmarks of the left hand then of the right, in
    MediaPipe's order (the project's: hands/tracker_skeletons.py), metres, **placed** in the header's frame
    (world landmarks plus the hand's position; orientations ignored) -> one frame. NaN positions: a hand or
    landmark not tracked. Both hands centred on the origin (landmarks never placed) are refused."""
    xyz, _ = _two_hands(msg, NUM_MEDIAPIPE_LANDMARKS, "MediaPipe")
    try:
        left, right = mediapipe_to_keypoints(xyz[0]), mediapipe_to_keypoints(xyz[1])
        check_hands_placed(left, right, "MediaPipe PoseArray")
    except DataError as error:
        raise InputError(str(error)) from None
    return _observation(left, right)


def openxr_pose_array_to_observation(msg: PoseArray) -> TwoHandObservation:
    """PoseArray of 52 poses, OpenXR's 26 hand joints (XR_EXT_hand_tracking order, palm first) of the left
    hand then of the right, metres, in the header's frame (the XR reference space or any frame they were
    moved to) -> one frame. A joint not located (XR_SPACE_LOCATION_POSITION_VALID_BIT unset) is sent as a
    NaN position or an all-zero orientation and becomes a missing keypoint; the palm and the finger
    metacarpals are not read."""
    xyz, quaternions = _two_hands(msg, NUM_OPENXR_JOINTS, "OpenXR")
    try:
        left = openxr_joints_to_keypoints(xyz[0][None], quaternions[0][None])
        right = openxr_joints_to_keypoints(xyz[1][None], quaternions[1][None])
    except DataError as error:
        raise InputError(str(error)) from None
    return _observation(left, right)


# hand_prior_node's PoseArray input types (parameters.INPUT_TYPES, less two_hand_state) and their readers.
POSE_ARRAY_INPUTS: dict[str, Callable[[PoseArray], TwoHandObservation]] = {
    "pose_array": pose_array_to_observation,
    "mediapipe": mediapipe_pose_array_to_observation,
    "openxr": openxr_pose_array_to_observation,
}


def refined_to_message(refined: RefinedHands, header: Header) -> TwoHandState:
    """One refined frame -> TwoHandState in ``header``'s frame with per-hand confidence."""
    if refined.left.batch_size != 1:
        raise ValueError(f"refined_to_message takes one frame, got {refined.left.batch_size}")
    out = TwoHandState(header=header)
    out.left = hand_state(
        HandState.LEFT, refined.left, refined.left_keypoints, float(refined.left_confidence[0]), header
    )
    out.right = hand_state(
        HandState.RIGHT, refined.right, refined.right_keypoints, float(refined.right_confidence[0]), header
    )
    return out


def matrix_to_pose(matrix: np.ndarray) -> Pose:
    """(4, 4) rigid transform, metres -> Pose (position, unit quaternion)."""
    rotation = torch.as_tensor(np.asarray(matrix, dtype=np.float64)[None, :3, :3])
    w, x, y, z = (float(v) for v in matrix_to_quaternion(rotation)[0])
    pose = Pose()
    pose.position = _point(np.asarray(matrix)[:3, 3])
    pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z = w, x, y, z
    return pose


def robot_command_to_message(
    commands: RobotHandCommands, row: int, side: int, robot: str, header: Header
) -> RobotHandCommand:
    """Row ``row`` of one robot hand's commands (joint_positions (B, J), wrist_pose (B, 4, 4), input frame)
    -> RobotHandCommand in ``header``'s frame. A hand never retargeted (NaN wrist pose) gets the identity
    pose and valid False; its joints are the model's rest pose."""
    wrist = commands.wrist_pose[row]
    valid = bool(commands.valid[row]) and bool(np.isfinite(wrist).all())
    tips = commands.fingertip_error_m[row]
    error = float(np.mean(tips)) if valid and np.isfinite(tips).all() else math.nan
    return RobotHandCommand(
        header=header,
        robot=robot,
        side=side,
        joint_state=robot_joint_state(commands, row, header),
        wrist_pose=matrix_to_pose(wrist if np.isfinite(wrist).all() else np.eye(4)),
        valid=valid,
        fingertip_error_m=error,
    )


def robot_joint_state(commands: RobotHandCommands, row: int, header: Header) -> JointState:
    """Row ``row`` of one robot hand's commands -> sensor_msgs/JointState (the model's joint names, positions)."""
    return JointState(
        header=header,
        name=list(commands.joint_names),
        position=[float(v) for v in commands.joint_positions[row]],
    )


def stamp_seconds(stamp: Time) -> float:
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)
