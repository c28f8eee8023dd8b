"""`interhandgen export`: a prior's denoiser (and object encoder) to ONNX, optionally a TensorRT engine.

interhandgen export --onnx FILE [--checkpoint PATH] [--encoder-onnx FILE] [--engine FILE --precision fp16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interhandgen_core.cli.arguments import positive_int
from interhandgen_core.cli.output_paths import checked_output_file
from interhandgen_core.config import default_of
from interhandgen_core.errors import ConfigError, InterHandGenError
from interhandgen_core.runtime.configuration import ENGINE_PRECISION, BackendConfig, engine_build_config


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="export a prior to ONNX (and optionally build a TensorRT engine)",
        description="Export a prior's denoiser (and its object encoder) to ONNX, and optionally build a TensorRT "
        "engine from it on this machine's GPU.",
    )
    export.add_argument("--onnx", required=True, help="output .onnx file of the denoiser (dynamic batch)")
    export.add_argument("--checkpoint", default=None, help="prior .safetensors (default: the shipped small prior)")
    export.add_argument(
        "--encoder-onnx", default=None, help="object-conditioned priors: the encoder's .onnx (default: beside --onnx)"
    )
    export.add_argument("--engine", default=None, help="also build a TensorRT engine here (needs TensorRT and CUDA)")
    export.add_argument(
        "--precision",
        default=None,
        choices=("fp32", "fp16"),
        help=f"--engine: kernel precision (default: {ENGINE_PRECISION})",
    )
    export.add_argument(
        "--max-batch",
        type=positive_int,
        default=None,
        help=f"--engine: largest batch of the profile (default: {default_of(BackendConfig, 'max_batch')})",
    )
    export.add_argument("--force-rebuild", action="store_true", help="--engine: rebuild even if a valid one exists")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from interhandgen_core.pipelines.prior_pipeline import resolve_device
    from interhandgen_core.pipelines.shipped_priors import default_checkpoint
    from interhandgen_core.prior.checkpoint import load_prior
    from interhandgen_core.runtime.factory import create_backend
    from interhandgen_core.runtime.onnx_export import export_denoiser, export_object_encoder

    onnx = checked_output_file(args.onnx, ".onnx", "--onnx")
    engine = None
    if args.engine:  # checked before any work: an engine needs CUDA (and TensorRT, checked when building)
        engine = engine_build_config(onnx, args.engine, args.precision, args.max_batch, args.force_rebuild)
        try:
            device = resolve_device("cuda")
        except ConfigError:  # the library's message offers a device choice this command does not have
            raise InterHandGenError(
                "--engine: a TensorRT engine is built on a CUDA device and this machine has none; "
                "export the ONNX file here without --engine and build the engine on the GPU machine"
            ) from None
    prior = load_prior(args.checkpoint or default_checkpoint())
    if args.encoder_onnx and prior.object_encoder is None:
        raise InterHandGenError("--encoder-onnx: this checkpoint has no object encoder")
    export_denoiser(prior.denoiser, onnx)
    print(f"wrote {onnx} (denoiser, dynamic batch)")
    if prior.object_encoder is not None:
        encoder = Path(args.encoder_onnx) if args.encoder_onnx else onnx.with_name(f"{onnx.stem}_encoder.onnx")
        export_object_encoder(prior.object_encoder, encoder)
        print(f"wrote {encoder} (object encoder, one cloud per call)")
    if engine is not None:
        create_backend(prior.denoiser.to(device).eval(), device, engine).close()
        print(f"wrote {engine.engine_path} (TensorRT {engine.precision} engine, batch 1..{engine.max_batch})")
