"""The launch files in the repository's launch/, run by the real ROS 2 launch system.

Each file is loaded by ``launch.LaunchService`` in this process (the test's checks run in a thread
beside it; ``ros2 launch`` itself runs one LaunchService the same way), and teleop.launch.xml
also through the ``ros2 launch`` command. Every node must reach the lifecycle state ``active``
with the launch arguments applied: its namespace, its remapped topics (seen in the ROS graph) and
its parameters, typed as launch types them (``num_grasps:=2`` arrives as an integer); its topics
must flow; SIGINT (``LaunchService.shutdown``, or Ctrl-C to ``ros2 launch``) must end every node
with exit code 0. Bad launch arguments must end the launch with a non-zero exit code.

Needs the launch packages (launch, launch_xml, launch_ros, ros2launch), which a ROS 2 install
has; with the pip-wheel ROS 2 of ``make ros`` they come from ``../shared/vendor/ros2-launch``
(``.ci/run`` installs them). Without them these tests skip.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_LOGGER_CLASS = logging.getLoggerClass()
launch = pytest.importorskip(
    "launch",
    reason="the ROS 2 launch system is not installed: after make ros, run "
    "bash ../shared/vendor/ros2-launch/install.sh .venv/bin/python ros2_ws (as .ci/run does)",
)
pytest.importorskip("launch_ros", reason="launch_ros is not installed (see ../shared/vendor/ros2-launch/README.md)")

from interhandgen_msgs.msg import BimanualGraspArray, TwoHandState  # noqa: E402
from launch.actions import IncludeLaunchDescription, RegisterEventHandler  # noqa: E402
from launch.event_handlers import OnProcessExit  # noqa: E402
from launch.launch_description_sources import AnyLaunchDescriptionSource  # noqa: E402
from lifecycle_msgs.srv import GetState  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.parameter import parameter_value_to_python  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ENV_SH, REPO, spin_until  # noqa: E402
from test_grasp_proposal_node import object_cloud  # noqa: E402
from test_hand_prior_node import sequence, state  # noqa: E402

# Importing launch makes every logger created afterwards a non-propagating LaunchLogger
# (launch.logging.reset), which would hide later tests' records from caplog: only the launch
# runs below get launch's logger class.
logging.setLoggerClass(_LOGGER_CLASS)

SOURCE = REPO / "launch"
INSTALLED = REPO / "ros2_ws" / "install" / "interhandgen_ros" / "share" / "interhandgen_ros" / "launch"
# Loading torch and a model in each node takes 5 s on an idle 2-core machine, a minute on a busy one.
START_S = 240.0
WORK_S = 120.0


def test_launch_files_are_installed_from_the_top_level_folder() -> None:
    sources = sorted(p.name for p in SOURCE.glob("*.launch.*"))
    assert sources == sorted(p.name for p in INSTALLED.glob("*.launch.*")), "rebuild with make ros"
    assert "teleop.launch.xml" in sources and "exit_on_node_failure.launch.py" in sources
    for name in sources:
        assert (INSTALLED / name).read_bytes() == (SOURCE / name).read_bytes(), f"{name} differs: make ros"
    # One copy: none left inside the ROS package's source folder.
    assert not list((REPO / "ros2_ws" / "src" / "interhandgen_ros").glob("**/*.launch.*"))


# ------------------------------------------------------------------ talking to a running node


def call(ros: Any, client: Any, request: Any, timeout: float) -> Any:
    assert client.wait_for_service(timeout_sec=timeout), f"no service {client.srv_name}"
    future = client.call_async(request)
    assert spin_until(ros, future.done, timeout), f"{client.srv_name} did not answer"
    return future.result()


def wait_active(ros: Any, node: str, stopped: Callable[[], bool]) -> None:
    """Ask NODE/get_state (lifecycle_msgs/GetState) until the node is active. A node answers only
    between its lifecycle transitions: while it loads its model (configure) the request waits."""
    client = ros.create_client(GetState, f"{node}/get_state")
    end = time.monotonic() + START_S
    label = "(no answer)"
    try:
        while time.monotonic() < end and not stopped():
            if not client.wait_for_service(timeout_sec=1.0):
                continue
            future = client.call_async(GetState.Request())
            spin_until(ros, lambda f=future: f.done() or stopped(), end - time.monotonic())
            if future.done():
                label = future.result().current_state.label
                if label == "active":
                    return
                spin_until(ros, lambda: False, 0.5)
        raise AssertionError(f"{node} did not reach active (last state {label})")
    finally:
        ros.destroy_client(client)


def parameters(ros: Any, node: str, names: list[str]) -> dict[str, Any]:
    client = ros.create_client(GetParameters, f"{node}/get_parameters")
    try:
        values = call(ros, client, GetParameters.Request(names=names), 30.0).values
    finally:
        ros.destroy_client(client)
    return {name: parameter_value_to_python(value) for name, value in zip(names, values, strict=True)}


def endpoints(ros: Any, topic: str, kind: str) -> set[str]:
    """Fully qualified names of the nodes publishing ("pub") or subscribing ("sub") TOPIC."""
    infos = (ros.get_publishers_info_by_topic if kind == "pub" else ros.get_subscriptions_info_by_topic)(topic)
    return {f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos}


def assert_remapped(ros: Any, node: str, kind: str, topic: str, default: str) -> None:
    """NODE uses TOPIC (the launch argument's), not its default name, in the ROS graph."""
    spin_until(ros, lambda: node in endpoints(ros, topic, kind), 30.0)
    assert node in endpoints(ros, topic, kind), f"{node} not on {topic}: {ros.get_topic_names_and_types()}"
    assert node not in endpoints(ros, default, kind), f"{node} still on {default}"


def refined_states_flow(ros: Any, noisy: str, refined: str) -> None:
    received: list[TwoHandState] = []
    subscription = ros.create_subscription(TwoHandState, refined, received.append, 10)
    publisher = ros.create_publisher(TwoHandState, noisy, 10)
    seq = sequence()
    frames = [(seq.observed.left_keypoints[i].numpy(), seq.observed.right_keypoints[i].numpy()) for i in range(3)]
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 30.0)
    for i, (left, right) in enumerate(frames * 5):
        publisher.publish(state(left, right, i))
        if spin_until(ros, lambda: bool(received), 2.0):
            break
    assert spin_until(ros, lambda: bool(received), WORK_S), f"nothing on {refined}"
    ros.destroy_subscription(subscription)
    ros.destroy_publisher(publisher)


def proposals_flow(ros: Any, cloud_topic: str, proposals_topic: str) -> BimanualGraspArray:
    received: list[BimanualGraspArray] = []
    subscription = ros.create_subscription(BimanualGraspArray, proposals_topic, received.append, 10)
    publisher = ros.create_publisher(PointCloud2, cloud_topic, qos_profile_sensor_data)
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 30.0)
    publisher.publish(object_cloud())
    assert spin_until(ros, lambda: bool(received), WORK_S), f"nothing on {proposals_topic}"
    ros.destroy_subscription(subscription)
    ros.destroy_publisher(publisher)
    return received[0]


# ------------------------------------------------------------------ launch.LaunchService in this process


def run_launch_service(name: str, arguments: dict[str, str], check: Callable[[Callable[[], bool]], None]) -> dict:
    """Run launch/NAME with ARGUMENTS in a LaunchService (this thread: it must be the main one) while
    check(stopped) runs in a thread; check's end shuts the launch down (SIGINT to every node).
    Returns the launch's return code and each process's exit code."""
    service = launch.LaunchService()
    exits: dict[str, int] = {}

    def record_exit(event: Any, context: Any) -> None:
        exits[event.action.name] = event.returncode

    service.include_launch_description(
        launch.LaunchDescription(
            [
                RegisterEventHandler(OnProcessExit(on_exit=record_exit)),
                IncludeLaunchDescription(
                    AnyLaunchDescriptionSource(str(INSTALLED / name)), launch_arguments=list(arguments.items())
                ),
            ]
        )
    )
    finished = threading.Event()
    failure: list[BaseException] = []

    def checker() -> None:
        try:
            check(finished.is_set)
        except BaseException as error:  # re-raised in the test's thread below
            failure.append(error)
        finally:
            service.shutdown()

    thread = threading.Thread(target=checker, daemon=True)
    thread.start()
    logging.setLoggerClass(launch.logging.LaunchLogger)
    try:
        code = service.run()
    finally:
        logging.setLoggerClass(_LOGGER_CLASS)
        finished.set()
    thread.join(timeout=60.0)
    if failure:
        raise failure[0]
    return {"return_code": code, "exits": exits}


def test_hand_prior_launch_file(ros) -> None:  # type: ignore[no-untyped-def]
    node = "/lt_prior/hand_prior_node"
    arguments = {
        "namespace": "lt_prior",
        "noisy_topic": "tracker/hands",
        "refined_topic": "robot/hands",
        "device": "cpu",
        "robot_hands": "true",
    }

    def check(stopped: Callable[[], bool]) -> None:
        wait_active(ros, node, stopped)
        assert parameters(ros, node, ["input_type", "device", "backend", "robot_hands", "robot"]) == {
            "input_type": "two_hand_state",
            "device": "cpu",
            "backend": "torch",
            "robot_hands": True,
            "robot": "shadow",
        }
        assert_remapped(ros, node, "sub", "/lt_prior/tracker/hands", "/lt_prior/hands/noisy")
        assert_remapped(ros, node, "pub", "/lt_prior/robot/hands", "/lt_prior/hands/refined")
        refined_states_flow(ros, "/lt_prior/tracker/hands", "/lt_prior/robot/hands")

    result = run_launch_service("hand_prior.launch.xml", arguments, check)
    assert result["return_code"] == 0
    assert [code for name, code in result["exits"].items() if name.startswith("hand_prior_node")] == [0]


def test_bimanual_grasps_launch_file(ros) -> None:  # type: ignore[no-untyped-def]
    node = "/lt_grasps/grasp_proposal_node"
    arguments = {"namespace": "lt_grasps", "cloud_topic": "camera/object", "num_grasps": "2"}

    def check(stopped: Callable[[], bool]) -> None:
        wait_active(ros, node, stopped)
        # Launch types the value: the node must get the integer 2, not the string "2".
        assert parameters(ros, node, ["num_grasps", "device", "model_file_path"]) == {
            "num_grasps": 2,
            "device": "cpu",
            "model_file_path": "",
        }
        assert_remapped(ros, node, "sub", "/lt_grasps/camera/object", "/lt_grasps/object_points")
        proposals = proposals_flow(ros, "/lt_grasps/camera/object", "/lt_grasps/grasp_proposals")
        assert len(proposals.grasps) == 2

    result = run_launch_service("bimanual_grasps.launch.xml", arguments, check)
    assert result["return_code"] == 0
    assert [code for name, code in result["exits"].items() if name.startswith("grasp_proposal_node")] == [0]


# ------------------------------------------------------------------ the ros2 launch command


class RosLaunch:
    """``ros2 launch interhandgen_ros FILE ARGS`` as a user types it, output collected."""

    def __init__(self, name: str, arguments: dict[str, str]) -> None:
        command = [str(ENV_SH), "ros2", "launch", "interhandgen_ros", name]
        command += [f"{key}:={value}" for key, value in arguments.items()]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"ros2 launch still running after {timeout:.0f} s:\n{self.output()}") from None
        self._reader.join(timeout=10.0)
        return code


def test_teleop_through_ros2_launch_and_ctrl_c(ros) -> None:  # type: ignore[no-untyped-def]
    run = RosLaunch(
        "teleop.launch.xml",
        {"namespace": "lt_teleop", "noisy_topic": "tracker/hands", "cloud_topic": "camera/object"},
    )
    try:
        for node in ("/lt_teleop/hand_prior_node", "/lt_teleop/grasp_proposal_node"):
            wait_active(ros, node, lambda: run.process.poll() is not None)
        assert_remapped(ros, "/lt_teleop/hand_prior_node", "sub", "/lt_teleop/tracker/hands", "/lt_teleop/hands/noisy")
        assert_remapped(
            ros, "/lt_teleop/grasp_proposal_node", "sub", "/lt_teleop/camera/object", "/lt_teleop/object_points"
        )
        refined_states_flow(ros, "/lt_teleop/tracker/hands", "/lt_teleop/hands/refined")
    except AssertionError as error:
        run.process.send_signal(signal.SIGINT)
        run.wait(60.0)
        raise AssertionError(f"{error}\n{run.output()}") from None
    run.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert run.wait(60.0) == 0, run.output()
    finished = [line for line in run.lines if "process has finished cleanly" in line]
    assert len(finished) == 2, run.output()


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"num_grasps": "many"}, "num_grasps"),
        ({"model_file_path": "/nonexistent/object_prior.safetensors"}, "model_file_path"),
        ({"backend": "warp"}, "backend"),
    ],
    ids=["wrong-type", "missing-model", "unknown-backend"],
)
def test_bad_launch_argument_ends_the_launch_with_an_error(arguments: dict[str, str], parameter: str) -> None:
    run = RosLaunch("bimanual_grasps.launch.xml", {"namespace": "lt_bad", **arguments})
    code = run.wait(START_S)
    output = run.output()
    assert code != 0, output
    # The node says which parameter, in one line, without a traceback.
    node_lines = [line for line in run.lines if line.startswith("[grasp_proposal_node-1]")]
    errors = [line for line in node_lines if parameter in line and ("error" in line.lower() or "ERROR" in line)]
    assert errors, output
    assert not any("Traceback" in line for line in node_lines), output
    assert "exited with code" in output, output


@pytest.mark.parametrize("name", ["teleop.launch.xml", "bimanual_grasps.launch.xml", "hand_prior.launch.xml"])
def test_readme_lists_every_launch_argument(name: str) -> None:
    """The README's launch table names each argument that launch's own XML parser declares."""
    source = AnyLaunchDescriptionSource(str(SOURCE / name))
    declared = source.get_launch_description(launch.LaunchContext()).get_launch_arguments()
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith(f"| `{name}`"))
    assert declared and all(f"`{argument.name}`" in row for argument in declared), (row, [a.name for a in declared])
