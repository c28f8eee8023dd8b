"""The demo as a ROS user sees it (make demo): start grasp_proposal_node, publish the cloud of the
shipped demo object on object_points, receive the proposals on grasp_proposals, render them to
demo_grasps.png and print the ranked list.

    interhandgen_ros_demo [--object FILE] [--num 8] [--out out/demo] [--device cpu] [--backend torch]

The node runs as its own process, in the namespace /interhandgen_demo (so that other nodes on the
ROS domain neither answer nor hear the demo), and everything between it and this script goes over
DDS; RViz shows /interhandgen_demo/grasp_markers meanwhile.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from interhandgen_msgs.msg import BimanualGraspArray
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from interhandgen_core.errors import InterHandGenError
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import HAND_KINDS, load_hand_pair
from interhandgen_core.io.object_files import read_object
from interhandgen_core.visualization.preview import render_grasp_sheet
from interhandgen_ros.conversions import hand_states_to_params, points_to_cloud

PACKAGE = "interhandgen_ros"
FRAME = "demo_object"
NAMESPACE = "/interhandgen_demo"
NODE_START_TIMEOUT_S = 180.0
PROPOSAL_TIMEOUT_S = 300.0
SHOWN = 4


def demo_object_path() -> Path:
    """The demo object shipped in the package's share folder: a case with a handle, a point cloud with normals."""
    return Path(get_package_share_directory(PACKAGE)) / "data" / "demo_object.ply"


def render(msg: BimanualGraspArray, points: np.ndarray, path: Path, hands: str, mano_dir: str | None) -> None:
    """The best SHOWN grasps of a BimanualGraspArray as meshes around the cloud -> a PNG at ``path``."""
    right_asset, left_asset = load_hand_pair(hands, mano_dir)
    shown = msg.grasps[:SHOWN]
    lp, rp = hand_states_to_params([g.left for g in shown]), hand_states_to_params([g.right for g in shown])
    left = HandLayer(left_asset).double()(lp)
    right = HandLayer(right_asset).double()(rp)
    titles = [f"score {g.score:.2f}, H-O {1000 * g.object_penetration_depth:.1f} mm" for g in shown]
    render_grasp_sheet(
        path,
        left.vertices.numpy(),
        left_asset.faces,
        right.vertices.numpy(),
        right_asset.faces,
        points,
        titles=titles,
    )


def ranked_list(msg: BimanualGraspArray) -> str:
    lines = [f"{'rank':>4} {'score':>6} {'H-O pen mm':>10} {'H-H pen mm':>10} {'contact':>7}  left wrist (m)"]
    for i, g in enumerate(msg.grasps):
        w = g.left.wrist_pose.position
        lines.append(
            f"{i:>4} {g.score:>6.3f} {1000 * g.object_penetration_depth:>10.2f} "
            f"{1000 * g.hand_penetration_depth:>10.2f} {g.contact_ratio:>7.2f}  ({w.x:+.3f}, {w.y:+.3f}, {w.z:+.3f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="interhandgen_ros_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--object", default=None, help="object file (default: the shipped demo object)")
    parser.add_argument("--num", type=int, default=8, help="grasps to ask for (num_grasps)")
    parser.add_argument("--out", default="out/demo", help="folder for demo_grasps.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--hands", choices=HAND_KINDS, default="procedural", help="the hand model of the checkpoint")
    parser.add_argument("--mano-dir", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        obj = read_object(args.object or demo_object_path())
    except InterHandGenError as error:
        sys.exit(f"error: {error}")
    print(f"object: {obj.source}")
    node_args = ["grasp_proposal_node", "--ros-args", "-r", f"__ns:={NAMESPACE}", "-p", f"num_grasps:={args.num}"]
    node_args += ["-p", f"device:={args.device}", "-p", f"backend:={args.backend}"]
    # Reliable: the demo publishes its cloud once, and a best-effort reader may lose it under load.
    node_args += ["-p", "input_qos:=DEFAULT"]
    print("starting grasp_proposal_node (loads and warms up the model) ...", flush=True)
    process = subprocess.Popen(node_args)
    rclpy.init()
    client = rclpy.create_node("interhandgen_demo")
    try:
        received: list[BimanualGraspArray] = []
        client.create_subscription(BimanualGraspArray, f"{NAMESPACE}/grasp_proposals", received.append, 10)
        publisher = client.create_publisher(PointCloud2, f"{NAMESPACE}/object_points", 10)
        end = time.monotonic() + NODE_START_TIMEOUT_S
        while publisher.get_subscription_count() == 0:
            if process.poll() is not None or time.monotonic() > end:
                sys.exit(f"error: grasp_proposal_node did not come up (exit code {process.poll()}); see its log above")
            rclpy.spin_once(client, timeout_sec=0.1)
        header = Header(frame_id=FRAME, stamp=client.get_clock().now().to_msg())
        sent = time.perf_counter()
        publisher.publish(points_to_cloud(obj.points, header))
        print(
            f"published {len(obj.points)} points on {NAMESPACE}/object_points (frame {FRAME}); waiting for grasp_proposals ..."
        )
        end = time.monotonic() + PROPOSAL_TIMEOUT_S
        while not received:
            if process.poll() is not None or time.monotonic() > end:
                sys.exit(f"error: no proposals (node exit code {process.poll()}); see its log above")
            rclpy.spin_once(client, timeout_sec=0.1)
        msg = received[0]
        print(f"received {len(msg.grasps)} proposals in {time.perf_counter() - sent:.1f} s, best first:")
        print(ranked_list(msg))
        out.mkdir(parents=True, exist_ok=True)
        render(msg, obj.points, out / "demo_grasps.png", args.hands, args.mano_dir)
        print(f"wrote {out / 'demo_grasps.png'} (the best {min(SHOWN, len(msg.grasps))}, four views each)")
    finally:
        client.destroy_node()
        rclpy.shutdown()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
