"""Retargeting benchmark: latency, fingertip error, joint limits and smoothness of two robot hands.

Rows (one per setting), each with the bench-row fields of README "Conventions" (what = "retarget",
batch, median_ms, p95_ms, peak_mb None) and

    source              "streams": the refinement benchmark's sequences (data/tracking_suites.py), their
                        true hands, frame by frame through StreamingRetargeter (warm-started);
                        "grasps": proposals of the shipped grasp prior (GraspPipeline) for procedural
                        objects (seed 1000, held out), each set of 32 at once through Retargeter
    setting             "filtered" (the configuration's low-pass filter) or "unfiltered" (cutoff 0)
    median_ms, p95_ms   per frame for both hands (streams), per set of grasps (grasps)
    tip_error_mean_mm, tip_error_p95_mm   robot fingertip to the scaled human fingertip, over every
                        valid hand and finger
    limit_violations    joint positions outside the model's limits (count; the solver clips, so 0)
    accel_rms_rad_s2    RMS of the joint positions' second differences x fps^2 over the streams
                        (None for grasps); filtered against unfiltered shows whether it chatters
    other_load_cores, cpu_cores, load_average   evaluation/machine_load.py

Timings use time.perf_counter around each call, on whatever threads torch and numpy were given
(the README's figures: OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_suites import make_suite_sequences
from interhandgen_core.evaluation.machine_load import MachineLoad
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.retargeter import Retargeter, StreamingRetargeter, TwoRobotHands
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand

HELD_OUT_OBJECT_SEED = 1000


def run_retarget_benchmark(
    config: RetargetConfig | None = None,
    sequences: int = 4,
    seed: int = 0,
    objects: int = 3,
    grasps: int = 32,
    repeats: int = 5,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """-> rows (module docstring): streams filtered and unfiltered, then grasp sets; ``objects`` 0 skips grasps."""
    config = config or RetargetConfig()
    hand = load_robot_hand(config.robot)
    right_asset, left_asset = load_hand_pair("procedural")
    tracks = make_suite_sequences(
        "default",
        HandLayer(right_asset),
        HandLayer(left_asset),
        sequences,
        MotionConfig(),
        TrackerNoiseConfig(),
        seed,
        progress=progress,
    )
    streams = [(t.left_keypoints.numpy(), t.right_keypoints.numpy(), t.fps) for t in tracks]
    rows = [
        _stream_row(hand, config, streams, "filtered", progress),
        _stream_row(hand, dataclasses.replace(config, filter_cutoff_hz=0.0), streams, "unfiltered", progress),
    ]
    if objects > 0:
        rows.append(_grasp_row(hand, config, objects, grasps, repeats, progress))
    return rows


def _stream_row(
    hand: RobotHand,
    config: RetargetConfig,
    streams: list[tuple[NDArray[np.float32], NDArray[np.float32], float]],
    setting: str,
    progress: bool,
) -> dict[str, Any]:
    times, results, accelerations = [], [], []
    total = sum(len(left) for left, _, _ in streams)
    bar = tqdm(total=total, desc=f"retarget streams ({setting})", unit="frame", disable=not progress)
    with MachineLoad() as load:
        for left, right, fps in streams:  # one stream at a time, frame by frame as a teleop loop runs
            retargeter = StreamingRetargeter(dataclasses.replace(config, rate_hz=fps), hand)
            frames = []
            for i in range(len(left)):
                start = time.perf_counter()
                frames.append(retargeter.step(left[i], right[i]))
                times.append(time.perf_counter() - start)
                bar.update()
            result = TwoRobotHands.cat(frames)
            results.append(result)
            for side in ("left", "right"):
                joints = result.side(side).joint_positions
                accelerations.append(np.diff(joints, n=2, axis=0).ravel() * fps**2)
    bar.close()
    load.warn_if_loaded(f"retargeting streams ({setting})")
    acceleration = np.concatenate(accelerations)
    return {
        **_row(hand, "streams", setting, 1, np.asarray(times), results),
        "accel_rms_rad_s2": float(np.sqrt((acceleration**2).mean())),
        "frames": total,
        **load.fields(),
    }


def _grasp_row(
    hand: RobotHand, config: RetargetConfig, objects: int, grasps: int, repeats: int, progress: bool
) -> dict[str, Any]:
    from interhandgen_core.pipelines.grasp import GraspPipeline
    from interhandgen_core.pipelines.shipped_priors import default_object_checkpoint

    model = GraspPipeline.from_pretrained(default_object_checkpoint())
    points, normals = generate_objects(objects, seed=HELD_OUT_OBJECT_SEED).sample_surface(
        4096, seed=HELD_OUT_OBJECT_SEED
    )
    sets = []
    for i in tqdm(range(objects), desc="grasp proposals", disable=not progress):  # one cloud per call
        with torch.no_grad():
            proposals = model.sample(grasps, seed=i, object_points=points[i], object_normals=normals[i])
        sets.append((proposals.left_keypoints.cpu().numpy(), proposals.right_keypoints.cpu().numpy()))
    retargeter = Retargeter(config, hand)
    times, results = [], []
    with MachineLoad() as load:
        for left, right in sets:
            for repeat in range(repeats):
                start = time.perf_counter()
                result = retargeter.retarget(left, right)
                times.append(time.perf_counter() - start)
                if repeat == 0:
                    results.append(result)
    load.warn_if_loaded("retargeting grasp sets")
    return {
        **_row(hand, "grasps", "batch", grasps, np.asarray(times), results),
        "accel_rms_rad_s2": None,
        "frames": objects * grasps,
        **load.fields(),
    }


def _row(
    hand: RobotHand, source: str, setting: str, batch: int, times: NDArray[np.float64], results: list[TwoRobotHands]
) -> dict[str, Any]:
    errors, violations = [], 0
    for result in results:
        for side in ("left", "right"):
            commands = result.side(side)
            errors.append(commands.fingertip_error_m[commands.valid].ravel())
            joints = commands.joint_positions
            violations += int(((joints < hand.lower - 1e-9) | (joints > hand.upper + 1e-9)).sum())
    error = np.concatenate(errors) * 1000.0
    return {
        "what": "retarget",
        "robot": hand.name,
        "source": source,
        "setting": setting,
        "backend": "numpy+mujoco",
        "device": "cpu",
        "preset": None,
        "batch": batch,
        "median_ms": float(np.median(times) * 1000.0),
        "p95_ms": float(np.percentile(times, 95) * 1000.0),
        "peak_mb": None,
        "tip_error_mean_mm": float(error.mean()) if error.size else None,
        "tip_error_p95_mm": float(np.percentile(error, 95)) if error.size else None,
        "limit_violations": violations,
    }


def format_retarget_rows(rows: list[dict[str, Any]]) -> str:
    """Rows -> a fixed-width text table."""
    header = (
        f"{'source':<8} {'setting':<11} {'batch':>5} {'median ms':>9} {'p95 ms':>8} {'tip mean mm':>11} "
        f"{'tip p95 mm':>10} {'limit viol.':>11} {'accel rms rad/s^2':>17} {'others':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        accel = "-" if r["accel_rms_rad_s2"] is None else f"{r['accel_rms_rad_s2']:.1f}"
        others = "-" if r.get("other_load_cores") is None else f"{r['other_load_cores']:.2f}"
        lines.append(
            f"{r['source']:<8} {r['setting']:<11} {r['batch']:>5} {r['median_ms']:>9.2f} {r['p95_ms']:>8.2f} "
            f"{r['tip_error_mean_mm']:>11.2f} {r['tip_error_p95_mm']:>10.2f} {r['limit_violations']:>11d} "
            f"{accel:>17} {others:>7}"
        )
    return "\n".join(lines)
