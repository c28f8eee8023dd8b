"""The command line's argparse value types and the option groups that several commands share.

Defaults shown in help texts are read from where they are defined, never written again here:
an option that mirrors a configuration field declared with ``config.setting`` is added by
``config.add_config_options`` (default None, so that the configuration's own default applies;
the help shows it and the range); an option that mirrors a field of a configuration dataclass
not (yet) so declared defaults to None too, its help reading the default with
``dataclass_default``; an option whose default the command itself passes on takes it from the
library function's signature (``parameter_default``) and shows it with ``%(default)s``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

from interhandgen_core.config import add_config_options, config_overrides, default_of
from interhandgen_core.data.motion_sequences import MotionConfig
from interhandgen_core.data.procedural_objects import ALL_FAMILIES
from interhandgen_core.data.tracker_noise import TrackerNoiseConfig
from interhandgen_core.data.tracking_suites import SUITES
from interhandgen_core.errors import ConfigError, InterHandGenError
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.pipelines.grasp import RANKINGS
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.refinement.one_euro import OneEuroConfig
from interhandgen_core.runtime.configuration import BACKEND_NAMES, BackendConfig, default_cache_dir

# The sampler's anti-penetration guidance weight (SamplerConfig.penetration_guidance_weight); --pen-weight,
# its short form, stays accepted for the scripts written before the field had its own name.
PENETRATION_GUIDANCE_FLAGS = ("--penetration-guidance-weight", "--pen-weight")

# --penetration-guidance-weight, --contact-weight and --settle-iterations of grasp and evaluate grasps.
GRASP_GUIDANCE_FLAGS: dict[str, str | tuple[str, ...]] = {
    "penetration_guidance_weight": PENETRATION_GUIDANCE_FLAGS,
    "object_contact_weight": "--contact-weight",
    "settle_iterations": "--settle-iterations",
}

# --steps and --cfg of grasp and evaluate grasps: the denoising chain itself.
GRASP_SAMPLER_FLAGS: dict[str, str | tuple[str, ...]] = {"ddim_steps": "--steps", "cfg_weight": "--cfg"}

# What grasp and evaluate grasps do with a cloud seen from one side (README "Clouds seen from one side").
ONE_SIDED_FLAGS: dict[str, str | tuple[str, ...]] = {"one_sided_completion": "--one-sided-completion"}

# The One-Euro row's settings of bench refine (--one-euro-min-cutoff-hz, ...); its rate comes from the sequences.
ONE_EURO_FIELDS = ("min_cutoff_hz", "beta", "d_cutoff_hz", "max_hold_s")

# Every field of GraspPhysicsConfig is an option of grasp --physics and evaluate grasps --physics.
PHYSICS_FIELDS = tuple(f.name for f in dataclasses.fields(GraspPhysicsConfig))


def dataclass_default(config: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``config`` (a configuration not declared with config.setting)."""
    for field in dataclasses.fields(config):
        if field.name == name:
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            return field.default
    raise AttributeError(f"{config.__name__} has no field {name!r}")


def parameter_default(function: Callable[..., Any], name: str) -> Any:
    """The default of parameter ``name`` of a library function, for the option that passes it on."""
    return inspect.signature(function).parameters[name].default


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def family_list(text: str) -> tuple[str, ...]:
    """An argparse type: distinct comma-separated object families of data/procedural_objects.py, or 'all'."""
    if text.strip() == "all":
        return ALL_FAMILIES
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in ALL_FAMILIES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown object families {', '.join(unknown) or repr(text)}; choose from {', '.join(ALL_FAMILIES)}, or all"
        )
    return names


def split_list(text: str) -> list[str]:
    """An argparse type: distinct comma-separated split names."""
    splits = [part.strip() for part in text.split(",") if part.strip()]
    if not splits or len(set(splits)) != len(splits):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated split names, got {text!r}")
    return splits


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1."""
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers >= 1, got {text!r}")
    return values


def float_triple(text: str) -> tuple[float, float, float]:
    """An argparse type: 'x,y,z' -> (x, y, z) metres."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers x,y,z (metres), got {text!r}")
    return values[0], values[1], values[2]


def backend_spec(text: str) -> str:
    """An argparse type: NAME or NAME:PRECISION, checked against BackendConfig now rather than after loading."""
    try:
        return BackendConfig.parse(text).spec
    except InterHandGenError as error:
        # argparse names the option; the configuration's field name ("BackendConfig.name") is the API's.
        raise argparse.ArgumentTypeError(re.sub(r"^BackendConfig\.\w+ ", "", str(error))) from None


def backend_list(text: str) -> list[str]:
    """An argparse type: comma-separated backend_spec."""
    specs = [part for part in text.split(",") if part]
    if not specs:
        raise argparse.ArgumentTypeError(f"expected comma-separated backends, got {text!r}")
    return [backend_spec(spec) for spec in specs]


def add_backend_arguments(parser: argparse.ArgumentParser, backends_default: str | None = None) -> None:
    """--backend (or, given backends_default, the text of bench's default, --backends) and --cache-dir.

    Left out, they keep BackendConfig's defaults (backend_config returns None).
    """
    if backends_default is not None:
        parser.add_argument(
            "--backends",
            type=backend_list,
            default=None,
            help="comma-separated NAME[:PRECISION] (torch, cuda-graph, onnxruntime, tensorrt; fp32, fp16, bf16); "
            f"default: {backends_default}",
        )
    else:
        parser.add_argument(
            "--backend",
            type=backend_spec,
            default=None,
            help=f"denoiser runtime NAME[:PRECISION]: {', '.join(BACKEND_NAMES)} "
            f"(default: {default_of(BackendConfig, 'name')})",
        )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help=f"exported ONNX files and TensorRT engines (default: {default_cache_dir()})".replace("%", "%%"),
    )


def backend_config(args: argparse.Namespace) -> BackendConfig | None:
    """The BackendConfig that add_backend_arguments' --backend and --cache-dir ask for; None: the default."""
    if args.backend is None and args.cache_dir is None:
        return None
    return BackendConfig.parse(args.backend or BackendConfig().spec, cache_dir=args.cache_dir)


# How guidance is applied (README "Anti-penetration guidance"): sample, grasp and evaluate grasps.
GUIDANCE_SCHEDULE_FLAGS: dict[str, str | tuple[str, ...]] = {
    "hand_guidance": "--hand-guidance",
    "penetration_min_weight": "--guidance-min-weight",
    "penetration_max_step": "--guidance-max-step",
    "final_guidance_steps": "--final-guidance-steps",
}


def add_guidance_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per GUIDANCE_SCHEDULE_FLAGS field; left out, SamplerConfig's defaults (with_guidance_schedule reads them)."""
    add_config_options(parser, SamplerConfig, GUIDANCE_SCHEDULE_FLAGS, flags=GUIDANCE_SCHEDULE_FLAGS)


def _with_sampler_options(
    model: PriorPipeline, args: argparse.Namespace, flags: dict[str, str | tuple[str, ...]]
) -> None:
    """Set the SamplerConfig options of ``flags`` that were given on ``model.sampler_config``, the base of its
    sampling calls."""
    given = config_overrides(args, flags)
    if given:
        model.sampler_config = dataclasses.replace(model.sampler_config, **given)


def with_guidance_schedule(model: PriorPipeline, args: argparse.Namespace) -> None:
    """The options of add_guidance_schedule_arguments that were given, on ``model.sampler_config``."""
    _with_sampler_options(model, args, GUIDANCE_SCHEDULE_FLAGS)


def add_grasp_guidance_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of grasp and evaluate grasps: the object-conditioned prior, its device and its guidance weights.

    Left out, the weights keep SamplerConfig's defaults (and evaluate grasps reports them as null).
    """
    parser.add_argument("--checkpoint", default=None, help="object-conditioned prior (default: the shipped one)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    add_config_options(parser, SamplerConfig, GRASP_GUIDANCE_FLAGS, flags=GRASP_GUIDANCE_FLAGS)
    add_config_options(parser, SamplerConfig, ONE_SIDED_FLAGS, flags=ONE_SIDED_FLAGS)
    add_guidance_schedule_arguments(parser)


def add_grasp_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """--steps and --cfg (GRASP_SAMPLER_FLAGS); left out, SamplerConfig's defaults."""
    add_config_options(parser, SamplerConfig, GRASP_SAMPLER_FLAGS, flags=GRASP_SAMPLER_FLAGS)


def with_grasp_sampler_options(model: PriorPipeline, args: argparse.Namespace) -> None:
    """The options that were given of add_grasp_sampler_arguments (--steps, --cfg) and of
    add_grasp_guidance_arguments' guidance schedule and --one-sided-completion, on ``model.sampler_config``: the
    base of the sampling calls of grasp and evaluate grasps."""
    _with_sampler_options(model, args, {**GUIDANCE_SCHEDULE_FLAGS, **ONE_SIDED_FLAGS, **GRASP_SAMPLER_FLAGS})


def add_physics_arguments(parser: argparse.ArgumentParser, help_text: str) -> None:
    """--physics (its help: ``help_text``) and one option per GraspPhysicsConfig field, in their own group.

    Left out, the fields keep GraspPhysicsConfig's defaults (the one source of them); physics_config reads them.
    """
    parser.add_argument("--physics", action="store_true", help=help_text)
    parser.add_argument(
        "--rank",
        choices=RANKINGS,
        default="score",
        help="score: by the press balance and plausibility; physics: also try every proposal in MuJoCo on the "
        "solid reconstructed from the cleaned cloud, completed where it was seen from one side, and rank by "
        "the pushes held (seconds more; a one-sided cloud with --one-sided-completion off cannot be closed and "
        "falls back to the score) (default: %(default)s)",
    )
    add_config_options(
        parser.add_argument_group("physics validation (with --physics; README 'Physics validation')"),
        GraspPhysicsConfig,
        PHYSICS_FIELDS,
    )


def physics_config(args: argparse.Namespace) -> GraspPhysicsConfig | None:
    """The GraspPhysicsConfig that add_physics_arguments' options ask for; None without --physics or --rank physics.

    ConfigError (one line, naming them) for physics options given without either.
    """
    options = config_overrides(args, PHYSICS_FIELDS)
    wanted = args.physics or args.rank == "physics"
    if options and not wanted:
        given = ", ".join("--" + name.replace("_", "-") for name in options)
        raise ConfigError(f"{given}: physics options apply only with --physics or --rank physics")
    if "rank_candidates" in options and args.rank != "physics":
        raise ConfigError("--rank-candidates: applies only with --rank physics (how many proposals it tries)")
    return GraspPhysicsConfig(**options) if wanted else None


def add_tracking_arguments(parser: argparse.ArgumentParser, min_frames: int, prefix: str = "") -> None:
    """--frames, --noise-mm and --jitter-only: the tracking data of `data motion` and `bench refine`.

    Left out, they keep MotionConfig's and TrackerNoiseConfig's defaults (the one source of them).
    """
    frames = dataclass_default(MotionConfig, "frames")
    noise_mm = 1000.0 * dataclass_default(TrackerNoiseConfig, "jitter_std_m")
    parser.add_argument(
        "--frames",
        type=int_at_least(min_frames),
        default=None,
        help=f"{prefix}frames per sequence (default: {frames})",
    )
    parser.add_argument(
        "--noise-mm",
        type=non_negative_float,
        default=None,
        help=f"{prefix}tracker jitter, per-axis std (mm) (default: {noise_mm:g})",
    )
    parser.add_argument(
        "--jitter-only", action="store_true", help=f"{prefix}no outliers, lost hands or low-confidence frames"
    )


def tracking_configs(args: argparse.Namespace) -> tuple[MotionConfig, TrackerNoiseConfig]:
    """The MotionConfig and TrackerNoiseConfig that add_tracking_arguments' options ask for."""
    motion = MotionConfig() if args.frames is None else MotionConfig(frames=args.frames)
    noise = TrackerNoiseConfig()
    if args.noise_mm is not None:
        noise = dataclasses.replace(noise, jitter_std_m=args.noise_mm / 1000.0)
    if args.jitter_only:  # Gaussian jitter alone
        noise = dataclasses.replace(
            noise, outlier_probability=0.0, dropout_probability=0.0, low_confidence_probability=0.0
        )
    return motion, noise


def add_refine_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """--suite, --tune-one-euro and the One-Euro row's settings: the refine options of `bench`."""
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default=SUITES[0],
        help="refine: the sequences: default (the hand model's skeleton, slow drift: the original benchmark) or "
        "wide (skeleton mismatch, bone jitter, hands carried up to 1.5 m/s, finger occlusions; 8 recipes) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--tune-one-euro",
        action="store_true",
        help="refine: grid-search the One-Euro baseline's settings on sequences of another seed "
        "(--seed, default 7 instead of the benchmark's) instead of running the benchmark",
    )
    add_config_options(
        parser,
        OneEuroConfig,
        ONE_EURO_FIELDS,
        flags={name: "--one-euro-" + name.replace("_", "-") for name in ONE_EURO_FIELDS},
    )


def one_euro_config(args: argparse.Namespace) -> OneEuroConfig | None:
    """The One-Euro row's settings given on the command line, or None (OneEuroConfig's tuned defaults)."""
    given = config_overrides(args, ONE_EURO_FIELDS)
    return OneEuroConfig(**given) if given else None


def add_converter_arguments(parser: argparse.ArgumentParser, name: str, piece: str, splits: tuple[str, ...]) -> None:
    """The options data interhand and data arctic share: MANO, output, splits, parts, progress."""
    parser.add_argument("--mano-dir", required=True, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl")
    parser.add_argument("--out", required=True, help=f"output folder: {name}_<split>.npz and its .json summary")
    parser.add_argument(
        "--splits", type=split_list, default=None, help=f"comma-separated (default: {','.join(splits)})"
    )
    parser.add_argument("--keep-parts", action="store_true", help=f"keep the per-{piece} parts after merging")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
