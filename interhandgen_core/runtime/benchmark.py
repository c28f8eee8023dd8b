"""Latency benchmark of the denoiser, of the full guided cascade and of grasp proposal for one cloud,
and the tracking benchmark of refinement (evaluation/refinement_benchmark.py: accuracy and latency).

Rows follow DESIGN section 9: ``{backend, device, preset, what, batch, median_ms, p95_ms,
peak_mb}``. On CUDA, ``peak_mb`` is the peak of torch's allocator during the timed calls;
on the CPU it is the process's peak resident memory (it includes everything loaded).
Timings are wall-clock around calls that end with a device synchronisation; the first
call of each configuration is a warm-up and is not counted.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_sequences import make_tracking_sequences
from interhandgen_core.evaluation.refinement_benchmark import percentile, run_refinement_benchmark
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.pipeline import InterHandGen, default_object_checkpoint
from interhandgen_core.prior.representation import HAND_DIM
from interhandgen_core.refinement.configuration import RefinerConfig

WHATS = ("denoiser", "cascade", "grasp", "refine")


def _timed(fn: Callable[[], object], repeats: int, device: torch.device) -> list[float]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up: allocator, kernels, caches
    sync()
    times = []
    for _ in range(repeats):  # timing repetitions
        start = time.perf_counter()
        fn()
        sync()
        times.append(1000.0 * (time.perf_counter() - start))
    return times


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _denoiser_call(model: InterHandGen, batch: int) -> Callable[[], object]:
    """One conditional denoiser call on a batch, as the sampler makes it."""
    dev = model.device
    x = torch.randn(batch, HAND_DIM, device=dev)
    t = torch.full((batch,), 100, device=dev, dtype=torch.long)
    mask = torch.ones(batch, dtype=torch.bool, device=dev)
    encoder = model.prior.object_encoder
    embedding = None if encoder is None else encoder.embed(None, batch).detach()

    def call() -> object:
        with torch.no_grad():
            return model.denoiser(x, t, x, mask, embedding)

    return call


def _cascade_call(model: InterHandGen, batch: int, ddim_steps: int | None) -> Callable[[], object]:
    """The whole guided cascade (anchor, CFG, anti-penetration guidance) for a batch."""

    def call() -> object:
        return model.sample(batch, seed=0, ddim_steps=ddim_steps)

    return call


def _grasp_call(model: InterHandGen, batch: int, ddim_steps: int | None) -> Callable[[], object]:
    """Proposing ``batch`` grasps for one cloud: preprocessing, encoding, the guided cascade, figures.

    The cloud is a fixed procedural object (data/procedural_objects.py, seed 0) sampled at
    4,096 surface points, about what a depth camera's crop of an object holds after cropping.
    """
    objects = generate_objects(1, seed=0)
    points, normals = objects.sample_surface(4096, seed=0)

    def call() -> object:
        return model.sample(batch, seed=0, ddim_steps=ddim_steps, object_points=points[0], object_normals=normals[0])

    return call


def run_benchmark(
    what: str = "cascade",
    batches: list[int] | None = None,
    device: str = "cpu",
    checkpoint: str | Path | None = None,
    repeats: int = 5,
    ddim_steps: int | None = None,
) -> list[dict[str, Any]]:
    """Time ``what`` for each batch size with the torch eager backend -> rows (DESIGN section 9)."""
    if what not in WHATS or what == "refine":
        raise ValueError(f"what must be one of {WHATS[:-1]} (refine: run_refine_benchmark), got {what!r}")
    if checkpoint is None and what == "grasp":
        checkpoint = default_object_checkpoint()
    model = InterHandGen.from_pretrained(checkpoint, device=device)
    dev = model.device
    preset = model.prior.model_config.preset
    rows: list[dict[str, Any]] = []
    for batch in batches or [1, 16, 64]:  # one configuration per batch size
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        if what == "denoiser":
            call = _denoiser_call(model, batch)
        elif what == "grasp":
            call = _grasp_call(model, batch, ddim_steps)
        else:
            call = _cascade_call(model, batch, ddim_steps)
        times = _timed(call, repeats, dev)
        rows.append(
            {
                "backend": "torch",
                "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
                "preset": preset,
                "what": what,
                "batch": batch,
                "median_ms": statistics.median(times),
                "p95_ms": percentile(times, 0.95),
                "peak_mb": _peak_mb(dev),
            }
        )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Rows -> a fixed-width text table."""
    header = f"{'backend':<8} {'device':<10} {'preset':<7} {'what':<9} {'batch':>5} {'median_ms':>10} {'p95_ms':>10} {'peak_mb':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['backend']:<8} {r['device']:<10} {r['preset']:<7} {r['what']:<9} {r['batch']:>5} "
            f"{r['median_ms']:>10.1f} {r['p95_ms']:>10.1f} {r['peak_mb']:>8.0f}"
        )
    return "\n".join(lines)


def run_refine_benchmark(
    sequences: int = 4,
    motion: MotionConfig | None = None,
    noise: TrackerNoiseConfig | None = None,
    seed: int = 0,
    device: str = "cpu",
    checkpoint: str | Path | None = None,
    config: RefinerConfig | None = None,
) -> list[dict[str, Any]]:
    """Refinement of synthetic noisy tracks (data/tracking_sequences.py) -> one row per variant.

    Each row has the fields of DESIGN section 9 (what = "refine", batch = 1 frame of both hands,
    median_ms / p95_ms per frame) and the accuracy figures of evaluation/refinement_benchmark.py.
    """
    model = InterHandGen.from_pretrained(checkpoint, device=device)
    dev = model.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    # The data are made on the CPU (seeded there) with the model's own hand model.
    right_asset, left_asset = load_hand_pair(str(model.prior.metadata.get("hand_model", "procedural")))
    tracks = make_tracking_sequences(
        HandLayer(right_asset),
        HandLayer(left_asset),
        sequences,
        motion or MotionConfig(),
        noise or TrackerNoiseConfig(),
        seed,
    )
    tracks = [track.to(dev) for track in tracks]
    rows = run_refinement_benchmark(model, tracks, config)
    meta = {
        "backend": "torch",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "preset": model.prior.model_config.preset,
        "what": "refine",
        "batch": 1,
        "peak_mb": _peak_mb(dev),
    }
    return [{**meta, **row} for row in rows]
