"""BackendConfig: which runtime runs the denoiser D_phi, at which precision, and where its files live.

Every default and range lives here, in the field declarations (interhandgen_core/config.py). The ROS
nodes' ``backend``, ``precision``, ``max_batch_size``, ``engine_file_path`` and ``force_engine_update``
parameters and the command line's ``--backend`` map onto these fields; see runtime/backend.py for
what each backend needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from interhandgen_core.config import ConfigBase, require_int, setting
from interhandgen_core.errors import ConfigError

BACKEND_NAMES = ("torch", "cuda-graph", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")
CACHE_ENV = "INTERHANDGEN_CACHE"
# What `interhandgen export --engine` builds unless told otherwise: TensorRT's reason to exist is fp16.
ENGINE_PRECISION = "fp16"


def default_cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines go: $INTERHANDGEN_CACHE, else $XDG_CACHE_HOME/interhandgen
    (~/.cache/interhandgen). The only folder a command writes besides the paths it is given (README "Commands")."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "interhandgen"


@dataclass(frozen=True)
class BackendConfig(ConfigBase):
    """How the denoiser runs.

    name: "torch" (eager), "cuda-graph" (CUDA only: captured and replayed per batch size, and the
        whole guided DDIM loop captured by the sampler), "onnxruntime" (CPU, or its CUDA provider
        where onnxruntime-gpu is installed), "tensorrt" (CUDA only; an engine built from the ONNX
        export and cached, runtime/tensorrt_backend.py).
    precision: "fp32"; "fp16" / "bf16" run torch and CUDA graphs under autocast (CUDA; bf16 also on
        the CPU) and build TensorRT engines with FP16 kernels allowed ("fp16" only). ONNX Runtime
        runs the fp32 export.
    cache_dir: exported ONNX files and TensorRT engines (None: default_cache_dir()).
    onnx_path: an exported denoiser (``interhandgen export``) to use instead of exporting the
        loaded checkpoint into the cache; refused when it was exported from other weights.
    engine_path: a TensorRT engine file to use (built there when missing or stale) instead of
        one in the cache.
    force_rebuild: rebuild the TensorRT engine even when a valid cached one exists.
    max_batch: the largest denoiser batch (TensorRT: the optimisation profile's maximum; the
        sampler splits bigger requests). CFG doubles a batch of N samples to 2N.
    opt_batch: the batch TensorRT tunes its kernels for.
    workspace_mb: TensorRT builder workspace.
    """

    name: str = setting("torch", choices=BACKEND_NAMES, help="denoiser runtime")
    precision: str = setting("fp32", choices=PRECISIONS, help="denoiser precision (fp16/bf16: CUDA)")
    cache_dir: str | None = setting(None, help="folder of exported ONNX files and engines; none: the default cache")
    onnx_path: str | None = setting(None, help="an exported denoiser to use instead of exporting the checkpoint")
    engine_path: str | None = setting(None, help="TensorRT engine file; none: one in the cache")
    force_rebuild: bool = setting(False, help="rebuild the TensorRT engine even if a valid one exists")
    max_batch: int = setting(512, low=1, high=1 << 16, help="largest denoiser batch (TensorRT profile)")
    opt_batch: int = setting(64, low=1, help="batch TensorRT tunes its kernels for (<= max_batch)")
    workspace_mb: int = setting(2048, low=16, high=1 << 20, units="MB", help="TensorRT builder workspace")

    NAMES: ClassVar[tuple[str, ...]] = BACKEND_NAMES

    def check_consistency(self) -> None:
        owner = "BackendConfig"
        require_int(owner, "opt_batch", self.opt_batch, 1, self.max_batch)
        if self.name == "onnxruntime" and self.precision != "fp32":
            raise ConfigError(
                f"{owner}: the onnxruntime backend runs the fp32 export; use precision fp32 "
                f"(fp16 engines: the tensorrt backend), got {self.precision!r}"
            )
        if self.name == "tensorrt" and self.precision == "bf16":
            raise ConfigError(f"{owner}: the tensorrt backend builds fp32 or fp16 engines, got precision 'bf16'")

    @classmethod
    def parse(cls, spec: str, **fields: object) -> BackendConfig:
        """'NAME' or 'NAME:PRECISION' (e.g. 'cuda-graph:bf16') -> BackendConfig, other fields from ``fields``."""
        name, _, precision = spec.partition(":")
        values = {**fields, "name": name}
        if precision:
            values["precision"] = precision
        return cls(**values)  # type: ignore[arg-type]

    @property
    def spec(self) -> str:
        """The inverse of ``parse``: 'torch', 'cuda-graph:bf16', ..."""
        return self.name if self.precision == "fp32" else f"{self.name}:{self.precision}"

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


def engine_build_config(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str | None = None,
    max_batch: int | None = None,
    force_rebuild: bool = False,
) -> BackendConfig:
    """The TensorRT BackendConfig that builds an engine at ``engine_path`` from the exported denoiser ``onnx_path``.

    precision: "fp32" or "fp16" kernels; None: ENGINE_PRECISION. max_batch: the optimisation
    profile's largest batch (denoiser rows; None: the field's default); the profile is tuned for
    the default opt_batch, or for max_batch where that is smaller. force_rebuild: rebuild even
    when a valid engine is already there. Raises ConfigError for values BackendConfig refuses.
    """
    defaults = BackendConfig()
    largest = defaults.max_batch if max_batch is None else max_batch
    return BackendConfig(
        name="tensorrt",
        precision=precision or ENGINE_PRECISION,
        onnx_path=str(onnx_path),
        engine_path=str(engine_path),
        force_rebuild=force_rebuild,
        max_batch=largest,
        opt_batch=min(defaults.opt_batch, largest),
    )
