"""SIGINT and SIGTERM end each node with exit code 0 at any moment: while it imports, while it loads
and warms up its model, while it spins, in the middle of a long callback (an action's execute, a
cloud or a frame being processed), and when Ctrl-C reaches it twice (the terminal's and the
launch's). ros2 launch sends SIGTERM 5 s after its SIGINT: each stop must take less."""

from __future__ import annotations

import signal
import sys
import time
from importlib.metadata import distribution
from pathlib import Path

import pytest
from interhandgen_msgs.action import GenerateBimanualGrasps
from interhandgen_msgs.msg import TwoHandState
from rclpy.action import ActionClient
from sensor_msgs.msg import PointCloud2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import NodeProcess, spin_until
from test_grasp_proposal_node import FAST as GRASP_FAST
from test_grasp_proposal_node import collect, object_cloud
from test_hand_prior_node import FAST as HAND_FAST
from test_hand_prior_node import sequence, state

NODES = {"grasp_proposal_node": GRASP_FAST, "hand_prior_node": HAND_FAST}
STOP_LIMIT_S = 5.0  # ros2 launch's SIGTERM follows its SIGINT after 5 s
# The stop left a callback running (it no longer should: long work takes the node's cancel hook).
BUSY = "stopped while an input was being processed"


def wait_for_log(node: NodeProcess, text: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while text not in node.output():
        assert node.process.poll() is None, f"exited with {node.process.returncode} before {text!r}:\n{node.output()}"
        assert time.monotonic() < end, f"no {text!r} after {timeout:.0f} s:\n{node.output()}"
        time.sleep(0.05)


def stop_code(node: NodeProcess, sig: int = signal.SIGINT, twice: bool = False) -> tuple[int, float]:
    """Send ``sig`` (and a second SIGINT 50 ms later); the exit code and how long the stop took."""
    start = time.monotonic()
    node.process.send_signal(sig)
    if twice:
        time.sleep(0.05)
        node.process.send_signal(signal.SIGINT)
    code = node.stop(timeout=30)
    return code, time.monotonic() - start


def assert_clean(node: NodeProcess, code: int, took: float) -> None:
    log = node.log_path.read_text()  # stop closed the log
    assert code == 0, log
    assert took < STOP_LIMIT_S, f"stop took {took:.1f} s:\n{log}"
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log


def entry_point(executable: str) -> str:
    """The installed console script's target, e.g. interhandgen_ros.executables:grasp_proposal_node."""
    scripts = distribution("interhandgen-ros").entry_points
    return next(e.value for e in scripts if e.group == "console_scripts" and e.name == executable)


@pytest.mark.parametrize("executable", sorted(NODES))
@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
def test_sigint_while_importing(start_node, executable: str, twice: bool) -> None:  # type: ignore[no-untyped-def]
    # The signal handling comes first only where the console script enters through executables.py
    # (its node module imports torch and the library before any of its code runs).
    assert entry_point(executable) == f"interhandgen_ros.executables:{executable}", "setup.py console_scripts"
    node = start_node(executable, NODES[executable])
    time.sleep(0.3)  # the interpreter runs, torch and the library are being imported (about a second or more)
    assert node.process.poll() is None, node.output()
    if "configuring" in node.output():  # a warm, idle machine imported everything already
        node.stop(timeout=30)
        pytest.skip("the imports finished within 0.3 s: no longer importing")
    assert_clean(node, *stop_code(node, twice=twice))


# After "configuring": the checkpoint being read, open3d being imported, the warm-up sampling.
LOADING_MOMENTS = [(signal.SIGINT, 0.1), (signal.SIGINT, 0.5), (signal.SIGINT, 1.2), (signal.SIGTERM, 0.5)]


@pytest.mark.parametrize("executable", sorted(NODES))
@pytest.mark.parametrize(("sig", "after"), LOADING_MOMENTS, ids=[f"{s.name}-{t}s" for s, t in LOADING_MOMENTS])
def test_stop_signal_while_loading_the_model(start_node, executable: str, sig: int, after: float) -> None:  # type: ignore[no-untyped-def]
    node = start_node(executable, NODES[executable])
    wait_for_log(node, "configuring", 120)
    time.sleep(after)
    if "loaded and warmed up" in node.output():
        pytest.skip(f"the model was loaded within {after} s of configuring: no longer loading")
    assert_clean(node, *stop_code(node, sig))  # stop_code's node.stop sends a SIGINT after it: twice


@pytest.mark.parametrize("executable", sorted(NODES))
def test_double_sigint_while_active(start_node, executable: str) -> None:  # type: ignore[no-untyped-def]
    node = start_node(executable, NODES[executable])
    wait_for_log(node, "active", 180)
    assert_clean(node, *stop_code(node, twice=True))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_during_a_long_action_goal(ros, start_node, sig: int) -> None:  # type: ignore[no-untyped-def]
    """512 grasps of 100 DDIM steps (minutes on a CPU): the stop ends the sampling between two denoising steps
    (the goal aborted, "the node is stopping"), frees the model and exits 0 within the limit."""
    node = start_node(
        "grasp_proposal_node",
        {**GRASP_FAST, "ddim_steps": 100},
        {"generate_grasps": f"signal_goal_{sig}/generate_grasps"},
    )
    client = ActionClient(ros, GenerateBimanualGrasps, f"signal_goal_{sig}/generate_grasps")
    assert client.wait_for_server(timeout_sec=180), node.output()
    stages: list[str] = []
    goal = GenerateBimanualGrasps.Goal(cloud=object_cloud("table"), num_grasps=512, seed=1)
    sent = client.send_goal_async(goal, feedback_callback=lambda f: stages.append(f.feedback.stage))
    assert spin_until(ros, lambda: "sampling" in stages, 30), node.output()
    result = sent.result().get_result_async()
    spin_until(ros, lambda: False, 1.0)
    assert not result.done()  # still sampling
    assert_clean(node, *stop_code(node, sig))
    log = node.log_path.read_text()
    assert "aborted after" in log and "the node is stopping" in log and BUSY not in log, log
    client.destroy()


def test_sigint_while_a_cloud_is_processed(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    # A topic of its own: an earlier test's node can linger in the graph on the default topic and
    # count as a subscriber before this node has subscribed, and the cloud would go nowhere.
    node = start_node(
        "grasp_proposal_node",
        {**GRASP_FAST, "ddim_steps": 100, "num_grasps": 512, "input_qos": "DEFAULT"},
        {"object_points": "sigint_test/points"},
    )
    publisher = ros.create_publisher(PointCloud2, "sigint_test/points", 10)
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 180), node.output()
    wait_for_log(node, "]: active", 60)
    publisher.publish(object_cloud())
    spin_until(ros, lambda: False, 2.0)
    assert_clean(node, *stop_code(node))
    log = node.log_path.read_text()
    assert "stopped processing an input: the node is stopping" in log and BUSY not in log, log
    ros.destroy_publisher(publisher)


def test_sigint_while_frames_stream_in(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    # A frame takes a fraction of a second: the stop lets the current one finish, in time.
    node = start_node("hand_prior_node", HAND_FAST)
    refined = collect(ros, TwoHandState, "hands/refined")
    publisher = ros.create_publisher(TwoHandState, "hands/noisy", 10)
    assert spin_until(ros, lambda: publisher.get_subscription_count() > 0, 180), node.output()
    seq = sequence()
    end = time.monotonic() + 60
    frame = 0
    while len(refined) < 3:  # until the stream is being refined
        assert time.monotonic() < end, node.output()
        i = frame % len(seq.left_keypoints)
        publisher.publish(state(seq.left_keypoints[i].numpy(), seq.right_keypoints[i].numpy(), frame))
        spin_until(ros, lambda: False, 1 / 30)
        frame += 1
    publisher.publish(state(seq.left_keypoints[0].numpy(), seq.right_keypoints[0].numpy(), frame))
    assert_clean(node, *stop_code(node))
    ros.destroy_publisher(publisher)
