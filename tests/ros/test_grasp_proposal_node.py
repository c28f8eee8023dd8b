"""grasp_proposal_node over real DDS: proposals for a cloud, survival of bad clouds, parameters, the action."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from interhandgen_msgs.action import GenerateBimanualGrasps
from interhandgen_msgs.msg import BimanualGraspArray
from interhandgen_ros.conversions import points_to_cloud
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.action import ActionClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from interhandgen_core.data.procedural_objects import generate_objects

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import diagnostic_counts, publish_until, spin_until

FAST = {"num_grasps": 4, "ddim_steps": 4, "markers_top_k": 2, "diagnostics_period_s": 0.5}


def object_cloud(frame: str = "camera", stamp_sec: int = 7) -> PointCloud2:
    points = generate_objects(1, seed=3).sample_surface(2000, seed=0)[0][0]
    header = Header(frame_id=frame)
    header.stamp.sec = stamp_sec
    return points_to_cloud(points, header)


def collect(ros, msg_type, topic, qos=10):  # type: ignore[no-untyped-def]
    got: list = []
    ros.create_subscription(msg_type, topic, got.append, qos)
    return got


# Each test feeds its node on a topic of its own: a node of an earlier test can linger in the ROS graph on a
# shared topic and count as a subscriber before this test's node has subscribed, and the input would be lost.
def wait_for_subscriber(ros, publisher, node=None, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Until the node subscribed and, given ``node``, said it is active (a message before that is not taken)."""
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, timeout), "the node never subscribed"
    if node is not None:
        assert spin_until(ros, lambda: "]: active" in node.output(), timeout), node.output()


def test_proposals_arrive_ranked_in_the_cloud_frame(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node("grasp_proposal_node", FAST, {"object_points": "cam/points"})
    proposals = collect(ros, BimanualGraspArray, "grasp_proposals")
    markers = collect(ros, MarkerArray, "grasp_markers", 1)
    publisher = ros.create_publisher(PointCloud2, "cam/points", qos_profile_sensor_data)
    wait_for_subscriber(ros, publisher, node)
    publisher.publish(object_cloud("camera_link", 42))
    assert spin_until(ros, lambda: bool(proposals) and bool(markers), 60), node.output()
    msg = proposals[0]
    assert msg.header.frame_id == "camera_link" and msg.header.stamp.sec == 42
    assert len(msg.grasps) == 4
    scores = [g.score for g in msg.grasps]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1
    grasp = msg.grasps[0]
    assert (grasp.left.side, grasp.right.side) == (0, 1) and len(grasp.left.keypoints) == 21
    assert all(np.isfinite([p.x for p in grasp.right.keypoints]))
    meshes = [m for m in markers[0].markers if m.type == Marker.TRIANGLE_LIST]
    assert len(meshes) == 4 and all(len(m.points) % 3 == 0 and m.header.frame_id == "camera_link" for m in meshes)
    assert node.stop(signal.SIGTERM) == 0


def test_rank_physics_orders_the_same_grasps_by_pushes_held(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    """The same cloud and seed, ranked by score and then (rank set while running) by physics on the cloud's solid:
    the same grasps come back, each physics score being (pushes held + its score) / 7."""
    # Topics of its own (an earlier test's node can linger in the graph on the shared ones); the cloud is
    # sent again until an answer with its stamp comes (best-effort QoS may drop the first one).
    node = start_node(
        "grasp_proposal_node", FAST, {"object_points": "rank_test/points", "grasp_proposals": "rank_test/proposals"}
    )
    proposals = collect(ros, BimanualGraspArray, "rank_test/proposals")
    publisher = ros.create_publisher(PointCloud2, "rank_test/points", qos_profile_sensor_data)
    setter = ros.create_client(SetParameters, "grasp_proposal_node/set_parameters")
    wait_for_subscriber(ros, publisher, node)

    def answer(stamp: int) -> BimanualGraspArray:
        for _ in range(12):  # a few seconds each
            publisher.publish(object_cloud("camera_link", stamp))
            if spin_until(ros, lambda: any(p.header.stamp.sec == stamp for p in proposals), 8):
                return next(p for p in proposals if p.header.stamp.sec == stamp)
        raise AssertionError(node.output())

    first = answer(1)
    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="physics")
    future = setter.call_async(SetParameters.Request(parameters=[Parameter(name="rank", value=value)]))
    assert spin_until(ros, future.done, 10) and future.result().results[0].successful
    second = answer(2)

    def by_wrist(msg: BimanualGraspArray) -> dict[tuple[float, ...], float]:
        return {tuple(np.round([g.left.keypoints[0].x, g.right.keypoints[0].x], 5)): g.score for g in msg.grasps}

    plain, physics = by_wrist(first), by_wrist(second)
    assert plain.keys() == physics.keys()
    for key, score in plain.items():
        held = 7 * physics[key] - score
        assert abs(held - round(held)) < 1e-4 and 0 <= round(held) <= 6, (held, score)
    scores = [g.score for g in second.grasps]
    assert scores == sorted(scores, reverse=True)
    assert node.stop() == 0


def test_a_cloud_seen_from_one_side_gets_its_back_drawn_as_inferred(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    """One depth view of an object: proposals come, and the markers carry the inferred back as green points in the
    cloud's frame; with one_sided_completion set to off while running, no inferred points; with cloud_viewpoint set
    to the camera's position, inferred points again, and a viewpoint that is not three numbers refused."""
    from interhandgen_core.pipelines.sensor_cloud import corrupt_like_sensor

    node = start_node(
        "grasp_proposal_node", FAST, {"object_points": "side_test/points", "grasp_markers": "side_test/markers"}
    )
    markers = collect(ros, MarkerArray, "side_test/markers", 1)
    publisher = ros.create_publisher(PointCloud2, "side_test/points", qos_profile_sensor_data)
    setter = ros.create_client(SetParameters, "grasp_proposal_node/set_parameters")
    wait_for_subscriber(ros, publisher, node)
    points, normals = generate_objects(1, seed=5).sample_surface(4096, seed=5)
    seen = corrupt_like_sensor(points[0].numpy(), normals[0].numpy(), seed=3)
    view = seen.points

    def inferred_after(stamp: int) -> list[Marker]:
        header = Header(frame_id="camera_depth_optical_frame")
        header.stamp.sec = stamp
        for _ in range(12):  # best-effort QoS may drop a cloud: sent again until its markers come
            publisher.publish(points_to_cloud(view, header))
            if spin_until(ros, lambda: any(m.markers[-1].header.stamp.sec == stamp for m in markers), 8):
                got = next(m for m in markers if m.markers[-1].header.stamp.sec == stamp)
                return [m for m in got.markers if m.ns == "inferred_object"]
        raise AssertionError(node.output())

    inferred = inferred_after(1)
    assert len(inferred) == 1 and inferred[0].type == Marker.POINTS and len(inferred[0].points) > 100
    assert inferred[0].header.frame_id == "camera_depth_optical_frame"
    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="off")
    future = setter.call_async(SetParameters.Request(parameters=[Parameter(name="one_sided_completion", value=value)]))
    assert spin_until(ros, future.done, 10) and future.result().results[0].successful
    assert inferred_after(2) == []

    def set_string(name: str, text: str) -> bool:
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=text)
        future = setter.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
        assert spin_until(ros, future.done, 10)
        return bool(future.result().results[0].successful)

    # The camera's position in the cloud's frame: the normals' signs are checked against it, and the back inferred.
    assert set_string("one_sided_completion", "symmetry")
    assert set_string("cloud_viewpoint", ",".join(f"{x:.6f}" for x in seen.camera))
    assert len(inferred_after(3)[0].points) > 100
    assert not set_string("cloud_viewpoint", "1,2")  # not three numbers: refused, the former value kept
    assert node.stop() == 0


def bad_clouds() -> dict[str, PointCloud2]:
    good = object_cloud()
    empty = points_to_cloud(np.zeros((0, 3)), Header(frame_id="camera"))
    nan = points_to_cloud(np.full((500, 3), np.nan), Header(frame_id="camera"))
    inf = points_to_cloud(np.full((500, 3), np.inf), Header(frame_id="camera"))
    no_z = object_cloud()
    no_z.fields = [f for f in no_z.fields if f.name != "z"]
    ints = object_cloud()
    for field in ints.fields:
        field.datatype = PointField.INT32
    short = object_cloud()
    short.data = bytes(short.data)[:100]
    wrong_frame = object_cloud("world")
    return {
        "empty": empty, "nan": nan, "inf": inf, "missing z": no_z, "int fields": ints, "truncated data": short,
        "wrong frame": wrong_frame, "good": good,
    }  # fmt: skip


def test_bad_clouds_are_dropped_and_counted(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node(
        "grasp_proposal_node",
        {**FAST, "expected_frame_id": "camera", "input_qos": "DEFAULT"},
        {"object_points": "bad_clouds_test/points"},
    )
    proposals = collect(ros, BimanualGraspArray, "grasp_proposals")
    diagnostics = collect(ros, DiagnosticArray, "diagnostics")
    publisher = ros.create_publisher(PointCloud2, "bad_clouds_test/points", 10)
    wait_for_subscriber(ros, publisher, node)

    def counts() -> dict[str, str]:
        return diagnostic_counts(diagnostics)

    # One at a time, so that none supersedes another; a cloud is sent again only when the node's diagnostics
    # say it did not receive it (a reader that has just matched can miss the first sample even when reliable).
    for number, cloud in enumerate(bad_clouds().values(), start=1):
        publish_until(ros, publisher, cloud, lambda n=number: int(counts().get("received", "0")) >= n, 3.0)
        assert counts().get("received") == str(number), (number, counts(), node.output())
    assert spin_until(ros, lambda: len(proposals) == 1, 60), node.output()
    assert spin_until(ros, lambda: counts().get("processed") == "1" and counts().get("dropped") == "7", 10), counts()
    assert node.process.poll() is None  # alive
    log = node.output()
    assert "dropped an input" in log
    assert node.stop() == 0


def test_a_cloud_in_millimetres_is_dropped_and_counted(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node(
        "grasp_proposal_node", {**FAST, "input_qos": "DEFAULT"}, {"object_points": "millimetre_test/points"}
    )
    proposals = collect(ros, BimanualGraspArray, "grasp_proposals")
    diagnostics = collect(ros, DiagnosticArray, "diagnostics")
    publisher = ros.create_publisher(PointCloud2, "millimetre_test/points", 10)
    wait_for_subscriber(ros, publisher, node)
    metres = generate_objects(1, seed=3).sample_surface(2000, seed=0)[0][0].numpy()
    millimetres = points_to_cloud(1000.0 * metres, Header(frame_id="camera"))
    millimetres.header.stamp.sec = 1

    def counts() -> dict[str, str]:
        return diagnostic_counts(diagnostics)

    # Sent again until the node counts it received: a reader that has just matched may miss the first sample.
    publish_until(ros, publisher, millimetres, lambda: counts().get("received") == "1", 3, 10)
    # the same object in metres: answered (sent again only if it was lost)
    assert publish_until(ros, publisher, object_cloud("camera", 2), lambda: bool(proposals), 10, 6), node.output()
    assert spin_until(ros, lambda: counts().get("processed") == "1", 10), counts()
    assert counts().get("dropped: cloud in millimetres") == "1" and counts()["dropped"] == "1", counts()
    assert [p.header.stamp.sec for p in proposals] == [2]  # nothing for the millimetre cloud
    warnings = [line for line in node.output().splitlines() if "millimetres" in line]
    assert len(warnings) == 1 and "WARN" in warnings[0] and "dropped an input" in warnings[0], node.output()
    assert node.stop() == 0


def test_a_million_points_and_a_100_hz_flood(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node("grasp_proposal_node", {**FAST, "input_qos": "DEFAULT"}, {"object_points": "flood_test/points"})
    proposals = collect(ros, BimanualGraspArray, "grasp_proposals")
    diagnostics = collect(ros, DiagnosticArray, "diagnostics")
    publisher = ros.create_publisher(PointCloud2, "flood_test/points", 10)
    wait_for_subscriber(ros, publisher, node)
    # A million points (12 MB): subsampled to max_points, not refused.
    surface = generate_objects(1, seed=3).sample_surface(20_000, seed=0)[0][0].numpy()
    points = np.repeat(surface, 50, axis=0) + np.random.default_rng(0).normal(0.0, 5e-4, (1_000_000, 3))
    header = Header(frame_id="camera")
    header.stamp.sec = 1
    million = points_to_cloud(points, header)
    assert publish_until(ros, publisher, million, lambda: any(p.header.stamp.sec == 1 for p in proposals), 40, 3)
    # 200 clouds at 100 Hz: no backlog; the newest is processed, the others are dropped and counted.
    cloud = object_cloud()
    for i in range(200):
        cloud.header.stamp.sec = 1000 + i  # serialised on publish: one message object serves
        publisher.publish(cloud)
        spin_until(ros, lambda: False, 0.01)
    assert spin_until(ros, lambda: any(p.header.stamp.sec == 1199 for p in proposals), 60), node.output()

    def counts() -> dict[str, str]:
        return diagnostic_counts(diagnostics)

    def settled() -> bool:
        c = counts()
        return bool(c) and int(c["received"]) == int(c["processed"]) + int(c["dropped"])

    assert spin_until(ros, settled, 10), counts()
    c = counts()
    received, processed = int(c["received"]), int(c["processed"])
    superseded = int(c["dropped: superseded by a newer message before it was processed"])
    # With a queue depth of 1, DDS itself may discard part of a flood before the node sees it.
    assert 1 <= received <= 201 and processed == len(proposals) < 50 and superseded == received - processed, c
    assert node.process.poll() is None
    assert node.stop() == 0


def test_invalid_parameter_is_refused_and_the_old_value_kept(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node("grasp_proposal_node", FAST)
    setter = ros.create_client(SetParameters, "grasp_proposal_node/set_parameters")
    getter = ros.create_client(GetParameters, "grasp_proposal_node/get_parameters")
    assert setter.wait_for_service(timeout_sec=60), node.output()

    def set_value(name: str, value: ParameterValue) -> tuple[bool, str]:
        future = setter.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
        assert spin_until(ros, future.done, 10)
        result = future.result().results[0]
        return result.successful, result.reason

    ok, reason = set_value("num_grasps", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=0))
    assert not ok
    ok, reason = set_value("voxel_size", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float("nan")))
    assert not ok and "nan" in reason
    ok, _ = set_value("backend", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="tensorrt"))
    assert not ok  # read-only while running
    ok, _ = set_value("num_grasps", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=6))
    assert ok
    future = getter.call_async(GetParameters.Request(names=["num_grasps", "voxel_size"]))
    assert spin_until(ros, future.done, 10)
    values = future.result().values
    assert values[0].integer_value == 6 and np.isfinite(values[1].double_value)
    assert node.stop() == 0


def test_action_returns_grasps_with_feedback(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    node = start_node("grasp_proposal_node", FAST)
    client = ActionClient(ros, GenerateBimanualGrasps, "generate_grasps")
    assert client.wait_for_server(timeout_sec=60), node.output()
    feedback: list = []
    goal = GenerateBimanualGrasps.Goal(cloud=object_cloud("table"), num_grasps=3, seed=5)
    sent = client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback.stage))
    assert spin_until(ros, sent.done, 10) and sent.result().accepted
    result_future = sent.result().get_result_async()
    assert spin_until(ros, result_future.done, 60), node.output()
    result = result_future.result().result
    assert len(result.grasps.grasps) == 3 and result.grasps.header.frame_id == "table"
    assert "sampling" in feedback
    bad = GenerateBimanualGrasps.Goal(cloud=points_to_cloud(np.zeros((0, 3)), Header(frame_id="table")), num_grasps=3)
    sent = client.send_goal_async(bad)
    assert spin_until(ros, sent.done, 10)
    result_future = sent.result().get_result_async()
    assert spin_until(ros, result_future.done, 30)
    assert "empty cloud" in result_future.result().result.message
    client.destroy()
    time.sleep(0.1)
    assert node.stop() == 0


def goal_result(ros, client, goal, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Send ``goal`` and wait for its end: (status, result)."""
    sent = client.send_goal_async(goal)
    assert spin_until(ros, sent.done, 10) and sent.result().accepted
    result = sent.result().get_result_async()
    assert spin_until(ros, result.done, timeout)
    return result.result().status, result.result().result


def test_goals_outside_the_num_grasps_range_are_refused_at_once(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    """num_grasps of a goal is checked against the parameter's range: 0 (once "the node's default") and 100,000
    (which ran for minutes) end at once, aborted, with the reason; a goal in range still gets its grasps."""
    node = start_node("grasp_proposal_node", FAST, {"generate_grasps": "range_test/generate_grasps"})
    client = ActionClient(ros, GenerateBimanualGrasps, "range_test/generate_grasps")
    assert client.wait_for_server(timeout_sec=60), node.output()
    for num, why in (
        (0, "must be >= 1, got 0"),
        (100_000, "must be <= 512, got 100000"),
        (513, "must be <= 512, got 513"),
    ):
        start = time.monotonic()
        status, result = goal_result(ros, client, GenerateBimanualGrasps.Goal(cloud=object_cloud(), num_grasps=num))
        assert status == GoalStatus.STATUS_ABORTED and time.monotonic() - start < 5, (num, status)
        assert f"num_grasps {why}" in result.message and "[1, 512]" in result.message, result.message
        assert not result.grasps.grasps
    status, result = goal_result(ros, client, GenerateBimanualGrasps.Goal(cloud=object_cloud(), num_grasps=2))
    assert status == GoalStatus.STATUS_SUCCEEDED and len(result.grasps.grasps) == 2, result.message
    client.destroy()
    assert node.stop() == 0


def test_a_long_goal_cancels_within_a_second_and_the_node_says_busy(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    """512 grasps of 100 DDIM steps (minutes on a CPU): cancelled while sampling, the goal ends canceled within
    a second or two; meanwhile a cloud on the topic is dropped and counted as busy, and the diagnostics say
    WARN "busy: goal running N s"; afterwards the node answers clouds again."""
    node = start_node(
        "grasp_proposal_node",
        {**FAST, "ddim_steps": 100, "input_qos": "DEFAULT"},
        {
            "object_points": "cancel_test/points",
            "grasp_proposals": "cancel_test/proposals",
            "diagnostics": "cancel_test/diagnostics",
            "generate_grasps": "cancel_test/generate_grasps",
        },
    )
    proposals = collect(ros, BimanualGraspArray, "cancel_test/proposals")
    diagnostics = collect(ros, DiagnosticArray, "cancel_test/diagnostics")
    publisher = ros.create_publisher(PointCloud2, "cancel_test/points", 10)
    wait_for_subscriber(ros, publisher, node, timeout=180)
    client = ActionClient(ros, GenerateBimanualGrasps, "cancel_test/generate_grasps")
    assert client.wait_for_server(timeout_sec=60), node.output()
    stages: list[str] = []
    goal = GenerateBimanualGrasps.Goal(cloud=object_cloud("table"), num_grasps=512, seed=1)
    sent = client.send_goal_async(goal, feedback_callback=lambda f: stages.append(f.feedback.stage))
    assert spin_until(ros, lambda: "sampling" in stages, 30), node.output()

    def counts() -> dict[str, str]:
        return diagnostic_counts(diagnostics)

    publish_until(ros, publisher, object_cloud(), lambda: int(counts().get("received", "0")) >= 1, 3.0)
    assert spin_until(ros, lambda: counts().get("dropped: busy") == "1", 10), counts()
    assert spin_until(ros, lambda: diagnostics[-1].status[0].message.startswith("busy: goal running"), 5)
    assert diagnostics[-1].status[0].level == DiagnosticStatus.WARN and counts()["goal_running_s"] != "-"
    assert not proposals
    result = sent.result().get_result_async()
    assert not result.done()  # still sampling
    start = time.monotonic()
    sent.result().cancel_goal_async()
    assert spin_until(ros, result.done, 30), node.output()
    took = time.monotonic() - start
    assert result.result().status == GoalStatus.STATUS_CANCELED, result.result().result.message
    assert took < 2.0, f"the cancel took {took:.2f} s"
    # Idle again: a cloud is answered, and the diagnostics are no longer busy
    publish_until(ros, publisher, object_cloud(stamp_sec=8), lambda: bool(proposals), 60.0, attempts=2)
    assert proposals and proposals[-1].header.stamp.sec == 8, node.output()
    assert spin_until(ros, lambda: counts().get("goal_running_s") == "-", 5), counts()
    client.destroy()
    assert node.stop() == 0
