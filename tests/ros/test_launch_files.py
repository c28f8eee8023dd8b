"""Each launch file in interhandgen_ros/launch (XML front end), read with the standard library and
started node by node with its parameters and remappings (the launch package is not published on
this project's registry); the topics it wires must flow."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from interhandgen_msgs.msg import BimanualGraspArray, TwoHandState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import PointCloud2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO, spin_until
from test_grasp_proposal_node import object_cloud
from test_hand_prior_node import sequence, state

LAUNCH = REPO / "ros2_ws" / "src" / "interhandgen_ros" / "launch"
INSTALLED = REPO / "ros2_ws" / "install" / "interhandgen_ros" / "share" / "interhandgen_ros" / "launch"
_VAR = re.compile(r"\$\(var ([A-Za-z0-9_]+)\)")


def read_launch(path: Path, overrides: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The nodes of a launch file: executable, namespace, parameters (typed as launch does) and remappings."""
    root = ElementTree.parse(path).getroot()
    values = {a.get("name", ""): a.get("default", "") for a in root.findall("arg")}
    values.update(overrides or {})

    def resolve(text: str) -> str:
        return _VAR.sub(lambda m: values[m.group(1)], text)

    def typed(text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return {"true": True, "false": False}.get(text, text)

    nodes = []
    for element in root.findall("node"):
        nodes.append(
            {
                "pkg": element.get("pkg"),
                "exec": element.get("exec"),
                "namespace": resolve(element.get("namespace", "")),
                "params": {p.get("name"): typed(resolve(p.get("value", ""))) for p in element.findall("param")},
                "remaps": {r.get("from"): resolve(r.get("to", "")) for r in element.findall("remap")},
            }
        )
    return nodes


@pytest.mark.parametrize("name", ["bimanual_grasps.launch.xml", "hand_prior.launch.xml", "teleop.launch.xml"])
def test_launch_file_is_installed_and_names_our_nodes(name: str) -> None:
    assert (INSTALLED / name).read_text() == (LAUNCH / name).read_text()
    for node in read_launch(LAUNCH / name):
        assert node["pkg"] == "interhandgen_ros" and node["exec"] in ("grasp_proposal_node", "hand_prior_node")


def start(start_node, path: Path, overrides: dict[str, str], extra: dict[str, Any]):  # type: ignore[no-untyped-def]
    started = []
    for node in read_launch(path, overrides):
        params = {k: v for k, v in node["params"].items() if v != ""}
        started.append(start_node(node["exec"], {**params, **extra.get(node["exec"], {})}, node["remaps"]))
    return started


FAST = {"grasp_proposal_node": {"num_grasps": 2, "ddim_steps": 2}, "hand_prior_node": {"iterations": 2}}


def test_teleop_launch_wires_both_nodes(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    overrides = {"noisy_topic": "launch/tracker", "cloud_topic": "launch/cloud"}
    nodes = start(start_node, LAUNCH / "teleop.launch.xml", overrides, FAST)
    proposals: list = []
    refined: list = []
    ros.create_subscription(BimanualGraspArray, "grasp_proposals", proposals.append, 10)
    ros.create_subscription(TwoHandState, "hands/refined", refined.append, 10)
    cloud = ros.create_publisher(PointCloud2, "launch/cloud", qos_profile_sensor_data)
    hands = ros.create_publisher(TwoHandState, "launch/tracker", 10)
    assert spin_until(ros, lambda: cloud.get_subscription_count() > 0 and hands.get_subscription_count() > 0, 60)
    seq = sequence()
    cloud.publish(object_cloud())
    hands.publish(state(seq.observed.left_keypoints[0].numpy(), seq.observed.right_keypoints[0].numpy(), 0))
    assert spin_until(ros, lambda: bool(proposals) and bool(refined), 60), [n.output() for n in nodes]
    assert all(node.stop() == 0 for node in nodes)


def test_bimanual_grasps_launch_remaps_the_cloud(ros, start_node) -> None:  # type: ignore[no-untyped-def]
    nodes = start(start_node, LAUNCH / "bimanual_grasps.launch.xml", {"cloud_topic": "launch/other_cloud"}, FAST)
    proposals: list = []
    ros.create_subscription(BimanualGraspArray, "grasp_proposals", proposals.append, 10)
    cloud = ros.create_publisher(PointCloud2, "launch/other_cloud", qos_profile_sensor_data)
    assert spin_until(ros, lambda: cloud.get_subscription_count() > 0, 60)
    cloud.publish(object_cloud())
    assert spin_until(ros, lambda: bool(proposals), 60), nodes[0].output()
    assert nodes[0].stop() == 0
