"""`interhandgen retarget`: two-hand states (a hands file) -> two robot hands' wrist poses and joint positions.

    interhandgen retarget --input HANDS.npz --robot shadow|FILE.yaml --out ROBOT.npz [--independent]

HANDS.npz is a hands file (README "Conventions"; what ``refine`` and ``grasp`` write): its keypoints
are used. Its frames are one stream (warm-started, low-pass filtered) unless it holds grasps
(``object_points``) or --independent is given, when every row is retargeted on its own. Writes
ROBOT.npz (per side: joint_names, joint_positions (N, J), wrist_pose (N, 4, 4), valid (N,),
fingertip_error_m (N, F)) and ROBOT_preview.png beside it (human and robot hands side by side).
"""

from __future__ import annotations

import argparse

from interhandgen_core.cli.output_paths import checked_output_file
from interhandgen_core.config import add_config_options, config_overrides
from interhandgen_core.retargeting.configuration import RetargetConfig

# RetargetConfig fields given as options (flags from the field names; robot is --robot).
RETARGET_OPTIONS = ("robot", "scale", "filter_cutoff_hz", "rate_hz", "iterations", "cold_iterations")
PREVIEW_FRAMES = 4


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retarget = commands.add_parser(
        "retarget",
        help="retarget two-hand states (a hands file) onto two robot hands: wrist poses and joint positions",
        description="Retarget the hands of a hands file onto two robot hands (Shadow by default, or a robot hand "
        "YAML); writes the robot commands (.npz) and a _preview.png beside it.",
    )
    retarget.add_argument("--input", required=True, help="hands file with keypoints (refine's or grasp's output)")
    retarget.add_argument("--out", required=True, help="robot commands file (.npz); a _preview.png goes beside it")
    retarget.add_argument(
        "--independent",
        action="store_true",
        help="retarget every row on its own (default for grasp files); otherwise the rows are one stream",
    )
    add_config_options(retarget, RetargetConfig, RETARGET_OPTIONS)
    retarget.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import numpy as np

    from interhandgen_core.errors import DataError
    from interhandgen_core.io.hands_file import read_hands_file
    from interhandgen_core.retargeting.retargeter import Retargeter, StreamingRetargeter, TwoRobotHands
    from interhandgen_core.retargeting.robot_skeleton import robot_skeleton
    from interhandgen_core.visualization.retargeting_preview import render_retargeting_preview

    out = checked_output_file(args.out, ".npz", "--out")
    hands = read_hands_file(args.input)
    if hands.left_keypoints is None and hands.right_keypoints is None:
        raise DataError(f"{args.input}: the hands file has no keypoints (left_keypoints / right_keypoints)")
    rows = hands.num_samples
    left = hands.left_keypoints if hands.left_keypoints is not None else np.full((rows, 21, 3), np.nan)
    right = hands.right_keypoints if hands.right_keypoints is not None else np.full((rows, 21, 3), np.nan)
    config = RetargetConfig(**config_overrides(args, RETARGET_OPTIONS))
    independent = args.independent or hands.object_points is not None
    if independent:
        retargeter = Retargeter(config)
        hand = retargeter.hand
        result = retargeter.retarget(left, right)
    else:
        stream = StreamingRetargeter(config)
        hand = stream.hand
        result = TwoRobotHands.cat([stream.step(left[i], right[i]) for i in range(rows)])
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"robot": np.asarray(hand.name), **result.to_arrays()}
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    seen = np.flatnonzero(result.left.valid | result.right.valid)
    frames = (
        seen[np.linspace(0, len(seen) - 1, min(PREVIEW_FRAMES, len(seen))).round().astype(int)] if len(seen) else [0]
    )
    skeletons = {
        side: robot_skeleton(
            hand, result.side(side).joint_positions[frames], result.side(side).wrist_pose[frames], side
        )
        for side in ("left", "right")
    }
    preview = out.with_name(out.stem + "_preview.png")
    render_retargeting_preview(
        preview,
        left[frames],
        right[frames],
        skeletons["left"][0],
        skeletons["right"][0],
        skeletons["left"][1],
        titles=[f"{'row' if independent else 'frame'} {i}" for i in frames],
        robot_name=hand.name,
        object_points=hands.object_points,
    )
    for side in ("left", "right"):
        commands = result.side(side)
        error = commands.fingertip_error_m[commands.valid]
        text = f"fingertip error mean {1000 * error.mean():.1f} mm" if error.size else "never seen"
        print(f"{side}: {int(commands.valid.sum())} of {rows} rows retargeted onto {hand.name}, {text}")
    print(f"wrote {out} and {preview}")
