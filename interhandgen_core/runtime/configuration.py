"""BackendConfig: which runtime runs the denoiser D_phi, at which precision, and where its files live.

Every default lives here (ARCHITECTURE.md, "runtime"). The ROS nodes' ``backend``, ``engine_file_path``
and ``force_engine_update`` parameters and the command line's ``--backend`` map onto these
fields; see runtime/backend.py for what each backend needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import _ConfigBase, _require_choice, _require_int

BACKEND_NAMES = ("torch", "cuda-graph", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")
CACHE_ENV = "INTERHANDGEN_CACHE"
# What `interhandgen export --engine` builds unless told otherwise: TensorRT's reason to exist is fp16.
ENGINE_PRECISION = "fp16"


def default_cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines go: $INTERHANDGEN_CACHE, else ~/.cache/interhandgen."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "interhandgen"


@dataclass(frozen=True)
class BackendConfig(_ConfigBase):
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

    name: str = "torch"
    precision: str = "fp32"
    cache_dir: str | None = None
    onnx_path: str | None = None
    engine_path: str | None = None
    force_rebuild: bool = False
    max_batch: int = 512
    opt_batch: int = 64
    workspace_mb: int = 2048

    NAMES: ClassVar[tuple[str, ...]] = BACKEND_NAMES

    def __post_init__(self) -> None:
        owner = "BackendConfig"
        _require_choice(owner, "name", self.name, BACKEND_NAMES)
        _require_choice(owner, "precision", self.precision, PRECISIONS)
        _require_int(owner, "max_batch", self.max_batch, 1, 1 << 16)
        _require_int(owner, "opt_batch", self.opt_batch, 1, self.max_batch)
        _require_int(owner, "workspace_mb", self.workspace_mb, 16, 1 << 20)
        if not isinstance(self.force_rebuild, bool):
            raise ConfigError(f"{owner}.force_rebuild must be true or false, got {self.force_rebuild!r}")
        for name in ("cache_dir", "onnx_path", "engine_path"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{owner}.{name} must be a non-empty path string or None, got {value!r}")
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
