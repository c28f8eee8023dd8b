"""Tuning the One-Euro baseline: a grid search over its settings on sequences no benchmark uses.

The One-Euro row of the refinement benchmark (evaluation/refinement_benchmark.py) is only a
fair baseline if its settings are good for the data, yet chosen without seeing the
benchmark's sequences. So they are chosen here, on the wide suite (data/tracking_suites.py)
at seed ONE_EURO_TUNING_SEED (the benchmarks default to seed 0), and written as
OneEuroConfig's defaults (refinement/one_euro.py) by hand, with how they were chosen.

Criterion: the pooled MPJPE over both hands and every frame with an estimate, the same
figure as the benchmark's (evaluation/tracking.py). Ties (equal to 0.01 mm) go to the lower
acceleration error. Every grid point filters all sequences at once (the filter is element-wise).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import torch
from tqdm import tqdm

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_sequences import TrackingSequence
from interhandgen_core.data.tracking_suites import make_suite_sequences
from interhandgen_core.errors import DataError
from interhandgen_core.evaluation.tracking import tracking_figures
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.refinement.one_euro import OneEuroConfig, OneEuroFilter

ONE_EURO_TUNING_SEED = 7
TUNING_GRID: dict[str, tuple[float, ...]] = {
    "min_cutoff_hz": (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0),
    "beta": (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
    "d_cutoff_hz": (0.5, 1.0, 2.0),
}


def _stacked(sequences: list[TrackingSequence]) -> tuple[torch.Tensor, torch.Tensor, float]:
    """-> observed (N, S, 2, 21, 3), truth (N, S, 2, 21, 3), fps: sequences of one length and rate side by side."""
    lengths = {s.num_frames for s in sequences}
    rates = {s.fps for s in sequences}
    if len(lengths) != 1 or len(rates) != 1:
        raise DataError(f"tuning needs sequences of one length and rate, got lengths {lengths} and rates {rates}")
    observed = torch.stack(
        [torch.stack([s.observed.left_keypoints, s.observed.right_keypoints], 1) for s in sequences], 1
    )
    truth = torch.stack([torch.stack([s.left_keypoints, s.right_keypoints], 1) for s in sequences], 1)
    return observed, truth, rates.pop()


def tune_one_euro(
    sequences: list[TrackingSequence], grid: dict[str, tuple[float, ...]] | None = None, progress: bool = True
) -> list[dict[str, Any]]:
    """-> one row per grid point, best first: {min_cutoff_hz, beta, d_cutoff_hz, mpjpe_mm, p95_frame_error_mm,
    worst_frame_error_mm, acceleration_error_mm} over ``sequences`` pooled (of one length and rate)."""
    grid = grid or TUNING_GRID
    observed, truth, fps = _stacked(sequences)
    frames = observed.shape[0]
    names = list(grid)
    rows = []
    points = list(product(*(grid[n] for n in names)))
    for values in tqdm(points, desc="One-Euro grid", unit="point", disable=not progress):  # a handful of points
        config = OneEuroConfig(**dict(zip(names, values, strict=True)), fps=fps)
        smoother = OneEuroFilter(config)
        out = torch.stack([smoother(observed[i], i / fps) for i in range(frames)])
        # Frames of every sequence one after the other, a NaN frame between two sequences.
        gap = torch.full_like(out[:1, 0], torch.nan)
        joined = [torch.cat([t for k in range(out.shape[1]) for t in (x[:, k], gap)]) for x in (out, truth)]
        figures = tracking_figures(joined[0][:, 0], joined[0][:, 1], joined[1][:, 0], joined[1][:, 1])
        rows.append({**dict(zip(names, values, strict=True)), **figures.as_dict()})
    for row in rows:
        for key in ("coverage", "mean_penetration_mm", "p95_penetration_mm"):
            row.pop(key, None)
    rows.sort(key=lambda r: (round(r["mpjpe_mm"] or 0.0, 2), r["acceleration_error_mm"] or 0.0))
    return rows


def run_one_euro_tuning(
    sequences: int = 8,
    motion: MotionConfig | None = None,
    noise: TrackerNoiseConfig | None = None,
    seed: int = ONE_EURO_TUNING_SEED,
    suite: str = "wide",
    hand_model: str = "procedural",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The grid search on ``sequences`` sequences of ``suite`` at ``seed`` -> tune_one_euro's rows, best first."""
    right_asset, left_asset = load_hand_pair(hand_model)
    tracks = make_suite_sequences(
        suite,
        HandLayer(right_asset),
        HandLayer(left_asset),
        sequences,
        motion or MotionConfig(),
        noise or TrackerNoiseConfig(),
        seed,
        progress=progress,
    )
    return tune_one_euro(tracks, progress=progress)


def format_tuning_rows(rows: list[dict[str, Any]], top: int = 10) -> str:
    """The best ``top`` rows as a fixed-width table, best first."""
    header = f"{'min_cutoff':>10} {'beta':>6} {'d_cutoff':>8} {'MPJPE mm':>9} {'p95':>7} {'worst':>7} {'accel err':>9}"
    lines = [header, "-" * len(header)]
    for r in rows[:top]:
        lines.append(
            f"{r['min_cutoff_hz']:>10g} {r['beta']:>6g} {r['d_cutoff_hz']:>8g} {r['mpjpe_mm']:9.2f} "
            f"{r['p95_frame_error_mm']:7.2f} {r['worst_frame_error_mm']:7.2f} {r['acceleration_error_mm']:9.2f}"
        )
    return "\n".join(lines)
