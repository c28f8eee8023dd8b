"""The tracking benchmark of the refiner: noisy tracks in, figures before and after refinement out.

Rows, one per variant, each over the same sequences (data/tracking_suites.py):
    observed        the tracker's keypoints as they are (no mesh, so no penetration)
    One-Euro        the tracker's keypoints through a One-Euro filter (refinement/one_euro.py; no mesh)
    per-frame       each frame fitted on its own by the hand model to its keypoints alone (data
                    term, no history: ``refine --independent``; batched, so its ms is a throughput)
    fit             the same fit streamed (warm-started from the last frame, the tracking rules
                    on; the mesh a plain inverse-kinematics step would give: the "before" of penetration)
    prior off       data, penetration and smoothness terms, streaming
    prior on        everything, the prior term of Eq. 9 included (the shipped configuration)

Every refined variant runs ``HandPriorRefiner.step`` frame by frame, as a teleoperation loop
would (the One-Euro row its filter), and its latency per frame (both hands) is timed, with the load other processes put
on the machine meanwhile (evaluation/machine_load.py: a warning when they kept it busy). Sequences are concatenated with one
NaN frame between them, so that no second difference spans two sequences, for the pooled
rows (``sequence`` "all"); then each variant has a row per sequence (``sequence`` its index,
``name`` its recipe), since a refiner must hold its targets on every sequence.

Worst frames, three ways (a frame's error: its mean keypoint error over both hands):
    worst           over every frame a variant outputs, a lost hand's held or carried state too
    worst seen      over the keypoints the tracker reported (lost hands and keypoints left out)
    worst trusted   refiner rows: over the hands published with confidence >= TRUSTED_CONFIDENCE,
                    what a robot acts on (None for rows without a confidence)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.contact.interaction import measure_interaction
from interhandgen_core.data.tracking_sequences import TrackingSequence
from interhandgen_core.evaluation.machine_load import MachineLoad, load_cell
from interhandgen_core.evaluation.tracking import frame_errors, mpjpe, tracking_figures
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.one_euro import OneEuroConfig, OneEuroFilter
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands


@dataclass(frozen=True)
class PerFrameFit:
    """A variant that refines every frame on its own (``HandPriorRefiner.refine``, no history), as
    ``interhandgen refine --independent`` does: the frames of a sequence go through in batches of
    ``batch`` rows, so its ms per frame is the batch's time over its frames (a throughput, not a
    stream's latency). ``overrides``: RefinerConfig fields."""

    overrides: dict[str, Any]
    batch: int = 64


@dataclass(frozen=True)
class RealTime:
    """A variant that streams each sequence in real time at its frame rate, as hand_prior_node does with a live
    tracker on this machine: a frame arrives every 1 / fps seconds of the wall clock; the refiner takes the
    newest one waiting whenever it is free, and the frames that a newer one replaced meanwhile are superseded
    (counted). A frame's output is its own refined state, or for a superseded frame the last one refined before
    it (what a robot following the stream holds). ``hurry``: step's interrupt answers whether a newer frame has
    arrived (hand_prior_node's hurry_when_behind). ``overrides``: RefinerConfig fields."""

    overrides: dict[str, Any]
    hurry: bool = False


DATA_ONLY = {"prior_weight": 0.0, "penetration_weight": 0.0, "smoothness_weight": 0.0}
# A variant is a refiner (RefinerConfig overrides: a refiner change needs no change here), a per-frame
# fit, a refiner streamed in real time, or a One-Euro filter of the tracker's keypoints (its configuration).
Variant = dict[str, Any] | OneEuroConfig | PerFrameFit | RealTime
VARIANTS: dict[str, Variant] = {
    "One-Euro": OneEuroConfig(),
    "per-frame": PerFrameFit(DATA_ONLY),
    "fit": DATA_ONLY,
    "prior off": {"prior_weight": 0.0},
    "prior on": {},
    # The same objective solved by L-BFGS (the solver of every frame before Levenberg-Marquardt), with
    # Eq. 9's target re-taken at every frame as before.
    "prior on, L-BFGS": {"stream_solver": "lbfgs", "prior_reuse_distance": 0.0},
    # Eq. 9's target re-taken at every frame (refinement/prior_target.py's reference).
    "prior on, target every frame": {"prior_reuse_distance": 0.0},
    # Streamed at the sequences' rate on the wall clock, as hand_prior_node meets a live tracker: frames
    # superseded while the refiner is busy, or (hurried) its frames cut short once a newer one is waiting.
    "prior on, real time": RealTime({}),
    "prior on, real time, hurried": RealTime({}, hurry=True),
}


# The confidence from which a published hand counts as trusted (the "worst trusted" column).
TRUSTED_CONFIDENCE = 0.5


def _joined(parts: list[Tensor]) -> Tensor:
    """Frames of several sequences, one NaN frame after each."""
    gap = torch.full_like(parts[0][:1], torch.nan)
    return torch.cat([t for part in parts for t in (part, gap)])


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of timings by the nearest rank, as every benchmark row reports it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _observation(sequence: TrackingSequence, i: int) -> TwoHandObservation:
    obs, frame = sequence.observed, slice(i, i + 1)
    return TwoHandObservation(
        HandObservation(keypoints=obs.left_keypoints[frame], confidence=obs.left_confidence[frame]),
        HandObservation(keypoints=obs.right_keypoints[frame], confidence=obs.right_confidence[frame]),
    )


@dataclass
class _Track:
    """One variant's output on one sequence: keypoints (N, 21, 3) each, penetration depth (M,) or None, ms per
    frame, and the published confidence (N, 2) (left, right) or None."""

    left: Tensor
    right: Tensor
    depth: Tensor | None
    latencies: list[float]
    confidence: Tensor | None = None
    superseded: int | None = None  # frames a newer one replaced before they were refined (RealTime)


def _refined_tracks(
    model: TwoHandPipeline, config: RefinerConfig, sequences: list[TrackingSequence], bar: tqdm
) -> list[_Track]:
    refiner = HandPriorRefiner(model, config)
    tracks = []
    for sequence in sequences:  # streams are sequential by nature
        refiner.reset()
        frames, latencies = [], []
        for i in range(sequence.num_frames):
            observation = _observation(sequence, i)
            start = time.perf_counter()
            frames.append(refiner.step(observation))
            latencies.append(1000.0 * (time.perf_counter() - start))
            bar.update(1)
        tracks.append(_mesh_track(model, RefinedHands.cat(frames), latencies))
    return tracks


def _real_time_tracks(
    model: TwoHandPipeline, variant: RealTime, config: RefinerConfig, sequences: list[TrackingSequence], bar: tqdm
) -> list[_Track]:
    refiner = HandPriorRefiner(model, replace(config, **variant.overrides))
    tracks = []
    for sequence in sequences:
        refiner.reset()
        period, count = 1.0 / sequence.fps, sequence.num_frames
        frames: list[RefinedHands] = []
        latencies: list[float] = []
        refined_at: list[int] = []  # per output frame, the frame whose refined state it is
        start = time.perf_counter()
        latest = -1
        while latest < count - 1:
            waited = (latest + 1) * period - (time.perf_counter() - start)
            if waited > 0:  # idle until the next frame arrives
                time.sleep(waited)
            newest = min(count - 1, int((time.perf_counter() - start) / period))  # the frames between: superseded
            # A newer frame has arrived once the clock passes this one's successor.
            next_arrival = start + (newest + 1) * period

            def newer_waiting(next_arrival: float = next_arrival) -> bool:
                return time.perf_counter() >= next_arrival

            began = time.perf_counter()
            frames.append(
                refiner.step(
                    _observation(sequence, newest), newest * period, period, newer_waiting if variant.hurry else None
                )
            )
            latencies.append(1000.0 * (time.perf_counter() - began))
            refined_at += [len(frames) - 2] * (newest - latest - 1) + [len(frames) - 1]
            bar.update(newest - latest)
            latest = newest
        out = RefinedHands.cat(frames)
        held_at = torch.tensor(refined_at)  # -1: no frame refined yet (the first one late)
        index, unset = held_at.clamp_min(0), held_at < 0
        left_kp, right_kp = (
            k[index].masked_fill(unset[:, None, None], torch.nan) for k in (out.left_keypoints, out.right_keypoints)
        )
        left_c, right_c = (c[index].masked_fill(unset, 0.0) for c in (out.left_confidence, out.right_confidence))
        held = RefinedHands(
            out.left.select(index),
            out.right.select(index),
            left_kp,
            right_kp,
            left_c,
            right_c,
            out.left_observed[index],
            out.right_observed[index],
            [],
        )
        track = _mesh_track(model, held, latencies)
        tracks.append(replace(track, superseded=count - len(frames)))
    return tracks


def _mesh_track(model: TwoHandPipeline, out: RefinedHands, latencies: list[float]) -> _Track:
    """A refined sequence -> its _Track, with the penetration depth of the frames where both hands have a state."""
    with torch.no_grad():
        lv = model.left_layer(out.left).vertices
        rv = model.right_layer(out.right).vertices
    depth, _ = measure_interaction(lv, model.left_layer.faces, rv, model.right_layer.faces)
    finite = [torch.isfinite(k).all(-1).all(-1) for k in (out.left_keypoints, out.right_keypoints)]
    confidence = torch.stack([out.left_confidence, out.right_confidence], dim=1)
    return _Track(out.left_keypoints, out.right_keypoints, depth[finite[0] & finite[1]], latencies, confidence)


def _per_frame_tracks(
    model: TwoHandPipeline, fit: PerFrameFit, config: RefinerConfig, sequences: list[TrackingSequence], bar: tqdm
) -> list[_Track]:
    refiner = HandPriorRefiner(model, replace(config, **fit.overrides))
    tracks = []
    for sequence in sequences:
        obs, parts, latencies = sequence.observed, [], []
        for start in range(0, sequence.num_frames, fit.batch):  # independent rows, batched
            rows = slice(start, min(start + fit.batch, sequence.num_frames))
            observation = TwoHandObservation(
                HandObservation(keypoints=obs.left_keypoints[rows], confidence=obs.left_confidence[rows]),
                HandObservation(keypoints=obs.right_keypoints[rows], confidence=obs.right_confidence[rows]),
            )
            began = time.perf_counter()
            parts.append(refiner.refine(observation))
            count = rows.stop - rows.start
            latencies += [1000.0 * (time.perf_counter() - began) / count] * count
            bar.update(count)
        tracks.append(_mesh_track(model, RefinedHands.cat(parts), latencies))
    return tracks


def _filtered_tracks(config: OneEuroConfig, sequences: list[TrackingSequence], bar: tqdm) -> list[_Track]:
    smoother = OneEuroFilter(config)
    tracks = []
    for sequence in sequences:
        smoother.reset()
        obs = sequence.observed
        frames, latencies = [], []
        for i in range(sequence.num_frames):
            both = torch.stack([obs.left_keypoints[i], obs.right_keypoints[i]])
            start = time.perf_counter()
            frames.append(smoother(both, i / sequence.fps))
            latencies.append(1000.0 * (time.perf_counter() - start))
            bar.update(1)
        out = torch.stack(frames)
        tracks.append(_Track(out[:, 0], out[:, 1], None, latencies))
    return tracks


def _figures(tracks: list[_Track], sequences: list[TrackingSequence]) -> dict[str, Any]:
    """Figures of a variant over ``sequences`` pooled (joined with NaN gaps): accuracy, the error where seen, timing."""
    true_left = _joined([s.left_keypoints for s in sequences])
    true_right = _joined([s.right_keypoints for s in sequences])
    left, right = _joined([t.left for t in tracks]), _joined([t.right for t in tracks])
    depths = [t.depth for t in tracks if t.depth is not None]
    depth = torch.cat(depths) if len(depths) == len(tracks) else None
    figures = tracking_figures(left, right, true_left, true_right, depth)
    # Coverage over the sequences' own frames, not the NaN frames that join them.
    estimate = torch.cat([torch.cat([t.left, t.right], dim=1) for t in tracks])
    error = estimate - torch.cat([torch.cat([s.left_keypoints, s.right_keypoints], dim=1) for s in sequences])
    figures.coverage = float(torch.isfinite(error.norm(dim=-1)).double().mean())
    seen = torch.cat(
        [
            _joined([s.observed.left_keypoints for s in sequences]),
            _joined([s.observed.right_keypoints for s in sequences]),
        ],
        dim=1,
    )
    masked = torch.where(torch.isfinite(seen), torch.cat([left, right], dim=1), torch.nan)
    truth = torch.cat([true_left, true_right], dim=1)
    on_observed, _ = mpjpe(masked, truth)
    worst_seen = frame_errors(masked, truth)
    worst_trusted = None
    if all(t.confidence is not None for t in tracks):
        trusted = _joined([t.confidence for t in tracks if t.confidence is not None]) >= TRUSTED_CONFIDENCE
        per_keypoint = trusted.repeat_interleave(21, dim=1)[..., None]  # (N, 42, 1): left's 21, right's 21
        worst_trusted = _worst_mm(
            frame_errors(torch.where(per_keypoint, torch.cat([left, right], 1), torch.nan), truth)
        )
    latencies = _timed_latencies(tracks)
    timed = bool(latencies)
    return {
        **figures.as_dict(),
        "mpjpe_observed_mm": on_observed,
        "worst_seen_frame_error_mm": _worst_mm(worst_seen),
        "worst_trusted_frame_error_mm": worst_trusted,
        "median_ms": statistics.median(latencies) if timed else None,
        "p95_ms": percentile(latencies, 0.95) if timed else None,
        "superseded_fraction": (
            sum(t.superseded or 0 for t in tracks) / sum(s.num_frames for s in sequences)
            if all(t.superseded is not None for t in tracks)
            else None
        ),
    }


def _worst_mm(errors: Tensor) -> float | None:
    """(N,) frame errors in metres, NaN where none -> the largest in mm, None when every frame is NaN."""
    finite = errors[torch.isfinite(errors)]
    return float(finite.max()) * 1000.0 if finite.numel() else None


def run_refinement_benchmark(
    model: TwoHandPipeline,
    sequences: list[TrackingSequence],
    config: RefinerConfig | None = None,
    variants: dict[str, Variant] | None = None,
    progress: bool = True,
    passes: int = 1,
) -> list[dict[str, Any]]:
    """-> the pooled rows, one per variant (``observed`` first), then per sequence k the rows of every variant.

    ``passes``: times every variant but the real-time ones runs over the sequences, the variants in turn
    (pass 1 of each, then pass 2 of each, ...): a row's timing pools the frames of all its passes, and
    ``pass_medians_ms`` lists each pass's median (how much the machine moved the figure); its accuracy is the
    first pass's (the others give the same outputs). A real-time variant runs once: its outputs depend on
    its timing.

    Each row: {variant, sequence ("all" or k), name (the sequence's recipe, "" pooled), mpjpe_mm,
    p95_frame_error_mm, worst_frame_error_mm, worst_seen_frame_error_mm, worst_trusted_frame_error_mm
    (module docstring), mpjpe_observed_mm, coverage, acceleration_error_mm,
    mean_penetration_mm, p95_penetration_mm (None without a mesh), median_ms, p95_ms,
    other_load_cores, cpu_cores, load_average, pass_medians_ms} (latencies and load None for ``observed``,
    which is not timed; a sequence's row has the load of its variant's whole run, its busiest pass).
    """
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    base = config or RefinerConfig()
    total = sum(s.num_frames for s in sequences)
    results: dict[str, tuple[list[_Track], dict[str, Any]]] = {
        "observed": (
            [_Track(s.observed.left_keypoints, s.observed.right_keypoints, None, []) for s in sequences],
            {"other_load_cores": None, "cpu_cores": None, "load_average": None},
        )
    }
    pass_medians: dict[str, list[dict[str | int, float]]] = {}  # per variant, per pass: {"all" or k: median ms}
    chosen = VARIANTS if variants is None else variants
    for number in range(passes):
        for name, variant in chosen.items():  # one refiner or filter each
            if number > 0 and isinstance(variant, RealTime):
                continue
            label = name if passes == 1 else f"{name}, pass {number + 1}/{passes}"
            bar = tqdm(total=total, desc=f"refine ({label})", unit="frame", disable=not progress)
            with MachineLoad() as load:
                tracks = _variant_tracks(model, variant, base, sequences, bar)
            bar.close()
            load.warn_if_loaded(f"refinement ({label})")
            medians: dict[str | int, float] = {k: _median_ms([t]) for k, t in enumerate(tracks)}
            medians["all"] = _median_ms(tracks)
            pass_medians.setdefault(name, []).append(medians)
            if number == 0:
                results[name] = (tracks, load.fields())
                continue
            for kept, track in zip(results[name][0], tracks, strict=True):  # this pass's timing joins the first's
                kept.latencies.extend(track.latencies)
            busiest = results[name][1]["other_load_cores"] or 0.0
            if (load.fields()["other_load_cores"] or 0.0) > busiest:
                results[name] = (results[name][0], load.fields())

    def timing(name: str, key: str | int) -> dict[str, Any]:
        return {"pass_medians_ms": [m[key] for m in pass_medians[name]] if name in pass_medians else None}

    rows = [
        {"variant": name, "sequence": "all", "name": "", **_figures(tracks, sequences), **load_fields}
        | timing(name, "all")
        for name, (tracks, load_fields) in results.items()
    ]
    for k, sequence in enumerate(sequences):
        rows.extend(
            {"variant": name, "sequence": k, "name": sequence.name, **_figures([tracks[k]], [sequence]), **load_fields}
            | timing(name, k)
            for name, (tracks, load_fields) in results.items()
        )
    return rows


def _variant_tracks(
    model: TwoHandPipeline, variant: Variant, base: RefinerConfig, sequences: list[TrackingSequence], bar: tqdm
) -> list[_Track]:
    """One pass of a variant over the sequences."""
    if isinstance(variant, OneEuroConfig):
        return _filtered_tracks(variant, sequences, bar)
    if isinstance(variant, PerFrameFit):
        return _per_frame_tracks(model, variant, base, sequences, bar)
    if isinstance(variant, RealTime):
        return _real_time_tracks(model, variant, base, sequences, bar)
    return _refined_tracks(model, replace(base, **variant), sequences, bar)


def _median_ms(tracks: list[_Track]) -> float:
    """The median of a pass's frame latencies (``_timed_latencies``)."""
    return statistics.median(_timed_latencies(tracks))


def _timed_latencies(tracks: list[_Track]) -> list[float]:
    """The latencies a row's timing is taken from: every frame's, but the first call of the first sequence,
    which pays for allocation (all where that is the only one)."""
    latencies = [ms for k, t in enumerate(tracks) for ms in (t.latencies[1:] if k == 0 else t.latencies)]
    return latencies or [ms for t in tracks for ms in t.latencies]


def format_refinement_rows(rows: list[dict[str, Any]]) -> str:
    """Rows -> fixed-width text tables: the pooled one, then one per sequence ("others": the cores other
    processes kept busy during the timing; "worst", "w seen", "w trust": the worst frame's mean error over both hands, module docstring)."""

    def cell(value: Any, fmt: str) -> str:
        return "-".rjust(int(fmt.split(".")[0])) if value is None else format(value, fmt)

    header = (
        f"{'variant':<10} {'MPJPE mm':>9} {'(seen)':>7} {'p95':>7} {'worst':>7} {'w seen':>7} {'w trust':>7} "
        f"{'accel err':>9} "
        f"{'pen mean':>8} {'pen p95':>8} {'ms/frame':>8} {'p95 ms':>7} {'supersd':>7} {'others':>7}"
    )
    lines: list[str] = []
    previous: Any = object()
    for r in rows:
        sequence = r.get("sequence", "all")
        if sequence != previous:
            title = "all sequences" if sequence == "all" else f"sequence {sequence}: {r.get('name') or 'default'}"
            lines.extend(([""] if lines else []) + [title, header, "-" * len(header)])
            previous = sequence
        lines.append(
            f"{r['variant']:<10} {cell(r['mpjpe_mm'], '9.2f')} {cell(r['mpjpe_observed_mm'], '7.2f')} "
            f"{cell(r.get('p95_frame_error_mm'), '7.2f')} {cell(r.get('worst_frame_error_mm'), '7.2f')} "
            f"{cell(r.get('worst_seen_frame_error_mm'), '7.2f')} {cell(r.get('worst_trusted_frame_error_mm'), '7.2f')} "
            f"{cell(r['acceleration_error_mm'], '9.2f')} {cell(r['mean_penetration_mm'], '8.2f')} "
            f"{cell(r['p95_penetration_mm'], '8.2f')} {cell(r['median_ms'], '8.2f')} {cell(r['p95_ms'], '7.2f')} "
            f"{cell(r.get('superseded_fraction'), '7.1%')} {load_cell(r):>7}"
        )
    return "\n".join(lines)
