"""Pure conversions (interhandgen_ros/conversions.py) and the parameter tables, without any node."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from conftest import REPO
from geometry_msgs.msg import Pose, PoseArray
from interhandgen_msgs.msg import HandState
from interhandgen_ros.conversions import (
    POSE_ARRAY_INPUTS,
    InputError,
    cloud_to_points,
    hand_state,
    hand_states_to_params,
    mediapipe_pose_array_to_observation,
    openxr_pose_array_to_observation,
    points_to_cloud,
    pose_array_to_observation,
    require_metres,
    robot_command_to_message,
    viewpoint_from_text,
)
from interhandgen_ros.parameters import (
    GRASP_PROPOSAL_PARAMETERS,
    HAND_PRIOR_PARAMETERS,
    INPUT_TYPES,
    current_value,
    device_problem,
    markdown_table,
    spec_table,
    text_table,
)
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from interhandgen_core.config import default_of, setting_of
from interhandgen_core.geometry.rotations import quaternion_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.retargeter import Retargeter
from interhandgen_core.runtime.configuration import BackendConfig


def structured_cloud(points: np.ndarray, dtype: str, bigendian: bool, pad_point: int, pad_row: int) -> PointCloud2:
    """An organised 2-row cloud with an extra rgb field, padding per point and per row."""
    size = np.dtype(dtype).itemsize
    order = ">" if bigendian else "<"
    step = 3 * size + 4 + pad_point
    width = len(points) // 2
    row = np.zeros((2, width * step + pad_row), dtype=np.uint8)
    for r in range(2):
        for c in range(width):
            xyz = np.asarray(points[r * width + c], dtype=order + dtype).tobytes()
            row[r, c * step : c * step + 3 * size] = np.frombuffer(xyz, dtype=np.uint8)
    datatype = PointField.FLOAT64 if size == 8 else PointField.FLOAT32
    msg = PointCloud2(header=Header(frame_id="cam"), height=2, width=width, is_bigendian=bigendian)
    msg.fields = [PointField(name=n, offset=i * size, datatype=datatype, count=1) for i, n in enumerate("xyz")]
    msg.fields.append(PointField(name="rgb", offset=3 * size, datatype=PointField.UINT32, count=1))
    msg.point_step, msg.row_step = step, width * step + pad_row
    msg.data = row.tobytes()
    return msg


@pytest.mark.parametrize("dtype", ["f4", "f8"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_cloud_layouts_are_read_exactly(dtype: str, bigendian: bool) -> None:
    points = np.random.default_rng(0).normal(size=(10, 3))
    points[3] = np.nan
    out, dropped = cloud_to_points(structured_cloud(points, dtype, bigendian, pad_point=4, pad_row=8))
    keep = np.isfinite(points).all(axis=1)
    assert dropped == 1
    np.testing.assert_allclose(out, points[keep].astype(dtype), rtol=0, atol=0)


def test_round_trip_of_a_plain_cloud() -> None:
    points = np.random.default_rng(1).uniform(-1, 1, (50, 3))
    out, dropped = cloud_to_points(points_to_cloud(points, Header()))
    assert dropped == 0
    np.testing.assert_allclose(out, points.astype(np.float32), atol=0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: setattr(m, "width", 0), "empty cloud"),
        (lambda m: setattr(m, "fields", m.fields[:2]), "no z field"),
        (lambda m: setattr(m.fields[0], "datatype", PointField.INT16), "float32 (7) or float64 (8)"),
        (lambda m: setattr(m, "data", bytes(m.data)[:10]), "holds 10 bytes"),
        (lambda m: setattr(m, "point_step", 4), "point_step 4"),
        (lambda m: setattr(m, "row_step", 3), "row_step 3"),
        (lambda m: setattr(m, "width", 6_000_000), "exceeds"),
    ],
)
def test_malformed_clouds_are_one_line_errors(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    msg = points_to_cloud(np.zeros((20, 3)), Header())
    edit(msg)
    with pytest.raises(InputError, match=re.escape(message)) as error:
        cloud_to_points(msg)
    assert "\n" not in str(error.value)


def test_a_cloud_in_millimetres_is_refused_in_one_line() -> None:
    rng = np.random.default_rng(2)
    object_m = rng.uniform(-0.04, 0.04, (500, 3))  # an 8 cm object
    assert require_metres(object_m) is object_m
    scene_m = rng.uniform(-1.5, 1.5, (500, 3))  # a table-top scene in metres
    assert require_metres(scene_m) is scene_m
    with pytest.raises(InputError, match=r"^cloud in millimetres: it spans 7\d units") as error:
        require_metres(object_m * 1000.0)
    assert "\n" not in str(error.value)


def test_cloud_viewpoint_text_is_three_numbers_or_empty() -> None:
    assert viewpoint_from_text("") is None and viewpoint_from_text("  ") is None
    np.testing.assert_array_equal(viewpoint_from_text("0,0,0"), np.zeros(3))
    np.testing.assert_allclose(viewpoint_from_text(" 1.5, -2e-1 ,3"), [1.5, -0.2, 3.0])
    for text in ("1,2", "1,2,3,4", "nan,0,0", "a,b,c"):
        with pytest.raises(InputError, match="cloud_viewpoint must be three numbers") as error:
            viewpoint_from_text(text)
        assert "\n" not in str(error.value)
    spec = next(p for p in GRASP_PROPOSAL_PARAMETERS if p.name == "cloud_viewpoint")
    assert spec.check("") is None and spec.check("0,0,0") is None and spec.check("-0.1, 0.25, 1e-3") is None
    for text in ("1,2", "nan,0,0", "0;0;0"):
        assert spec.check(text) is not None


def test_pose_array_needs_42_poses_and_marks_a_lost_hand() -> None:
    with pytest.raises(InputError, match="needs 42 poses"):
        pose_array_to_observation(PoseArray(poses=[Pose()] * 21))
    msg = PoseArray(poses=[Pose() for _ in range(42)])
    for pose in msg.poses[21:]:
        pose.position.x = pose.position.y = pose.position.z = float("nan")
    observation = pose_array_to_observation(msg)
    assert observation.right is not None and float(observation.right.confidence[0]) == 0.0
    assert observation.left is not None and float(observation.left.confidence[0]) == 1.0


def _model_keypoints() -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (21, 3) of a posed left and right procedural hand, 12 cm apart, metres."""
    from interhandgen_core.hands.hand_params import HandParams
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    right, left = load_hand_pair("procedural")
    gen = torch.Generator().manual_seed(1)
    pose, betas = 0.3 * torch.randn(1, 45, generator=gen), torch.zeros(1, 10)
    with torch.no_grad():
        kp_left = HandLayer(left)(HandParams(pose, betas, torch.eye(3)[None], torch.tensor([[-0.06, 0.1, 0.5]])))
        kp_right = HandLayer(right)(HandParams(pose, betas, torch.eye(3)[None], torch.tensor([[0.06, 0.1, 0.5]])))
    return kp_left.keypoints[0].double().numpy(), kp_right.keypoints[0].double().numpy()


def _poses(positions: np.ndarray) -> PoseArray:
    msg = PoseArray()
    for p in positions:
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in p)
        msg.poses.append(pose)
    return msg


def test_every_pose_array_input_type_has_its_reader() -> None:
    assert set(POSE_ARRAY_INPUTS) == set(INPUT_TYPES) - {"two_hand_state"}
    assert spec_table(HAND_PRIOR_PARAMETERS)["input_type"].choices == INPUT_TYPES


def test_mediapipe_landmarks_give_the_keypoints_of_placed_hands() -> None:
    from interhandgen_core.hands.tracker_skeletons import keypoints_to_mediapipe, mediapipe_to_keypoints

    left, right = _model_keypoints()
    observation = mediapipe_pose_array_to_observation(_poses(np.concatenate([left, right])))
    assert observation.left is not None and observation.right is not None
    assert np.abs(observation.left.keypoints[0].numpy() - left).max() < 1e-12
    assert np.abs(observation.right.keypoints[0].numpy() - right).max() < 1e-12
    # World landmarks as MediaPipe gives them (relative to each hand's centre), never placed: refused.
    centred = [keypoints_to_mediapipe(hand)[0][0].numpy() for hand in (left, right)]
    with pytest.raises(InputError, match="both hands are centred on the origin") as error:
        mediapipe_pose_array_to_observation(_poses(np.concatenate(centred)))
    assert "\n" not in str(error.value)
    # Placed by the wrist positions they came with (mediapipe_to_keypoints), they are the hands again.
    placed = [mediapipe_to_keypoints(c, hand[0])[0].numpy() for c, hand in zip(centred, (left, right), strict=True)]
    assert np.abs(np.concatenate(placed) - np.concatenate([left, right])).max() < 1e-12
    # A hand not tracked: NaN positions; one landmark NaN: that keypoint missing.
    lost = np.concatenate([left, np.full((21, 3), np.nan)])
    lost[8] = np.nan
    observation = mediapipe_pose_array_to_observation(_poses(lost))
    assert observation.right is not None and float(observation.right.confidence[0]) == 0.0
    assert observation.left is not None and float(observation.left.confidence[0]) == 1.0
    assert (
        torch.isnan(observation.left.keypoints[0, 8]).all() and torch.isfinite(observation.left.keypoints[0, 7]).all()
    )
    with pytest.raises(InputError, match=r"^a MediaPipe PoseArray needs 42 poses \(21 for the left hand"):
        mediapipe_pose_array_to_observation(_poses(np.zeros((52, 3))))


def test_openxr_joints_give_the_keypoints_and_drop_inactive_joints() -> None:
    from interhandgen_core.hands.tracker_skeletons import keypoints_to_openxr_joints

    left, right = _model_keypoints()
    joints = keypoints_to_openxr_joints(np.stack([left, right])).numpy()
    msg = _poses(joints.reshape(52, 3))
    observation = openxr_pose_array_to_observation(msg)
    assert observation.left is not None and observation.right is not None
    assert np.abs(observation.left.keypoints[0].numpy() - left).max() < 1e-12
    assert np.abs(observation.right.keypoints[0].numpy() - right).max() < 1e-12
    # Inactive joints: a zero quaternion (the right hand's INDEX_TIP), a NaN position (the left WRIST);
    # the palm (joint 0) inactive changes nothing.
    msg.poses[26 + 10].orientation.w = 0.0
    msg.poses[1].position.x = float("nan")
    msg.poses[0].orientation.w = 0.0
    observation = openxr_pose_array_to_observation(msg)
    assert observation.left is not None and observation.right is not None
    assert torch.isnan(observation.left.keypoints[0]).any(-1).nonzero().flatten().tolist() == [0]
    assert torch.isnan(observation.right.keypoints[0]).any(-1).nonzero().flatten().tolist() == [8]
    assert float(observation.left.confidence[0]) == 1.0
    # A hand with no joint located is lost.
    for pose in msg.poses[26:]:
        pose.orientation.w = 0.0
    assert float(openxr_pose_array_to_observation(msg).right.confidence[0]) == 0.0  # type: ignore[union-attr]
    with pytest.raises(InputError, match=r"^an? OpenXR PoseArray needs 52 poses \(26 for the left hand"):
        openxr_pose_array_to_observation(_poses(np.zeros((42, 3))))


def test_hand_states_give_back_the_hands_they_were_made_from() -> None:
    from interhandgen_core.geometry.rotations import axis_angle_to_matrix
    from interhandgen_core.hands.hand_params import HandParams

    gen = torch.Generator().manual_seed(0)
    params = HandParams(
        0.3 * torch.randn(5, 45, generator=gen, dtype=torch.float64),
        torch.randn(5, 10, generator=gen, dtype=torch.float64),
        axis_angle_to_matrix(2.0 * torch.randn(5, 3, generator=gen, dtype=torch.float64)),
        0.2 * torch.randn(5, 3, generator=gen, dtype=torch.float64),
    )
    keypoints = torch.zeros(5, 21, 3, dtype=torch.float64)
    states = [hand_state(HandState.LEFT, params, keypoints, 1.0, Header(), row) for row in range(5)]
    back = hand_states_to_params(states)
    for name in ("pose", "betas", "rotation", "translation"):
        # The message holds the pose and betas as float32.
        torch.testing.assert_close(getattr(back, name), getattr(params, name), rtol=0, atol=1e-6)
    states[2].wrist_pose.orientation.w = float("nan")
    with pytest.raises(InputError, match="quaternion"):
        hand_states_to_params(states)
    with pytest.raises(InputError, match="no hand states"):
        hand_states_to_params([])


@pytest.mark.parametrize("specs", [GRASP_PROPOSAL_PARAMETERS, HAND_PRIOR_PARAMETERS])
def test_parameter_tables_check_their_defaults_and_refuse_bad_values(specs) -> None:  # type: ignore[no-untyped-def]
    table = spec_table(specs)
    assert len(table) == len(specs)  # no name twice
    for spec in specs:
        assert spec.check(spec.default) is None, spec.name
    assert table["device"].check("gpu") is not None and table["device"].check("cuda:1") is None
    assert table["backend"].check("tensorflow") is not None
    assert table["diagnostics_period_s"].check(float("inf")) is not None
    assert table["input_qos_depth"].check(1.5) is not None


def test_readme_holds_the_generated_parameter_tables() -> None:
    readme = (REPO / "README.md").read_text()
    assert markdown_table(GRASP_PROPOSAL_PARAMETERS) in readme
    assert markdown_table(HAND_PRIOR_PARAMETERS) in readme


def test_parameters_that_set_a_config_field_take_its_default_and_range() -> None:
    grasp, hand = spec_table(GRASP_PROPOSAL_PARAMETERS), spec_table(HAND_PRIOR_PARAMETERS)
    for table, name, config, field in (
        (grasp, "ddim_steps", SamplerConfig, "ddim_steps"),
        (grasp, "cfg_weight", SamplerConfig, "cfg_weight"),
        (grasp, "penetration_guidance_weight", SamplerConfig, "penetration_guidance_weight"),
        (grasp, "voxel_size", CloudPreprocessConfig, "voxel_size"),
        (grasp, "one_sided_completion", SamplerConfig, "one_sided_completion"),
        (grasp, "max_batch_size", BackendConfig, "max_batch"),
        (hand, "iterations", RefinerConfig, "iterations"),
        (hand, "penetration_weight", RefinerConfig, "penetration_weight"),
        (hand, "robot_scale", RetargetConfig, "scale"),
        (hand, "robot_filter_cutoff_hz", RetargetConfig, "filter_cutoff_hz"),
        (grasp, "robot_scale", RetargetConfig, "scale"),
    ):
        spec, meta = table[name], setting_of(config, field)
        assert spec.default == default_of(config, field), name
        assert (spec.minimum, spec.maximum, spec.low_open, spec.high_open) == (
            meta.low,
            meta.high,
            meta.low_open,
            meta.high_open,
        ), name
    assert grasp["backend"].choices == setting_of(BackendConfig, "name").choices
    assert grasp["cfg_weight"].check(-0.1) is not None and grasp["cfg_weight"].check(10.0) is None
    assert grasp["cfg_weight"].check(10.5) is not None  # SamplerConfig.cfg_weight's range, [0, 10]
    assert grasp["device"].check("cuda:1x") is not None


def test_the_former_name_of_the_guidance_weight_is_still_read() -> None:
    grasp = spec_table(GRASP_PROPOSAL_PARAMETERS)
    former = grasp["penetration_weight"]
    assert former.renamed_to == "penetration_guidance_weight" and math.isnan(former.default)
    assert former.check(math.nan) is None and former.check(-1.0) is not None and former.check(2.0) is None
    values = {"penetration_guidance_weight": 4.0, "penetration_weight": math.nan}
    assert current_value(grasp, "penetration_guidance_weight", values.__getitem__) == 4.0
    values["penetration_weight"] = 0.0  # an older parameter file
    assert current_value(grasp, "penetration_guidance_weight", values.__getitem__) == 0.0
    assert current_value(grasp, "cfg_weight", {"cfg_weight": 0.1}.__getitem__) == 0.1


def test_a_value_of_the_wrong_type_is_refused_with_what_to_write() -> None:
    grasp = spec_table(GRASP_PROPOSAL_PARAMETERS)
    assert grasp["num_grasps"].check("many") == "num_grasps must be an integer in [1, 512], got the string 'many'"
    assert (
        grasp["backend"].check("warp") == "backend must be one of torch, cuda-graph, onnxruntime, tensorrt, got 'warp'"
    )
    assert grasp["autostart"].check("yes") is not None and "true or false" in grasp["autostart"].check("yes")
    # ROS keeps an integer an integer: a float parameter given 0 must be written 0.0.
    assert grasp["voxel_size"].check(0) is None
    assert grasp["voxel_size"].type_refusal(0).endswith("got the integer 0; write 0.0")


def test_device_and_backend_are_checked_against_the_machine() -> None:
    assert device_problem("cpu", "torch", 0) is None and device_problem("auto", "tensorrt", 1) is None
    assert device_problem("cuda:1", "torch", 2) is None
    assert "set device:=cpu" in str(device_problem("cuda", "torch", 0))
    assert "CUDA device 0 only" in str(device_problem("cuda:1", "torch", 1))
    for backend in ("tensorrt", "cuda-graph"):
        for device in ("cpu", "auto"):
            problem = device_problem(device, backend, 0)
            assert problem is not None and problem.startswith(f"backend '{backend}'") and "backend:=torch" in problem


def test_help_table_lists_every_parameter_in_aligned_columns() -> None:
    lines = text_table(HAND_PRIOR_PARAMETERS).splitlines()
    assert len(lines) == 1 + len(HAND_PRIOR_PARAMETERS)
    start = lines[0].index("description")
    for line, spec in zip(lines[1:], HAND_PRIOR_PARAMETERS, strict=True):
        assert line.split()[0] == spec.name and line[start:] == spec.description
        assert ("fixed" in line[:start]) == spec.read_only


def test_a_robot_command_carries_the_models_joints_and_its_wrist_pose() -> None:
    """A retargeted right hand and a left hand never seen -> RobotHandCommand: names and positions from the
    commands, the wrist pose's quaternion giving back its matrix; the unseen hand not valid, error NaN."""
    right, _ = load_hand_pair("procedural")
    params = HandParams(
        0.2 * torch.randn(1, 45, generator=torch.Generator().manual_seed(0)),
        torch.zeros(1, 10),
        torch.eye(3)[None],
        torch.tensor([[0.1, 0.2, 0.5]]),
    )
    keypoints = HandLayer(right)(params).keypoints.double().numpy()
    hands = Retargeter().retarget(None, keypoints)
    header = Header(frame_id="tracker")
    msg = robot_command_to_message(hands.right, 0, HandState.RIGHT, "shadow", header)
    assert msg.robot == "shadow" and msg.side == HandState.RIGHT and msg.valid
    assert list(msg.joint_state.name) == list(hands.right.joint_names) and msg.joint_state.header.frame_id == "tracker"
    np.testing.assert_allclose(msg.joint_state.position, hands.right.joint_positions[0])
    q = msg.wrist_pose.orientation
    rotation = quaternion_to_matrix(torch.tensor([[q.w, q.x, q.y, q.z]], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(rotation, hands.right.wrist_pose[0, :3, :3], atol=1e-9)
    p = msg.wrist_pose.position
    np.testing.assert_allclose([p.x, p.y, p.z], hands.right.wrist_pose[0, :3, 3])
    assert 0 <= msg.fingertip_error_m < 0.02
    unseen = robot_command_to_message(hands.left, 0, HandState.LEFT, "shadow", header)
    assert not unseen.valid and math.isnan(unseen.fingertip_error_m) and unseen.wrist_pose.orientation.w == 1.0
