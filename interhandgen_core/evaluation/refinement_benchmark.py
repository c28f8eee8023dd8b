"""The tracking benchmark of the refiner: noisy tracks in, figures before and after refinement out.

Rows, one per variant, each over the same sequences (data/tracking_sequences.py):
    observed        the tracker's keypoints as they are (no mesh, so no penetration)
    fit             each frame fitted by the hand model to its keypoints alone (data term; the
                    mesh a plain inverse-kinematics step would give: the "before" of penetration)
    prior off       data, penetration and smoothness terms, streaming
    prior on        everything, the prior term of Eq. 9 included (the shipped configuration)

Every refined variant runs ``HandPriorRefiner.step`` frame by frame, as a teleoperation loop
would, and its latency per frame (both hands) is timed, with the load other processes put
on the machine meanwhile (evaluation/machine_load.py: a warning when they kept it busy). Sequences are concatenated with one
NaN frame between them, so that no second difference spans two sequences.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.contact.interaction import measure_interaction
from interhandgen_core.data.tracking_sequences import TrackingSequence
from interhandgen_core.evaluation.machine_load import MachineLoad, load_cell
from interhandgen_core.evaluation.tracking import mpjpe, tracking_figures
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

VARIANTS: dict[str, dict[str, Any]] = {
    "fit": {"prior_weight": 0.0, "penetration_weight": 0.0, "smoothness_weight": 0.0},
    "prior off": {"prior_weight": 0.0},
    "prior on": {},
}


def _joined(parts: list[Tensor]) -> Tensor:
    """Frames of several sequences, one NaN frame after each."""
    gap = torch.full_like(parts[0][:1], torch.nan)
    return torch.cat([t for part in parts for t in (part, gap)])


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of timings by the nearest rank, as every benchmark row reports it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_refinement_benchmark(
    model: TwoHandPipeline,
    sequences: list[TrackingSequence],
    config: RefinerConfig | None = None,
    variants: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """-> one row per variant: {variant, mpjpe_mm, mpjpe_observed_mm, coverage, acceleration_error_mm,
    mean_penetration_mm, p95_penetration_mm, median_ms, p95_ms, other_load_cores, cpu_cores, load_average}
    (latencies and load None for ``observed``, which is not timed)."""
    base = config or RefinerConfig()
    true_left = _joined([s.left_keypoints for s in sequences])
    true_right = _joined([s.right_keypoints for s in sequences])
    observed_left = _joined([s.observed.left_keypoints for s in sequences])
    observed_right = _joined([s.observed.right_keypoints for s in sequences])
    seen = torch.cat([observed_left, observed_right], dim=1)
    rows: list[dict[str, Any]] = []
    figures = tracking_figures(observed_left, observed_right, true_left, true_right)
    rows.append({"variant": "observed", **figures.as_dict(), "mpjpe_observed_mm": figures.mpjpe_mm})
    rows[-1].update(median_ms=None, p95_ms=None, other_load_cores=None, cpu_cores=None, load_average=None)
    total = sum(s.num_frames for s in sequences)
    for name, overrides in (variants or VARIANTS).items():  # one refiner per variant
        refiner = HandPriorRefiner(model, replace(base, **overrides))
        latencies: list[float] = []
        outputs: list[RefinedHands] = []
        bar = tqdm(total=total, desc=f"refine ({name})", unit="frame", disable=not progress)
        with MachineLoad() as load:
            for sequence in sequences:  # streams are sequential by nature
                refiner.reset()
                frames = []
                obs = sequence.observed
                for i in range(sequence.num_frames):
                    frame = slice(i, i + 1)
                    observation = TwoHandObservation(
                        HandObservation(keypoints=obs.left_keypoints[frame], confidence=obs.left_confidence[frame]),
                        HandObservation(keypoints=obs.right_keypoints[frame], confidence=obs.right_confidence[frame]),
                    )
                    start = time.perf_counter()
                    frames.append(refiner.step(observation))
                    latencies.append(1000.0 * (time.perf_counter() - start))
                    bar.update(1)
                outputs.append(RefinedHands.cat(frames))
        bar.close()
        load.warn_if_loaded(f"refinement ({name})")
        left = HandParams.cat([o.left for o in outputs])
        right = HandParams.cat([o.right for o in outputs])
        with torch.no_grad():
            lv = model.left_layer(left).vertices
            rv = model.right_layer(right).vertices
        depth, _ = measure_interaction(lv, model.left_layer.faces, rv, model.right_layer.faces)
        # Penetration counts the frames where both hands have a state.
        has_both = torch.cat(
            [
                torch.isfinite(o.left_keypoints).all(-1).all(-1) & torch.isfinite(o.right_keypoints).all(-1).all(-1)
                for o in outputs
            ]
        )
        refined_left = _joined([o.left_keypoints for o in outputs])
        refined_right = _joined([o.right_keypoints for o in outputs])
        figures = tracking_figures(refined_left, refined_right, true_left, true_right, depth[has_both])
        estimate = torch.cat([refined_left, refined_right], dim=1)
        masked = torch.where(torch.isfinite(seen), estimate, torch.nan)
        on_observed, _ = mpjpe(masked, torch.cat([true_left, true_right], dim=1))
        warm = latencies[1:] if len(latencies) > 1 else latencies  # the first call pays for allocation
        rows.append(
            {
                "variant": name,
                **figures.as_dict(),
                "mpjpe_observed_mm": on_observed,
                "median_ms": statistics.median(warm),
                "p95_ms": percentile(warm, 0.95),
                **load.fields(),
            }
        )
    return rows


def format_refinement_rows(rows: list[dict[str, Any]]) -> str:
    """Rows -> a fixed-width text table ("others": the cores other processes kept busy during the timing)."""

    def cell(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    header = f"{'variant':<10} {'MPJPE mm':>9} {'(seen)':>7} {'accel err':>9} {'pen mean':>8} {'pen p95':>8} {'ms/frame':>8} {'p95 ms':>7} {'others':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['variant']:<10} {cell(r['mpjpe_mm'], '9.2f')} {cell(r['mpjpe_observed_mm'], '7.2f')} "
            f"{cell(r['acceleration_error_mm'], '9.2f')} {cell(r['mean_penetration_mm'], '8.2f')} "
            f"{cell(r['p95_penetration_mm'], '8.2f')} {cell(r['median_ms'], '8.1f')} {cell(r['p95_ms'], '7.1f')} "
            f"{load_cell(r):>7}"
        )
    return "\n".join(lines)
