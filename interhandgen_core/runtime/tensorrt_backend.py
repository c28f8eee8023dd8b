"""The TensorRT backend: an engine built from the ONNX export, cached on disk, run on torch's stream.

    ONNX file (runtime/onnx_export.py)
      -> key: ONNX sha256, TensorRT version, GPU name and compute capability, precision, profile
      -> engine cache (runtime/engine_cache.py): hit -> load; miss, stale, foreign, corrupt -> build
      -> build: ONNX parser, FP16 kernels for precision fp16, one optimisation profile over the
         batch axis of every input (1 .. max_batch, tuned for opt_batch), the shared timing
         cache, progress reported per phase
      -> run: torch CUDA tensors bound by address (no copies), execute_async_v3 on torch's
         current stream, so it orders with the sampler's torch work like any torch kernel

Written against the TensorRT 10 Python API and imported lazily. TensorRT cannot be installed
on the machines this project is built and tested on, so this file has not been run there;
tests/runtime/test_tensorrt_backend.py runs it wherever ``import tensorrt`` works.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from interhandgen_core.errors import BackendError
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.engine_cache import (
    EngineCache,
    EngineKey,
    discard,
    file_sha256,
    lookup_at,
    store_at,
    write_timing_cache,
)
from interhandgen_core.runtime.onnx_export import DENOISER_INPUTS, DENOISER_OUTPUT, read_onnx_metadata

log = logging.getLogger("interhandgen_core.runtime")


def import_tensorrt() -> Any:
    """The tensorrt module, or a BackendError saying how to get it."""
    try:
        import tensorrt
    except ImportError as error:
        raise BackendError(
            "the tensorrt backend needs the TensorRT Python package (a Jetson: JetPack installs it, use a venv with "
            f"--system-site-packages; a desktop: pip install tensorrt): {error}"
        ) from None
    return tensorrt


def engine_key(onnx_path: Path, tensorrt_version: str, device: torch.device, config: BackendConfig) -> EngineKey:
    """The key of the engine that ``config`` asks for on ``device``."""
    major, minor = torch.cuda.get_device_capability(device)
    return EngineKey(
        onnx_sha256=file_sha256(onnx_path),
        tensorrt_version=tensorrt_version,
        gpu_name=torch.cuda.get_device_name(device),
        compute_capability=f"{major}.{minor}",
        precision=config.precision,
        min_batch=1,
        opt_batch=config.opt_batch,
        max_batch=config.max_batch,
    )


def _progress_monitor(trt: Any) -> Any:
    """A trt.IProgressMonitor logging each phase and showing a bar per top-level phase (TensorRT >= 10)."""
    from tqdm import tqdm

    class BuildProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._bars: dict[str, Any] = {}
            self._lock = threading.Lock()  # TensorRT may call from several threads

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)
                if parent_phase is None:
                    self._bars[phase_name] = tqdm(total=num_steps, desc=f"TensorRT: {phase_name}", leave=False)

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                bar = self._bars.get(phase_name)
                if bar is not None:
                    bar.update(1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                bar = self._bars.pop(phase_name, None)
                if bar is not None:
                    bar.close()

    return BuildProgress()


def build_engine(trt: Any, onnx_path: Path, key: EngineKey, config: BackendConfig, timing_cache: Path) -> bytes:
    """ONNX file -> serialized engine for ``key``; reads and updates the timing cache."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"{onnx_path}: TensorRT cannot parse it ({errors}); re-export it")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mb << 20)
    if key.precision == "fp16":
        builder_config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = tuple(tensor.shape)[1:]  # every input is (batch, ...) with the batch dynamic
        profile.set_shape(tensor.name, (key.min_batch, *rest), (key.opt_batch, *rest), (key.max_batch, *rest))
    builder_config.add_optimization_profile(profile)
    cache = builder_config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    builder_config.set_timing_cache(cache, ignore_mismatch=False)
    if hasattr(trt, "IProgressMonitor"):
        monitor = _progress_monitor(trt)  # kept alive until the build returns, as TensorRT requires
        builder_config.progress_monitor = monitor
    log.warning(
        "building a TensorRT %s engine for %s on %s (batch %d..%d): this takes minutes on a desktop GPU and up to tens "
        "of minutes on a Jetson, once per model, GPU and TensorRT version; later runs load it from the cache",
        key.precision,
        onnx_path.name,
        key.gpu_name,
        key.min_batch,
        key.max_batch,
    )
    serialized = builder.build_serialized_network(network, builder_config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build an engine from {onnx_path} (see TensorRT's log above)")
    write_timing_cache(timing_cache, bytes(builder_config.get_timing_cache().serialize()))
    return bytes(serialized)


class TensorRTBackend(DenoiserBackend):
    """D_phi as a TensorRT engine (fp16 or fp32), CUDA only."""

    def __init__(
        self, onnx_path: Path, config: BackendConfig, device: torch.device, hand_dim: int, object_embedding_dim: int
    ) -> None:
        super().__init__(config, device, hand_dim, object_embedding_dim)
        if device.type != "cuda":
            raise BackendError(f"the tensorrt backend needs a CUDA device, got {device}")
        trt = import_tensorrt()
        read_onnx_metadata(onnx_path)  # a corrupt or foreign ONNX file is refused before TensorRT parses it
        key = engine_key(onnx_path, trt.__version__, device, config)
        cache = EngineCache(config.resolved_cache_dir() / "engines")
        path = Path(config.engine_path).expanduser() if config.engine_path else cache.engine_path(key)
        lookup = lookup_at(path, key)
        self.built = False
        if config.force_rebuild or not lookup.hit:
            log.warning("TensorRT engine: %s", "rebuild forced" if lookup.hit else lookup.reason)
            self._build(trt, onnx_path, key, config, path, cache)
        self.engine = self._load(trt, path)
        if self.engine is None:  # passed every check yet TensorRT refuses it: rebuild once, then give up
            log.warning("TensorRT could not deserialise %s; rebuilding it", path)
            discard(path)
            self._build(trt, onnx_path, key, config, path, cache)
            self.engine = self._load(trt, path)
            if self.engine is None:
                raise BackendError(f"TensorRT cannot load the engine it just built at {path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        expected = list(DENOISER_INPUTS[: 5 if object_embedding_dim > 0 else 4])
        if self.input_names != expected or DENOISER_OUTPUT not in names:
            raise BackendError(f"{path}: engine tensors {names}, this model needs {expected} and {DENOISER_OUTPUT}")
        self.path = path

    def _build(
        self, trt: Any, onnx_path: Path, key: EngineKey, config: BackendConfig, path: Path, cache: EngineCache
    ) -> None:
        timing = cache.timing_cache_path(key.tensorrt_version, key.gpu_name, key.compute_capability)
        start = time.perf_counter()
        engine = build_engine(trt, onnx_path, key, config, timing)
        seconds = time.perf_counter() - start
        store_at(path, key, engine, seconds)
        log.warning("TensorRT engine built in %.0f s: %s", seconds, path)
        self.built = True

    @staticmethod
    def _load(trt: Any, path: Path) -> Any:
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        return runtime.deserialize_cuda_engine(path.read_bytes())

    @property
    def max_batch(self) -> int:
        return self.config.max_batch

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        inputs = [x_t.float(), t, cond.float(), cond_mask]
        if object_embedding is not None:
            inputs.append(object_embedding.float())
        # Held in this list until the call is queued; the caching allocator keeps their memory
        # for later work on the same stream, which runs after the engine.
        inputs = [tensor.contiguous() for tensor in inputs]
        for name, tensor in zip(self.input_names, inputs, strict=True):
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        out = torch.empty((x_t.shape[0], self.hand_dim), dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(DENOISER_OUTPUT, out.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise BackendError("TensorRT failed to run the engine (see TensorRT's log)")
        return out

    def close(self) -> None:
        self.__dict__.pop("context", None)
        self.__dict__.pop("engine", None)
