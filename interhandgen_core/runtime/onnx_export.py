"""ONNX export of the denoiser (dynamic batch) and of the object encoder (one cloud per call).

Files written here are what ONNX Runtime runs and what TensorRT builds engines from:

    denoiser   inputs  x_t (B, 64) float32, t (B,) int64, cond (B, 64) float32, cond_mask (B,) bool,
                       object_embedding (B, E) float32 (object-conditioned models only)
               output  x0 (B, 64) float32;  B is the dynamic axis "batch"
    encoder    input   points (1, P, 3) float32, metres, object frame;  output embedding (1, E)
               (the encoder runs once per cloud; its farthest-point sampling unrolls into a
               fixed number of steps, so one cloud per call keeps the graph small)

Each file carries metadata (``metadata_props``): what it is, the fingerprint of the weights and
configuration it came from (``model_fingerprint``), the configuration itself and the library
version, so that a file exported from other weights is refused instead of silently run.
Exports use torch's dynamo-based exporter (``torch.onnx.export(dynamo=True)``, which needs
``onnxscript``), opset ``OPSET``, fp32 weights on the CPU, written atomically.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from interhandgen_core.errors import BackendError, ConfigError
from interhandgen_core.prior.checkpoint import library_version
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.runtime.configuration import BackendConfig

OPSET = 18
DENOISER_INPUTS = ("x_t", "t", "cond", "cond_mask", "object_embedding")
DENOISER_OUTPUT = "x0"
ENCODER_INPUT = "points"
ENCODER_OUTPUT = "embedding"
KIND_KEY = "interhandgen.kind"
FINGERPRINT_KEY = "interhandgen.model_fingerprint"
CONFIG_KEY = "interhandgen.config"
VERSION_KEY = "interhandgen.library_version"

log = logging.getLogger("interhandgen_core.runtime")


def _require_onnx() -> Any:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the dynamo exporter's dependency: fail here with the hint, not mid-export)
    except ImportError as error:
        raise BackendError(
            f"ONNX export needs the onnx extra (pip install 'interhandgen-core[onnx]': onnx, onnxscript, "
            f"onnxruntime): {error}"
        ) from None
    return onnx


def model_fingerprint(module: Denoiser | ObjectEncoder) -> str:
    """sha256 (hex) of a module's configuration and every parameter and buffer, by name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(module.config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    # The exporter logs every skipped optional op library and deprecation; none of it is ours to fix.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _export(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    names: list[str],
    output: str,
    dynamic: bool,
    metadata: dict[str, str],
) -> Path:
    onnx = _require_onnx()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=1 << 16)
        shapes = tuple({0: batch} for _ in names)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                module,
                args,
                str(tmp),
                input_names=names,
                output_names=[output],
                dynamo=True,
                dynamic_shapes=shapes,
                opset_version=OPSET,
                external_data=False,
                verbose=False,
            )
        model = onnx.load(str(tmp))
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _metadata(kind: str, module: Denoiser | ObjectEncoder) -> dict[str, str]:
    return {
        KIND_KEY: kind,
        FINGERPRINT_KEY: model_fingerprint(module),
        CONFIG_KEY: json.dumps(module.config.to_dict(), sort_keys=True),
        VERSION_KEY: library_version(),
    }


def export_denoiser(denoiser: Denoiser, path: str | Path) -> Path:
    """Write ``denoiser`` (any device, fp32 export) to ``path`` as ONNX with a dynamic batch axis."""
    if denoiser.config.num_hands != 1:
        raise ConfigError("the joint two-hand baseline (num_hands 2) is an evaluation model; it is not exported")
    module = copy.deepcopy(denoiser).to("cpu", torch.float32).eval()
    config = module.config
    batch = 2  # not 1: a size-1 example lets the exporter specialise broadcasting on the batch axis
    args: tuple[torch.Tensor, ...] = (
        torch.zeros(batch, config.hand_dim),
        torch.zeros(batch, dtype=torch.long),
        torch.zeros(batch, config.hand_dim),
        torch.tensor([True, False]),
    )
    names = list(DENOISER_INPUTS[:4])
    if config.object_embedding_dim > 0:
        args += (torch.zeros(batch, config.object_embedding_dim),)
        names.append(DENOISER_INPUTS[4])
    return _export(module, args, Path(path), names, DENOISER_OUTPUT, True, _metadata("denoiser", module))


def export_object_encoder(encoder: ObjectEncoder, path: str | Path) -> Path:
    """Write ``encoder`` to ``path`` as ONNX taking one cloud, points (1, num_points, 3)."""
    module = copy.deepcopy(encoder).to("cpu", torch.float32).eval()
    args = (
        torch.zeros(1, module.config.num_points, 3).uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(0)),
    )
    return _export(
        module, args, Path(path), [ENCODER_INPUT], ENCODER_OUTPUT, False, _metadata("object_encoder", module)
    )


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The interhandgen metadata of an exported file; BackendError for a missing, truncated or foreign file."""
    onnx = _require_onnx()
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"{path}: no such ONNX file; write one with `interhandgen export --onnx {path}`")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as error:  # protobuf's DecodeError, onnx's ValidationError: both mean "not a usable file"
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BackendError(f"{path}: not a valid ONNX model (truncated or corrupt?): {first}; re-export it") from None
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    if KIND_KEY not in metadata or FINGERPRINT_KEY not in metadata:
        raise BackendError(f"{path}: an ONNX file without interhandgen metadata; export it with `interhandgen export`")
    return metadata


def onnx_for_denoiser(denoiser: Denoiser, config: BackendConfig) -> Path:
    """The ONNX file to run ``denoiser`` from: config.onnx_path when it was exported from these weights,
    else one exported into config's cache directory (re-exported when missing or unreadable)."""
    fingerprint = model_fingerprint(denoiser)
    if config.onnx_path is not None:
        path = Path(config.onnx_path).expanduser()
        metadata = read_onnx_metadata(path)
        if metadata[KIND_KEY] != "denoiser" or metadata[FINGERPRINT_KEY] != fingerprint:
            raise BackendError(
                f"{path} holds a {metadata[KIND_KEY]} exported from other weights "
                f"({metadata[FINGERPRINT_KEY][:12]}, the loaded checkpoint is {fingerprint[:12]}); "
                f"export this checkpoint with `interhandgen export --checkpoint ... --onnx {path}`"
            )
        return path
    path = config.resolved_cache_dir() / "onnx" / f"denoiser-{fingerprint[:16]}.onnx"
    if path.is_file():
        try:
            if read_onnx_metadata(path)[FINGERPRINT_KEY] == fingerprint:
                return path
            reason = "exported from other weights"
        except BackendError as error:
            reason = str(error)
        log.warning("re-exporting the cached ONNX denoiser: %s", reason)
    else:
        log.info("exporting the denoiser to %s (once per checkpoint)", path)
    return export_denoiser(denoiser, path)
