"""End-to-end figures of the nodes over real DDS, each node in its own process.

    interhandgen_ros_bench grasp   [--points 20000] [--num 32] [--repeats 20]
        publish a cloud, wait for its proposals; latency from publish to receipt, median / p95
    interhandgen_ros_bench hand    [--rate 30] [--seconds 20] [--robot-hands] [--no-hurry]
        stream a noisy two-hand sequence at --rate; refined states per second, fraction dropped;
        --robot-hands: with the robot hands on (robot_hands:=true), their joint states per second too
    interhandgen_ros_bench memory  [--clouds 1000]
        the grasp node's resident memory (VmRSS) after warm-up and after --clouds clouds
    interhandgen_ros_bench soak    [--rate 30] [--seconds 600] [--bad-frame-ids 10000]
        both nodes fed at --rate for --seconds (two-hand states and clouds): each node's VmRSS over
        time and its trend; then --bad-frame-ids states, each with a new wrong frame id, and the
        size of the hand node's diagnostics message after them

Run it in the workspace's environment: ros2_ws/env.sh interhandgen_ros_bench grasp. It starts
the node executables itself (from PATH) with the given --device and --backend, and writes the
figures as JSON with --json FILE (and on stdout). Progress goes to stderr: a line while the node
starts, then a bar over the clouds or frames (--quiet: none). The figures record how busy other
processes kept the machine meanwhile (other_load_cores of cpu_cores, load_average; the node's
own CPU time is not "other"), and a loaded run prints a warning naming the load (stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from interhandgen_msgs.msg import BimanualGraspArray, HandState, TwoHandState
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Header
from tqdm import tqdm

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_sequences import make_tracking_sequences
from interhandgen_core.evaluation.machine_load import MachineLoad
from interhandgen_core.evaluation.refinement_benchmark import percentile
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_ros.conversions import points_to_cloud

STARTUP_TIMEOUT_S = 120.0


def _spin_until(node: Node, done: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.01)
        if done():
            return True
    return False


def _note(text: str) -> None:
    """One progress line on stderr, between updates of a bar (stdout keeps only the figures)."""
    tqdm.write(f"interhandgen_ros_bench: {text}", file=sys.stderr)


def _bar(total: int, desc: str, unit: str, args: argparse.Namespace) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=args.quiet)


def _load_figures(load: MachineLoad, what: str) -> dict[str, Any]:
    """The machine's load during a run, for its figures; a warning on stderr when it was loaded."""
    message = load.warning(what)
    if message is not None:
        tqdm.write(f"interhandgen_ros_bench: warning: {message}", file=sys.stderr)
    return load.fields()


def _start(executable: str, params: dict[str, Any]) -> subprocess.Popen[bytes]:
    _note(f"starting {executable} (up to {STARTUP_TIMEOUT_S:.0f} s until it subscribes)")
    args = [executable, "--ros-args"]
    for name, value in params.items():
        args += ["-p", f"{name}:={value}"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _two_hand_message(observed: Any, index: int, stamp_s: float, frame_id: str = "tracker") -> TwoHandState:
    """Frame ``index`` of a tracking sequence's observed hands (left_/right_keypoints (N, 21, 3) metres,
    left_/right_confidence (N,)) as a TwoHandState stamped ``stamp_s`` seconds in ``frame_id``."""
    msg = TwoHandState(header=Header(frame_id=frame_id))
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), int((stamp_s % 1) * 1e9)
    for hand, side, keypoints, confidence in (
        (msg.left, HandState.LEFT, observed.left_keypoints[index], observed.left_confidence[index]),
        (msg.right, HandState.RIGHT, observed.right_keypoints[index], observed.right_confidence[index]),
    ):
        hand.side, hand.confidence = side, float(confidence)
        for point, xyz in zip(hand.keypoints, keypoints.tolist(), strict=True):
            point.x, point.y, point.z = xyz
    return msg


def _grown(items: list[Any], count: int) -> Callable[[], bool]:
    return lambda: len(items) > count


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def _trend_per_100(samples: dict[int, float], warmup: int) -> float:
    """Least-squares slope of RSS (MB) over clouds, from the warm-up on, per 100 clouds."""
    clouds = [c for c in sorted(samples) if c >= warmup]
    if len(clouds) < 2:
        return float("nan")
    return 100.0 * float(np.polyfit(clouds, [samples[c] for c in clouds], 1)[0])


def _cloud(points: int) -> PointCloud2:
    xyz = generate_objects(1, seed=0).sample_surface(points, seed=0)[0][0]
    return points_to_cloud(np.asarray(xyz), Header(frame_id="camera"))


def _wait_for_subscriber(node: Node, publisher: Any, process: subprocess.Popen[bytes]) -> None:
    if not _spin_until(node, lambda: publisher.get_subscription_count() > 0, STARTUP_TIMEOUT_S):
        raise RuntimeError(f"the node did not subscribe within {STARTUP_TIMEOUT_S:.0f} s (exit {process.poll()})")


def grasp_latency(node: Node, args: argparse.Namespace) -> dict[str, Any]:
    process = _start("grasp_proposal_node", {"num_grasps": args.num, "device": args.device, "backend": args.backend})
    try:
        received: list[float] = []
        node.create_subscription(
            BimanualGraspArray, "grasp_proposals", lambda m: received.append(time.perf_counter()), 10
        )
        publisher = node.create_publisher(PointCloud2, "object_points", qos_profile_sensor_data)
        _wait_for_subscriber(node, publisher, process)
        cloud = _cloud(args.points)
        latencies = []
        bar = _bar(args.repeats + 1, "grasp proposals", "cloud", args)
        with MachineLoad(pids=(process.pid,)) as load:
            for _ in range(args.repeats + 1):  # the first is a warm-up of the DDS path
                count = len(received)
                sent = time.perf_counter()
                publisher.publish(cloud)
                if not _spin_until(node, _grown(received, count), 120.0):
                    raise RuntimeError("no proposals within 120 s")
                latencies.append(1000.0 * (received[-1] - sent))
                bar.update(1)
        bar.close()
        latencies = latencies[1:]
        return {
            "what": "grasp end-to-end",
            "points": args.points,
            "grasps": args.num,
            "repeats": args.repeats,
            "median_ms": statistics.median(latencies),
            "p95_ms": float(np.percentile(latencies, 95)),
            "device": args.device,
            "backend": args.backend,
            **_load_figures(load, "grasp proposals end to end"),
        }
    finally:
        _stop(process)


def hand_rate(node: Node, args: argparse.Namespace) -> dict[str, Any]:
    params = {"device": args.device, "backend": args.backend, "input_qos": "DEFAULT", "robot_hands": args.robot_hands}
    if args.no_hurry:
        params["hurry_when_behind"] = False
    process = _start("hand_prior_node", params)
    try:
        refined: list[float] = []
        sent_at: dict[tuple[int, int], float] = {}  # stamp -> when it was published (perf_counter)
        end_to_end_ms: list[float] = []

        def on_refined(msg: TwoHandState) -> None:
            now = time.perf_counter()
            refined.append(now)
            published = sent_at.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
            if published is not None:
                end_to_end_ms.append(1000.0 * (now - published))

        node.create_subscription(TwoHandState, "hands/refined", on_refined, 100)
        joint_states: dict[str, list[float]] = {"left": [], "right": []}
        for side, received in joint_states.items():
            node.create_subscription(
                JointState, f"robot_hands/{side}/joint_states", lambda m, r=received: r.append(time.perf_counter()), 100
            )
        diagnostics: list[DiagnosticArray] = []
        node.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
        publisher = node.create_publisher(TwoHandState, "hands/noisy", 100)
        _wait_for_subscriber(node, publisher, process)
        right, left = load_hand_pair("procedural")
        frames = int(args.rate * args.seconds)
        motion = MotionConfig(frames=frames, fps=args.rate)
        seq = make_tracking_sequences(HandLayer(right), HandLayer(left), 1, motion, TrackerNoiseConfig(), seed=0)[0]
        obs = seq.observed
        period = 1.0 / args.rate
        bar = _bar(frames, "two-hand states", "frame", args)
        with MachineLoad(pids=(process.pid,)) as load:
            start = time.perf_counter()
            for i in range(frames):
                message = _two_hand_message(obs, i, i * period)
                sent_at[(message.header.stamp.sec, message.header.stamp.nanosec)] = time.perf_counter()
                publisher.publish(message)
                _spin_until(node, lambda: False, max(0.0, start + (i + 1) * period - time.perf_counter()))
                bar.update(1)
            _spin_until(node, lambda: False, 2.0)
        bar.close()
        duration = frames * period
        # The node's own time per processed frame (conversion, refinement, publishing).
        values = {v.key: v.value for v in diagnostics[-1].status[0].values} if diagnostics else {}
        return {
            "what": "hand prior rate",
            "input_hz": args.rate,
            "sent": frames,
            "refined": len(refined),
            "refined_hz": len(refined) / duration,
            "dropped_fraction": 1.0 - len(refined) / frames,
            "robot_hands": args.robot_hands,
            "hurry_when_behind": not args.no_hurry,
            "joint_states_hz": {side: len(times) / duration for side, times in joint_states.items()},
            "node_latency_median_ms": float(values.get("latency_median_ms", "nan")),
            "node_latency_p95_ms": float(values.get("latency_p95_ms", "nan")),
            # From publishing a state to receiving its refined state over DDS: queueing included.
            "end_to_end_median_ms": statistics.median(end_to_end_ms) if end_to_end_ms else None,
            "end_to_end_p95_ms": percentile(end_to_end_ms, 0.95) if end_to_end_ms else None,
            "device": args.device,
            "backend": args.backend,
            **_load_figures(load, "the hand prior's rate"),
        }
    finally:
        _stop(process)


def memory(node: Node, args: argparse.Namespace) -> dict[str, Any]:
    params = {"num_grasps": args.num, "ddim_steps": args.steps, "device": args.device, "backend": args.backend}
    process = _start("grasp_proposal_node", params)
    try:
        received: list[int] = []
        node.create_subscription(BimanualGraspArray, "grasp_proposals", lambda m: received.append(1), 10)
        publisher = node.create_publisher(PointCloud2, "object_points", qos_profile_sensor_data)
        _wait_for_subscriber(node, publisher, process)
        cloud = _cloud(args.points)
        samples: dict[int, float] = {}
        bar = _bar(args.clouds, "grasp node memory", "cloud", args)
        for i in range(1, args.clouds + 1):
            count = len(received)
            publisher.publish(cloud)
            if not _spin_until(node, _grown(received, count), 120.0):
                raise RuntimeError(f"no proposals for cloud {i}")
            bar.update(1)
            if i in (args.warmup, args.clouds) or i % max(1, args.clouds // 10) == 0:
                samples[i] = _rss_mb(process.pid)
                bar.set_postfix(vmrss_mb=f"{samples[i]:.0f}")
        bar.close()
        return {
            "what": "grasp node memory",
            "clouds": args.clouds,
            "points": args.points,
            "grasps": args.num,
            "ddim_steps": args.steps,
            "rss_mb": samples,
            "growth_after_warmup_mb": samples[args.clouds] - samples[args.warmup],
            # RSS wanders by tens of MB (allocator arenas); a leak shows as a trend, not as one difference.
            "trend_mb_per_100_clouds": _trend_per_100(samples, args.warmup),
        }
    finally:
        _stop(process)


def _trend_per_minute(samples: list[tuple[float, float]], warmup_s: float) -> float:
    """Least-squares slope of RSS (MB) over time (s), from ``warmup_s`` on, per minute."""
    kept = [(t, mb) for t, mb in samples if t >= warmup_s]
    if len(kept) < 2:
        return float("nan")
    return 60.0 * float(np.polyfit([t for t, _ in kept], [mb for _, mb in kept], 1)[0])


def soak(node: Node, args: argparse.Namespace) -> dict[str, Any]:
    """Both nodes fed at --rate for --seconds: resident memory of each over time, then the hand node's
    diagnostics after --bad-frame-ids states with a new wrong frame id each."""
    device = {"device": args.device, "backend": args.backend}
    hand = _start(
        "hand_prior_node",
        {**device, "input_qos": "DEFAULT", "expected_frame_id": "tracker", "diagnostics_period_s": 1.0},
    )
    grasp = _start("grasp_proposal_node", {**device, "num_grasps": args.num, "ddim_steps": args.steps})
    try:
        hand_diagnostics: list[DiagnosticArray] = []

        def on_diagnostics(msg: DiagnosticArray) -> None:
            if any(status.name.startswith("hand_prior_node") for status in msg.status):
                hand_diagnostics.append(msg)

        node.create_subscription(DiagnosticArray, "diagnostics", on_diagnostics, 10)
        states = node.create_publisher(TwoHandState, "hands/noisy", 100)
        clouds = node.create_publisher(PointCloud2, "object_points", qos_profile_sensor_data)
        _wait_for_subscriber(node, states, hand)
        _wait_for_subscriber(node, clouds, grasp)
        right, left = load_hand_pair("procedural")
        length = int(args.rate * min(args.seconds, 60.0))  # played forwards, then backwards: no jump
        motion = MotionConfig(frames=length, fps=args.rate)
        obs = make_tracking_sequences(HandLayer(right), HandLayer(left), 1, motion, TrackerNoiseConfig(), seed=0)[0]
        observed = obs.observed
        cloud = _cloud(args.points)
        period, frames = 1.0 / args.rate, int(args.rate * args.seconds)
        samples: dict[str, list[tuple[float, float]]] = {"hand_prior_node": [], "grasp_proposal_node": []}
        bar = _bar(frames, "both nodes at the input rate", "frame", args)
        next_sample = 0.0
        with MachineLoad(pids=(hand.pid, grasp.pid)) as load:
            start = time.perf_counter()
            for i in range(frames):
                lap, step = divmod(i, length)
                index = step if lap % 2 == 0 else length - 1 - step
                states.publish(_two_hand_message(observed, index, i * period))
                clouds.publish(cloud)
                elapsed = time.perf_counter() - start
                if elapsed >= next_sample:
                    for name, process in (("hand_prior_node", hand), ("grasp_proposal_node", grasp)):
                        samples[name].append((elapsed, _rss_mb(process.pid)))
                    next_sample += args.sample_every
                _spin_until(node, lambda: False, max(0.0, start + (i + 1) * period - time.perf_counter()))
                bar.update(1)
        bar.close()
        for name, process in (("hand_prior_node", hand), ("grasp_proposal_node", grasp)):
            samples[name].append((time.perf_counter() - start, _rss_mb(process.pid)))
        bad = _bar(args.bad_frame_ids, "wrong frame ids", "state", args)
        for k in range(args.bad_frame_ids):
            states.publish(_two_hand_message(observed, k % length, args.seconds + k * period, f"wrong_{k}"))
            _spin_until(node, lambda: False, 0.002)
            bad.update(1)
        bad.close()
        count = len(hand_diagnostics)
        _spin_until(node, _grown(hand_diagnostics, count + 1), 10.0)  # one published after the last bad id
        last = hand_diagnostics[-1] if hand_diagnostics else None
        warmup = min(args.warmup_seconds, args.seconds / 2)
        return {
            "what": "both nodes at the input rate",
            "rate_hz": args.rate,
            "seconds": args.seconds,
            "cloud_points": args.points,
            "grasps": args.num,
            "ddim_steps": args.steps,
            "rss_mb": {name: [[round(t, 1), round(mb, 1)] for t, mb in rows] for name, rows in samples.items()},
            # RSS wanders by tens of MB (allocator arenas); a leak shows as a trend, not as one difference.
            "trend_mb_per_minute": {name: _trend_per_minute(rows, warmup) for name, rows in samples.items()},
            "warmup_s": warmup,
            "bad_frame_ids": args.bad_frame_ids,
            "diagnostics_bytes": None if last is None else len(serialize_message(last)),
            "diagnostics_values": None if last is None else len(last.status[0].values),
            "hand_node_alive": hand.poll() is None,
            "grasp_node_alive": grasp.poll() is None,
            **_load_figures(load, "the soak run"),
        }
    finally:
        _stop(hand)
        _stop(grasp)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="interhandgen_ros_bench",
        description="End-to-end figures of the nodes over real DDS, each node in its own process: grasp proposal "
        "latency, the hand prior's rate, the grasp node's memory over many clouds, or both nodes' memory at the "
        "input rate (soak). The figures go to "
        "stdout as JSON; progress and load warnings go to stderr.",
    )
    parser.add_argument("what", choices=("grasp", "hand", "memory", "soak"), help="which figure to measure")
    parser.add_argument("--points", type=int, default=20000, help="points per published cloud (default: %(default)s)")
    parser.add_argument("--num", type=int, default=32, help="grasps per cloud (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=8, help="memory: DDIM steps (fewer: a faster run)")
    parser.add_argument("--repeats", type=int, default=20, help="grasp: timed clouds (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=30.0, help="hand: states sent per second (default: %(default)s)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="hand, soak: length of the stream (default: %(default)s)"
    )
    parser.add_argument("--clouds", type=int, default=1000, help="memory: clouds sent (default: %(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=100, help="memory: clouds before the growth is measured (default: %(default)s)"
    )
    parser.add_argument(
        "--sample-every", type=float, default=10.0, help="soak: seconds between memory samples (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=60.0,
        help="soak: seconds before the memory trend is fitted (default: %(default)s)",
    )
    parser.add_argument(
        "--bad-frame-ids",
        type=int,
        default=10000,
        help="soak: states sent afterwards, each with a new wrong frame id (default: %(default)s)",
    )
    parser.add_argument(
        "--robot-hands", action="store_true", help="hand: with robot_hands:=true (Shadow), counting joint states"
    )
    parser.add_argument(
        "--no-hurry", action="store_true", help="hand: hurry_when_behind:=false (every frame its full iterations)"
    )
    parser.add_argument("--device", default="cpu", help="the node's device parameter (default: %(default)s)")
    parser.add_argument("--backend", default="torch", help="the node's backend parameter (default: %(default)s)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    rclpy.init()
    node = rclpy.create_node("interhandgen_ros_bench")
    try:
        result = {"grasp": grasp_latency, "hand": hand_rate, "memory": memory, "soak": soak}[args.what](node, args)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
