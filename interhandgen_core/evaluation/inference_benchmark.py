"""Latency benchmark of the denoiser, of the full guided cascade and of grasp proposal for one cloud,
per runtime backend, and the tracking benchmark of refinement (evaluation/refinement_benchmark.py).

Rows follow README "Conventions": ``{backend, device, preset, what, batch, median_ms, p95_ms,
peak_mb}``, plus ``precision``, ``weights`` ("checkpoint", or "random" for a preset timed
without trained weights) and ``speedup`` (torch eager fp32's median over this row's, same what
and batch, measured in the same run). On CUDA, ``peak_mb`` is the peak of torch's allocator
during the timed calls (TensorRT's and ONNX Runtime's own allocations are not in it); on the
CPU it is the process's peak resident memory so far (it includes everything loaded, and
grows monotonically over the rows of a run).
Timings are wall-clock around calls that end with a device synchronisation; the first
call of each configuration is a warm-up and is not counted. Each row also records how busy
other processes kept the machine meanwhile (``other_load_cores``, ``cpu_cores``,
``load_average``: evaluation/machine_load.py), and a loaded row logs a warning naming the
load. With ``progress``, a bar on stderr counts the calls (warm-ups included) and names the
row being timed.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_suites import make_suite_sequences
from interhandgen_core.errors import BackendError, ConfigError
from interhandgen_core.evaluation.machine_load import MachineLoad, load_cell
from interhandgen_core.evaluation.refinement_benchmark import VARIANTS, percentile, run_refinement_benchmark
from interhandgen_core.hands.hand_params import HAND_DIM
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.prior.configuration import DenoiserConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.one_euro import OneEuroConfig
from interhandgen_core.runtime.configuration import BackendConfig

WHATS = ("denoiser", "cascade", "grasp", "refine")
# Backends timed per device when none are named: eager against the one that should beat it there.
DEFAULT_BACKENDS = {"cpu": ("torch", "onnxruntime"), "cuda": ("torch", "cuda-graph")}

PipelineT = TypeVar("PipelineT", bound=PriorPipeline)


def timed_ms(
    fn: Callable[[], object], repeats: int, device: torch.device, on_call: Callable[[], object] | None = None
) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn`` after one warm-up call, milliseconds, synchronised on CUDA.

    ``on_call`` runs after each call, the warm-up included, outside the timing (a progress bar's update).
    """

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up: allocator, kernels, caches
    sync()
    if on_call is not None:
        on_call()
    times = []
    for _ in range(repeats):  # timing repetitions
        start = time.perf_counter()
        fn()
        sync()
        times.append(1000.0 * (time.perf_counter() - start))
        if on_call is not None:
            on_call()
    return times


def peak_memory_mb(device: torch.device) -> float:
    """The CUDA allocator's peak since its last reset on a GPU; the process's peak resident size on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def device_name(device: torch.device) -> str:
    """'cpu' or the GPU's model name, for benchmark rows."""
    return str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)


def _denoiser_call(model: PriorPipeline, batch: int) -> Callable[[], object]:
    """One conditional denoiser call on a batch through the model's backend, as the sampler makes it."""
    dev = model.device
    x = torch.randn(batch, HAND_DIM, device=dev)
    t = torch.full((batch,), 100, device=dev, dtype=torch.long)
    mask = torch.ones(batch, dtype=torch.bool, device=dev)
    encoder = model.prior.object_encoder
    embedding = None if encoder is None else encoder.embed(None, batch).detach().contiguous()

    def call() -> object:
        return model.backend(x, t, x, mask, embedding)

    return call


def _cascade_call(model: TwoHandPipeline, batch: int, ddim_steps: int | None) -> Callable[[], object]:
    """The whole guided cascade (anchor, CFG, anti-penetration guidance) for a batch."""

    def call() -> object:
        return model.sample(batch, seed=0, ddim_steps=ddim_steps)

    return call


def _grasp_call(model: GraspPipeline, batch: int, ddim_steps: int | None) -> Callable[[], object]:
    """Proposing ``batch`` grasps for one cloud: preprocessing, encoding, the guided cascade, figures.

    The cloud is a fixed procedural object (data/procedural_objects.py, seed 0) sampled at
    4,096 surface points, about what a depth camera's crop of an object holds after cropping.
    """
    objects = generate_objects(1, seed=0)
    points, normals = objects.sample_surface(4096, seed=0)

    def call() -> object:
        return model.sample(batch, seed=0, ddim_steps=ddim_steps, object_points=points[0], object_normals=normals[0])

    return call


def model_for_benchmark(model: PipelineT, preset: str | None) -> tuple[PipelineT, str]:
    """A loaded pipeline -> (the pipeline to time, "checkpoint" | "random").

    With a ``preset`` other than the checkpoint's, the denoiser is a randomly initialised one of
    that preset (latency does not depend on the weights), next to the checkpoint's normaliser,
    hand model and object encoder, so that the paper-sized network can be timed without training it.
    """
    if preset is None or preset == model.prior.model_config.preset:
        return model, "checkpoint"
    config = DenoiserConfig.from_preset(preset, object_embedding_dim=model.prior.model_config.object_embedding_dim)
    torch.manual_seed(0)
    prior = replace(model.prior, denoiser=Denoiser(config).eval(), model_config=config)
    return type(model)(prior, model.right_layer, model.left_layer, model.device), "random"


@dataclass
class BenchmarkResult:
    """Rows (the bench rows of README "Conventions", plus precision, speedup over torch eager fp32, and where the weights came from)
    and the backends that could not run here, each with the reason."""

    rows: list[dict[str, Any]]
    skipped: dict[str, str]


def run_benchmark(
    whats: Sequence[str] = ("denoiser", "cascade"),
    backends: Sequence[str] = ("torch",),
    batches: Sequence[int] = (1, 16, 64),
    device: str = "cpu",
    checkpoint: str | Path | None = None,
    preset: str | None = None,
    repeats: int = 5,
    ddim_steps: int | None = None,
    backend_fields: dict[str, Any] | None = None,
    progress: bool = True,
) -> BenchmarkResult:
    """Time each ``what`` at each batch size with each backend ('NAME' or 'NAME:PRECISION').

    ``backend_fields`` are further BackendConfig fields (cache_dir, engine_path, ...). A backend
    that cannot be built here (a missing library, no GPU) is skipped with its reason.
    ``progress``: a bar on stderr over every call to make (module docstring).
    """
    unknown = [what for what in whats if what not in WHATS or what == "refine"]
    if unknown or not whats:
        raise ValueError(f"what must be one of {WHATS[:-1]} (refine: run_refine_benchmark), got {list(whats)!r}")
    if "grasp" in whats and "cascade" in whats:
        raise ValueError("cascade times a two-hand prior and grasp an object-conditioned one; run them separately")
    configs = [BackendConfig.parse(spec, **(backend_fields or {})) for spec in backends]
    # The pipeline the sampling rows need (the shipped one of its kind when checkpoint is None); any for denoiser rows.
    model: PriorPipeline
    calls: dict[str, Callable[[int], Callable[[], object]]] = {}  # what -> batch -> the call to time
    if "grasp" in whats:
        grasper, weights = model_for_benchmark(GraspPipeline.from_pretrained(checkpoint, device=device), preset)
        model, calls["grasp"] = grasper, lambda batch: _grasp_call(grasper, batch, ddim_steps)
    elif "cascade" in whats:
        two_hand, weights = model_for_benchmark(TwoHandPipeline.from_pretrained(checkpoint, device=device), preset)
        model, calls["cascade"] = two_hand, lambda batch: _cascade_call(two_hand, batch, ddim_steps)
    else:
        model, weights = model_for_benchmark(InterHandGen.from_pretrained(checkpoint, device=device), preset)
    calls["denoiser"] = lambda batch: _denoiser_call(model, batch)
    dev = model.device
    calls_per_backend = len(whats) * len(batches) * (repeats + 1)
    bar = tqdm(total=len(configs) * calls_per_backend, unit="call", disable=not progress)
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for config in configs:  # one backend at a time: its files, sessions and graphs are freed before the next
        bar.set_description(f"{config.spec}: preparing the backend")
        try:
            model.use_backend(config)
        except (BackendError, ConfigError) as error:
            skipped[config.spec] = str(error)
            bar.update(calls_per_backend)
            continue
        for what in whats:
            for batch in batches:
                label = f"{config.spec} {what}, batch {batch}"
                bar.set_description(label)
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                call = calls[what](batch)
                with MachineLoad() as load:
                    times = timed_ms(call, repeats, dev, on_call=lambda: bar.update(1))
                load.warn_if_loaded(label)
                rows.append(
                    {
                        "backend": config.spec,
                        "device": device_name(dev),
                        "preset": model.prior.model_config.preset,
                        "what": what,
                        "batch": batch,
                        "median_ms": statistics.median(times),
                        "p95_ms": percentile(times, 0.95),
                        "peak_mb": peak_memory_mb(dev),
                        "precision": config.precision,
                        "weights": weights,
                        **load.fields(),
                    }
                )
        model.close()
    bar.close()
    reference = {(r["what"], r["batch"]): r["median_ms"] for r in rows if r["backend"] == "torch"}
    for row in rows:
        base = reference.get((row["what"], row["batch"]))
        row["speedup"] = None if base is None else base / row["median_ms"]
    return BenchmarkResult(rows, skipped)


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Rows -> a fixed-width text table; speedup is over torch eager fp32 at the same what and batch; "others":
    the cores other processes kept busy during the row's timing, of the machine's (machine_load.load_cell)."""
    header = (
        f"{'backend':<16} {'device':<24} {'preset':<7} {'what':<9} {'batch':>5} "
        f"{'median_ms':>10} {'p95_ms':>10} {'speedup':>8} {'peak_mb':>8} {'others':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        speedup = "-" if r.get("speedup") is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"{r['backend']:<16} {r['device'][:24]:<24} {r['preset']:<7} {r['what']:<9} {r['batch']:>5} "
            f"{r['median_ms']:>10.2f} {r['p95_ms']:>10.2f} {speedup:>8} {r['peak_mb']:>8.0f} {load_cell(r):>8}"
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
    backend: BackendConfig | None = None,
    progress: bool = True,
    suite: str = "default",
    one_euro: OneEuroConfig | None = None,
    passes: int = 1,
) -> list[dict[str, Any]]:
    """Refinement of synthetic noisy tracks (data/tracking_suites.py) -> the rows of run_refinement_benchmark.

    Each row has the bench-row fields of README "Conventions" (what = "refine", batch = 1 frame of both hands,
    median_ms / p95_ms per frame), the accuracy figures of evaluation/refinement_benchmark.py and the
    load of the machine during its timing (None for the untimed "observed" row).
    ``backend`` runs the refiner's denoiser calls (torch eager when None). ``progress``: bars on stderr
    while the tracks are made and while each variant runs. ``suite``: "default" or "wide" (data/tracking_suites.py);
    ``one_euro``: the One-Euro row's settings (OneEuroConfig's tuned defaults when None); ``passes``:
    run_refinement_benchmark's.
    """
    model = TwoHandPipeline.from_pretrained(checkpoint, device=device, backend=backend)
    dev = model.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    # The data are made on the CPU (seeded there) with the model's own hand model.
    right_asset, left_asset = load_hand_pair(str(model.prior.metadata.get("hand_model", "procedural")))
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
    tracks = [track.to(dev) for track in tracks]
    variants = {**VARIANTS, "One-Euro": one_euro} if one_euro is not None else None
    rows = run_refinement_benchmark(model, tracks, config, variants, progress=progress, passes=passes)
    meta = {
        "backend": model.backend.config.spec,
        "device": device_name(dev),
        "preset": model.prior.model_config.preset,
        "what": "refine",
        "batch": 1,
        "peak_mb": peak_memory_mb(dev),
    }
    return [{**meta, **row} for row in rows]
