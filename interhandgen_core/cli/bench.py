"""`interhandgen bench`: latency of the denoiser, the cascade, grasp proposal or a training step; refinement accuracy.

    interhandgen bench [cascade|denoiser|grasp|refine|train] [--backends torch,onnxruntime,cuda-graph,tensorrt]
                       [--device cpu|cuda] [--batches 1,16,64] [--preset small|paper] [--json FILE]
    interhandgen bench refine [--suite default|wide] [--sequences N] [--passes P] [--tune-one-euro]
    interhandgen bench retarget [--robot shadow|FILE.yaml] [--sequences N] [--objects M] [--repeats R]

Prints a table of rows (the bench-row fields of README "Conventions", and the load other processes
put on the machine during each row's timing); --json writes them too. A progress bar (stderr)
counts the calls being timed; a row timed while other processes kept the machine busy prints a
warning naming the load (stderr).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from interhandgen_core.cli.arguments import (
    add_backend_arguments,
    add_refine_suite_arguments,
    add_tracking_arguments,
    int_at_least,
    int_list,
    one_euro_config,
    parameter_default,
    positive_int,
    tracking_configs,
)
from interhandgen_core.cli.output_paths import check_output_folder
from interhandgen_core.config import add_config_options
from interhandgen_core.errors import InterHandGenError
from interhandgen_core.evaluation.inference_benchmark import DEFAULT_BACKENDS, run_benchmark, run_refine_benchmark
from interhandgen_core.evaluation.retargeting_benchmark import run_retarget_benchmark
from interhandgen_core.evaluation.training_benchmark import run_train_benchmark
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.retargeting.configuration import RetargetConfig

TARGETS = ("cascade", "denoiser", "grasp", "refine", "retarget", "train")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench",
        help="latency of the denoiser, the cascade or grasp proposal; accuracy and latency of refinement",
        description="Time the denoiser, the cascade, grasp proposal or a training step, or measure refinement's "
        "accuracy and latency; prints a table (--json writes the rows), with a progress bar and a warning "
        "for a row timed on a loaded machine on stderr.",
    )
    bench.add_argument("target", nargs="?", default=None, choices=TARGETS, help="what to time (the same as --what)")
    bench.add_argument(
        "--what",
        default=None,
        choices=TARGETS,
        help="the same as the positional target; default: " + " and ".join(parameter_default(run_benchmark, "whats")),
    )
    bench.add_argument(
        "--sequences",
        type=positive_int,
        default=parameter_default(run_refine_benchmark, "sequences"),
        help="refine: tracking sequences (default: %(default)s)",
    )
    bench.add_argument(
        "--passes",
        type=positive_int,
        default=parameter_default(run_refine_benchmark, "passes"),
        help="refine: runs of each variant over the sequences, in turn, for its timing (all pooled, each pass's "
        "median in --json's pass_medians_ms; accuracy from the first; real-time rows run once) "
        "(default: %(default)s)",
    )
    bench.add_argument(
        "--objects",
        type=int_at_least(0),
        default=parameter_default(run_retarget_benchmark, "objects"),
        help="retarget: held-out objects whose 32 grasp proposals are retargeted; 0: none (default: %(default)s)",
    )
    add_config_options(bench, RetargetConfig, ["robot"])
    bench.add_argument("--config", default=None, help="train: the training recipe (YAML) whose step is timed")
    bench.add_argument(
        "--scenes", type=positive_int, default=None, help="train: training-set size (default: its train_data's)"
    )
    bench.add_argument(
        "--processes",
        type=positive_int,
        default=parameter_default(run_train_benchmark, "processes"),
        help="train: torchrun processes to project for (default: %(default)s)",
    )
    bench.add_argument(
        "--seed",
        type=int,
        default=parameter_default(run_refine_benchmark, "seed"),
        help="refine: sequence seed (default: %(default)s)",
    )
    add_tracking_arguments(bench, min_frames=3, prefix="refine: ")
    add_refine_suite_arguments(bench)
    batches = list(parameter_default(run_benchmark, "batches"))
    bench.add_argument(
        "--batches",
        type=int_list,
        default=batches,
        help=f"comma-separated batch sizes (default: {','.join(map(str, batches))})",
    )
    bench.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    bench.add_argument(
        "--checkpoint", default=None, help="the prior timed (default: the shipped one of the kind the target needs)"
    )
    bench.add_argument(
        "--repeats",
        type=positive_int,
        default=parameter_default(run_benchmark, "repeats"),
        help="timed calls per row (default: %(default)s)",
    )
    add_config_options(bench, SamplerConfig, ["ddim_steps"], flags={"ddim_steps": "--steps"})
    bench.add_argument(
        "--preset",
        default=None,
        choices=("small", "paper"),
        help="denoiser size; one other than the checkpoint's is timed with random weights",
    )
    cpu, cuda = (",".join(DEFAULT_BACKENDS[kind]) for kind in ("cpu", "cuda"))
    add_backend_arguments(bench, backends_default=f"{cpu} on the CPU, {cuda} on CUDA")
    bench.add_argument("--json", default=None, help="write the rows as JSON")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.inference_benchmark import format_rows
    from interhandgen_core.evaluation.refinement_benchmark import format_refinement_rows
    from interhandgen_core.pipelines.prior_pipeline import resolve_device

    if args.json:
        if Path(args.json).is_dir():
            raise InterHandGenError(f"--json: {args.json} is a folder; give the name of the file to write")
        check_output_folder(Path(args.json).parent, "--json")
    what = args.target if args.target is not None else args.what
    if (what == "train") != (args.config is not None):
        raise InterHandGenError("bench train needs --config RECIPE, and --config is only for bench train")
    if what == "train":
        rows = [_bench_train(args)]
    elif what == "retarget":
        from interhandgen_core.config import config_overrides
        from interhandgen_core.evaluation.retargeting_benchmark import format_retarget_rows

        rows = run_retarget_benchmark(
            RetargetConfig(**config_overrides(args, ["robot"])),
            sequences=args.sequences,
            seed=args.seed,
            objects=args.objects,
            repeats=args.repeats,
            progress=not args.quiet,
        )
        print(format_retarget_rows(rows))
    elif what == "refine" and args.tune_one_euro:
        rows = _tune_one_euro(args)
    elif what == "refine":
        from interhandgen_core.runtime.configuration import BackendConfig

        if args.backends is not None and len(args.backends) > 1:
            raise InterHandGenError("bench refine times one backend at a time; give one in --backends")
        spec = args.backends[0] if args.backends else BackendConfig().spec
        motion, noise = tracking_configs(args)
        rows = run_refine_benchmark(
            sequences=args.sequences,
            motion=motion,
            noise=noise,
            seed=args.seed,
            device=args.device,
            checkpoint=args.checkpoint,
            backend=BackendConfig.parse(spec, cache_dir=args.cache_dir),
            progress=not args.quiet,
            suite=args.suite,
            one_euro=one_euro_config(args),
            passes=args.passes,
        )
        print(format_refinement_rows(rows))
    else:
        device = resolve_device(args.device)
        whats = {} if what is None else {"whats": (what,)}  # none given: run_benchmark's default
        result = run_benchmark(
            **whats,
            backends=args.backends or DEFAULT_BACKENDS[device.type],
            batches=args.batches,
            device=str(device),
            checkpoint=args.checkpoint,
            preset=args.preset,
            repeats=args.repeats,
            ddim_steps=args.ddim_steps,
            backend_fields={"cache_dir": args.cache_dir},
            progress=not args.quiet,
        )
        rows = result.rows
        print(format_rows(rows))
        for spec, reason in result.skipped.items():
            print(f"skipped {spec}: {reason}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")


def _tune_one_euro(args: argparse.Namespace) -> list[dict[str, Any]]:
    from interhandgen_core.evaluation.one_euro_tuning import (
        ONE_EURO_TUNING_SEED,
        format_tuning_rows,
        run_one_euro_tuning,
    )

    motion, noise = tracking_configs(args)
    # The benchmark's --seed default is 0; tuning on it would see the benchmark's sequences.
    seed = ONE_EURO_TUNING_SEED if args.seed == parameter_default(run_refine_benchmark, "seed") else args.seed
    rows = run_one_euro_tuning(args.sequences, motion, noise, seed, args.suite, progress=not args.quiet)
    print(f"One-Euro grid search on {args.sequences} {args.suite}-suite sequences of seed {seed}, best first:")
    print(format_tuning_rows(rows))
    best = rows[0]
    print(
        f"best: min_cutoff_hz={best['min_cutoff_hz']:g} beta={best['beta']:g} d_cutoff_hz={best['d_cutoff_hz']:g} "
        "(OneEuroConfig's defaults in interhandgen_core/refinement/one_euro.py hold the chosen values)"
    )
    return rows


def _bench_train(args: argparse.Namespace) -> dict[str, Any]:
    from interhandgen_core.evaluation.training_benchmark import count_scenes, format_train_row
    from interhandgen_core.pipelines.prior_pipeline import resolve_device
    from interhandgen_core.prior.configuration import TrainConfig

    config = TrainConfig.from_yaml(args.config)
    scenes = args.scenes
    if scenes is None and Path(config.train_data).is_file():
        scenes = count_scenes(Path(config.train_data))
    device = resolve_device(args.device)
    row = run_train_benchmark(config, str(device), args.repeats, scenes, args.processes, progress=not args.quiet)
    print(format_train_row(row))
    if scenes is None:
        print(f"no projection: {config.train_data} does not exist here; pass --scenes N")
    return row
