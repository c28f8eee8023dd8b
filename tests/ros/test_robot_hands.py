"""Robot hands over real DDS (issue 22): hand_prior_node's JointState per robot hand for every refined frame,
held while a hand is lost; grasp proposals in the robot hands' joints; a robot file that does not load."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from interhandgen_msgs.msg import BimanualGraspArray, RobotHandCommand, TwoHandState
from lifecycle_msgs.msg import State, Transition
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Header

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.retargeting.robot_hand import load_robot_hand

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import publish_in_lockstep, publish_until, spin_until
from test_hand_prior_node import FAST, FRAMES, sequence, state
from test_node_base import lifecycle

ROBOT = {"robot_hands": True, "robot": "shadow"}


def within_limits(positions: Any, lower: np.ndarray, upper: np.ndarray) -> bool:
    p = np.asarray(positions)
    return bool(np.isfinite(p).all() and (p >= lower - 1e-9).all() and (p <= upper + 1e-9).all())


def test_joint_states_follow_every_refined_frame_and_hold_while_a_hand_is_lost(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    remaps = {
        "hands/noisy": "robot_test/noisy",
        "hands/refined": "robot_test/refined",
        "robot_hands/left/joint_states": "robot_test/left/joint_states",
        "robot_hands/right/joint_states": "robot_test/right/joint_states",
        "robot_hands/right/command": "robot_test/right/command",
    }
    node = start_node("hand_prior_node", {**FAST, **ROBOT}, remaps)
    refined: list[TwoHandState] = []
    left: list[JointState] = []
    right: list[JointState] = []
    commands: list[RobotHandCommand] = []
    ros.create_subscription(TwoHandState, "robot_test/refined", refined.append, 100)
    ros.create_subscription(JointState, "robot_test/left/joint_states", left.append, 100)
    ros.create_subscription(JointState, "robot_test/right/joint_states", right.append, 100)
    ros.create_subscription(RobotHandCommand, "robot_test/right/command", commands.append, 100)
    publisher = ros.create_publisher(TwoHandState, "robot_test/noisy", 100)
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 60), node.output()
    assert spin_until(ros, lambda: "]: active" in node.output(), 60), node.output()
    seq = sequence()
    lk, rk = seq.observed.left_keypoints.numpy(), seq.observed.right_keypoints.numpy()
    lost = range(30, 36)  # the right hand missing from the input: NaN keypoints, confidence 0
    messages = [
        state(lk[i], np.full((21, 3), np.nan) if i in lost else rk[i], i, right_conf=0.0 if i in lost else 1.0)
        for i in range(FRAMES)
    ]
    assert publish_until(ros, publisher, messages[0], lambda: bool(right), 5, 4), node.output()
    unanswered = publish_in_lockstep(
        ros, publisher, messages[1:], lambda m: any(r.header.stamp == m.header.stamp for r in right[-3:])
    )
    assert not unanswered, node.output()
    spin_until(ros, lambda: len(left) == len(right) == len(refined), 5)

    hand = load_robot_hand("shadow")
    # One joint state per hand for every refined frame, stamped as it, in the model's joints, within limits.
    assert [m.header.stamp for m in right] == [m.header.stamp for m in refined]
    assert [m.header.stamp for m in left] == [m.header.stamp for m in refined]
    assert all(list(m.name) == list(hand.joint_names) for m in left + right)
    assert all(within_limits(m.position, hand.lower, hand.upper) for m in left + right)

    def frame(stamp: Any) -> int:
        return 30 * stamp.sec + round(stamp.nanosec * 30 / 1e9)

    # While the right hand is lost its command is held (valid false) and does not move.
    held = [m for m in commands if frame(m.header.stamp) in lost]
    assert held and not any(m.valid for m in held)
    before = [m for m in commands if frame(m.header.stamp) < lost.start][-1]
    for m in held:
        np.testing.assert_allclose(m.joint_state.position, before.joint_state.position, atol=0)
    after = [m for m in commands if frame(m.header.stamp) >= lost.stop + 2]
    assert after and all(m.valid and m.fingertip_error_m < 0.03 for m in after)
    moved = np.abs(np.subtract(after[-1].joint_state.position, before.joint_state.position)).max()
    assert moved > 1e-3  # the robot hand follows the human hand again
    assert node.stop() == 0


def test_a_robot_file_that_does_not_load_leaves_the_node_unconfigured_with_one_line(  # type: ignore[no-untyped-def]
    ros, start_node, tmp_path: Path
) -> None:
    """Driven by a lifecycle manager (no autostart): configure fails with one line naming the file, the node
    stays alive and unconfigured. (With autostart a failed configure exits 1: test_node_startup.py.)"""
    bad = tmp_path / "robot.yaml"
    bad.write_text("model: missing_hand.xml\nside: right\n")
    node = start_node("hand_prior_node", {**FAST, "autostart": False, "robot_hands": True, "robot": str(bad)})
    current, transition = lifecycle(ros, "hand_prior_node")
    assert not transition(Transition.TRANSITION_CONFIGURE)
    failures = [text for text in node.output().splitlines() if "configure failed" in text]
    assert len(failures) == 1 and str(bad) in failures[0], node.output()
    assert current() == State.PRIMARY_STATE_UNCONFIGURED and node.process.poll() is None
    assert node.stop() == 0


def test_grasp_proposals_carry_the_robot_hands_joints(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    params = {"num_grasps": 4, "ddim_steps": 4, "input_qos": "DEFAULT", **ROBOT}
    node = start_node(
        "grasp_proposal_node",
        params,
        {"object_points": "robot_test/points", "grasp_proposals": "robot_test/proposals"},
    )
    proposals: list[BimanualGraspArray] = []
    ros.create_subscription(BimanualGraspArray, "robot_test/proposals", proposals.append, 10)
    publisher = ros.create_publisher(PointCloud2, "robot_test/points", 10)
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 90), node.output()
    assert spin_until(ros, lambda: "]: active" in node.output(), 90), node.output()
    from interhandgen_ros.conversions import points_to_cloud

    points = generate_objects(1, seed=3).sample_surface(4000, seed=0)[0][0]
    cloud = points_to_cloud(np.asarray(points), Header(frame_id="camera"))
    assert publish_until(ros, publisher, cloud, lambda: bool(proposals), 60, 3), node.output()
    hand = load_robot_hand("shadow")
    grasps = proposals[-1].grasps
    assert len(grasps) == 4
    for grasp in grasps:
        for robot in (grasp.left_robot, grasp.right_robot):
            assert robot.robot == "shadow" and robot.valid and robot.header.frame_id == "camera"
            assert list(robot.joint_state.name) == list(hand.joint_names)
            assert within_limits(robot.joint_state.position, hand.lower, hand.upper)
            assert 0 <= robot.fingertip_error_m < 0.03
        # The robot's wrist sits near the human wrist it was retargeted from (the same frame).
        human = grasp.right.wrist_pose.position
        wrist = grasp.right_robot.wrist_pose.position
        assert np.linalg.norm([wrist.x - human.x, wrist.y - human.y, wrist.z - human.z]) < 0.1
    assert node.stop() == 0
