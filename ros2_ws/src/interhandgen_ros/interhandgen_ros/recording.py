"""rosbag2 recordings (MCAP or SQLite 3) written and replayed with the pure-Python rosbags library,
so that a session can be replayed where the ros2 bag tool is not installed.

    write_bag(path, records)      (topic, message, receive time ns) -> a rosbag2 folder, MCAP storage
    replay_bag(node, path, ...)   every message of a bag published on its topic, at the bag's pace

    interhandgen_ros_replay BAG [--rate R] [--topics T ...] [--remap FROM:=TO ...] [--ros-args ...]
        replays BAG (a recording of ros2 bag record, or of write_bag) onto the live topics; --remap
        renames a bag topic; ROS arguments (after --ros-args) go to the replay's own node

Messages are stored and published as their CDR bytes, as rosbag2 does: the replay needs the
message packages importable (source the workspace, ros2_ws/env.sh) but never re-encodes a message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from interhandgen_ros.executables import split_ros_arguments

# The packages whose .msg files are added to the typestore (the standard ones are built in).
OWN_MESSAGE_PACKAGES = ("interhandgen_msgs",)
REPLAY_QUEUE_DEPTH = 100
ACK_TIMEOUT_S = 10.0


class RecordingError(Exception):
    """A bag that cannot be written or replayed; the message says which file and why."""


def message_type_name(message_class: type) -> str:
    """An rclpy message class -> its ROS type name, e.g. sensor_msgs/msg/PointCloud2."""
    package = message_class.__module__.split(".")[0]
    return f"{package}/msg/{message_class.__name__}"


def message_class(type_name: str) -> type:
    """A ROS type name (pkg/msg/Name) -> the rclpy message class; RecordingError when not importable."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise RecordingError(f"{type_name!r} is not a message type name (package/msg/Name)")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError):
        raise RecordingError(
            f"message type {type_name} is not importable; source the workspace that builds {parts[0]}"
        ) from None


def typestore(packages: Iterable[str] = OWN_MESSAGE_PACKAGES) -> Typestore:
    """The rosbags type store of ROS 2 Kilted plus the .msg files of ``packages`` (from their share)."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for package in packages:
        try:
            folder = Path(get_package_share_directory(package)) / "msg"
        except PackageNotFoundError:
            raise RecordingError(f"package {package} is not installed; build ros2_ws (make ros)") from None
        for path in sorted(folder.glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
    store.register(types)
    return store


def write_bag(path: str | Path, records: Iterable[tuple[str, Any, int]], store: Typestore | None = None) -> int:
    """(topic, rclpy message, receive time in ns) records -> a new rosbag2 folder ``path`` in MCAP storage.

    Returns the number of messages written. The folder must not exist yet (rosbag2's rule).
    """
    path = Path(path)
    if path.exists():
        raise RecordingError(f"{path} exists; a bag is written to a new folder")
    store = store or typestore()
    connections: dict[str, Connection] = {}
    count = 0
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic, message, stamp_ns in records:
            type_name = message_type_name(type(message))
            connection = connections.get(topic)
            if connection is None:
                connection = writer.add_connection(topic, type_name, typestore=store)
                connections[topic] = connection
            elif connection.msgtype != type_name:
                raise RecordingError(f"topic {topic} carries {connection.msgtype}, not {type_name}")
            writer.write(connection, int(stamp_ns), serialize_message(message))
            count += 1
    return count


@dataclass
class ReplaySummary:
    """What a replay published, per topic (after remapping), and what it skipped and why."""

    published: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    unacknowledged: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def replay_bag(
    node: Node,
    path: str | Path,
    *,
    rate: float = 1.0,
    topics: Iterable[str] | None = None,
    remap: dict[str, str] | None = None,
    wait_for_subscribers_s: float = 0.0,
) -> ReplaySummary:
    """Publish every message of the bag at ``path`` on its topic, keeping the bag's spacing / rate.

    topics: only these (bag names); remap: bag topic -> published topic. Topics whose message
    type is not importable here are skipped and named in the summary. With
    wait_for_subscribers_s, waits up to that long for every topic to have a subscriber.
    ``node`` is spun while waiting, so that its own subscriptions (the outputs a test
    collects) are served meanwhile.
    """
    if rate <= 0:
        raise RecordingError(f"rate must be positive, got {rate}")
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such bag")
    remap = remap or {}
    wanted = set(topics) if topics is not None else None

    def pass_time(seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            rclpy.spin_once(node, timeout_sec=min(left, 0.05))

    summary = ReplaySummary()
    qos = QoSProfile(depth=REPLAY_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # rosbags raises several kinds for a missing or corrupt bag
        raise RecordingError(f"{path}: cannot read the bag ({error})") from None
    try:
        publishers: dict[int, Any] = {}
        chosen = []
        for connection in reader.connections:
            if wanted is not None and connection.topic not in wanted:
                continue
            out_topic = remap.get(connection.topic, connection.topic)
            try:
                cls = message_class(connection.msgtype)
            except RecordingError as error:
                summary.skipped[connection.topic] = str(error)
                continue
            publishers[connection.id] = node.create_publisher(cls, out_topic, qos)
            summary.published.setdefault(out_topic, 0)
            chosen.append(connection)
        if wanted is not None:
            for topic in sorted(wanted - {c.topic for c in reader.connections}):
                summary.skipped[topic] = "not in the bag"
        if wait_for_subscribers_s > 0:
            end = time.monotonic() + wait_for_subscribers_s
            while time.monotonic() < end and any(p.get_subscription_count() == 0 for p in publishers.values()):
                pass_time(0.05)
        start_wall = time.monotonic()
        first_ns: int | None = None
        for connection, stamp_ns, data in reader.messages(connections=chosen):
            first_ns = stamp_ns if first_ns is None else first_ns
            pass_time(start_wall + (stamp_ns - first_ns) * 1e-9 / rate - time.monotonic())
            publishers[connection.id].publish(bytes(data))
            topic = remap.get(connection.topic, connection.topic)
            summary.published[topic] += 1
        summary.duration_s = time.monotonic() - start_wall
        for topic_publisher in publishers.values():
            # Reliable delivery of the last messages: a publisher destroyed (or a process that
            # exits) right after publishing loses what its readers have not acknowledged yet.
            if not topic_publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S)):
                summary.unacknowledged.append(topic_publisher.topic_name)
            node.destroy_publisher(topic_publisher)
    finally:
        reader.close()
    return summary


def _remap_pair(text: str) -> tuple[str, str]:
    old, sep, new = text.partition(":=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected FROM:=TO, got {text!r}")
    return old, new


def main(argv: list[str] | None = None) -> None:
    # Only the --ros-args blocks reach rclpy: rcl would take the bare FROM:=TO of --remap for a
    # remapping in its deprecated syntax, and warn.
    own, ros = split_ros_arguments(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="interhandgen_ros_replay", description=__doc__.split("\n")[0])
    parser.add_argument("bag", help="a rosbag2 folder (MCAP or SQLite 3 storage)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed (2: twice as fast)")
    parser.add_argument("--topics", nargs="+", default=None, help="only these topics of the bag")
    parser.add_argument("--remap", type=_remap_pair, action="append", default=[], help="FROM:=TO (repeatable)")
    parser.add_argument("--wait-for-subscribers", type=float, default=30.0, metavar="S")
    args = parser.parse_args(own)
    rclpy.init(args=["interhandgen_ros_replay", *ros])
    node = rclpy.create_node("interhandgen_replay")
    try:
        summary = replay_bag(
            node,
            args.bag,
            rate=args.rate,
            topics=args.topics,
            remap=dict(args.remap),
            wait_for_subscribers_s=args.wait_for_subscribers,
        )
    except RecordingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    for topic, count in summary.published.items():
        print(f"{topic}: {count} messages")
    for topic, reason in summary.skipped.items():
        print(f"skipped {topic}: {reason}")
    for topic in summary.unacknowledged:
        print(f"warning: {topic}: not every message was acknowledged by its subscribers within {ACK_TIMEOUT_S:.0f} s")
    print(f"replayed {args.bag} in {summary.duration_s:.1f} s")


if __name__ == "__main__":
    main()
