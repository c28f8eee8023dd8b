"""The TensorRT backend: an engine built from the ONNX export, cached on disk, run on torch's stream.

    ONNX file (runtime/onnx_export.py): x_t (B, 64) f32, t (B,) i64, cond (B, 64) f32,
        cond_mask (B,) bool, [object_embedding (B, E) f32] -> x0 (B, 64) f32; B dynamic ("batch")
      -> key: ONNX sha256, TensorRT version, GPU name and compute capability, precision, profile
      -> engine cache (runtime/engine_cache.py): hit -> load; miss, stale, foreign, corrupt or
         BackendConfig.force_rebuild -> build, with the reason logged
      -> build: ONNX parser, FP16 kernels for precision fp16, one optimisation profile over the
         batch axis of every input (1 .. max_batch, tuned for opt_batch), the timing cache shared
         by every build on this GPU and TensorRT version, progress reported per phase
      -> load: the sidecar is checked before TensorRT sees a byte; an engine TensorRT still
         refuses is deleted and rebuilt once
      -> run: torch CUDA tensors bound by address (no copies), execute_async_v3 on torch's
         current stream, so it orders with the sampler's torch work like any torch kernel

Written against the TensorRT 10 Python API and imported lazily (``import tensorrt`` only inside
functions), so that this module imports everywhere. TensorRT cannot be installed on the machines
this project is built and tested on; tests/runtime/test_tensorrt_backend.py drives the control
flow with a stand-in module everywhere and the real thing wherever ``import tensorrt`` works.
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

# IProgressMonitor, int64 and bool I/O and create_network(0) meaning explicit batch all start at 10.
MIN_TENSORRT_MAJOR = 10


def import_tensorrt() -> Any:
    """The tensorrt module (version 10 or newer), or a BackendError saying how to get it."""
    try:
        import tensorrt
    except ImportError as error:  # also a broken install: libnvinfer missing surfaces as ImportError
        raise BackendError(
            "the tensorrt backend needs the TensorRT Python package (JetPack on a Jetson, with a venv made with "
            f"--system-site-packages; pip install tensorrt on a desktop): {error}"
        ) from None
    version = str(getattr(tensorrt, "__version__", "0"))
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < MIN_TENSORRT_MAJOR:
        raise BackendError(
            f"the tensorrt backend needs TensorRT {MIN_TENSORRT_MAJOR} or newer, found {version}; upgrade it "
            "(JetPack 6.1 or newer on a Jetson; pip install 'tensorrt>=10' on a desktop) or use the onnxruntime backend"
        )
    return tensorrt


def engine_key(onnx_path: Path, tensorrt_version: str, device: torch.device, config: BackendConfig) -> EngineKey:
    """The key of the engine that ``config`` asks for on ``device`` (hashes the ONNX file)."""
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
    """A trt.IProgressMonitor that logs each phase and shows a tqdm bar per top-level phase."""
    bar_type: Any = None
    try:
        from tqdm import tqdm

        bar_type = tqdm
    except ImportError:  # a declared dependency, but a bare Jetson venv may lack it: log lines suffice
        pass

    class BuildProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._bars: dict[str, Any] = {}
            self._lock = threading.Lock()  # TensorRT calls from several of its threads

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)
                if parent_phase is None and bar_type is not None:
                    self._bars[phase_name] = bar_type(total=num_steps, desc=f"TensorRT: {phase_name}", leave=False)

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

        def close(self) -> None:
            """Close bars of phases TensorRT never finished (a failed build)."""
            with self._lock:
                for bar in self._bars.values():
                    bar.close()
                self._bars.clear()

    return BuildProgress()


def build_engine(trt: Any, onnx_path: Path, key: EngineKey, config: BackendConfig, timing_cache: Path) -> bytes:
    """ONNX file -> serialized engine (bytes) for ``key``; reads and updates the timing cache file."""
    # TensorRT requires the monitor to outlive every object that uses it: it is created here and
    # the builder, network and config live only inside _build_serialized, which returns first.
    monitor = _progress_monitor(trt) if hasattr(trt, "IProgressMonitor") else None
    try:
        return _build_serialized(trt, onnx_path, key, config, timing_cache, monitor)
    finally:
        if monitor is not None:
            monitor.close()


def _build_serialized(
    trt: Any, onnx_path: Path, key: EngineKey, config: BackendConfig, timing_cache: Path, monitor: Any
) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise BackendError(f"{onnx_path}: TensorRT cannot parse this ONNX file ({errors}); re-export it")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mb << 20)
    if key.precision == "fp16":
        builder_config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = tuple(tensor.shape)[1:]  # every input is (batch, ...): only the batch may vary
        if any(size < 0 for size in rest):
            raise BackendError(
                f"{onnx_path}: input {tensor.name} has shape {tuple(tensor.shape)}; only its first (batch) axis may "
                "be dynamic; re-export it with runtime/onnx_export.py"
            )
        profile.set_shape(tensor.name, (key.min_batch, *rest), (key.opt_batch, *rest), (key.max_batch, *rest))
    builder_config.add_optimization_profile(profile)
    _attach_timing_cache(builder_config, timing_cache)
    if monitor is not None:
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
        raise BackendError(
            f"TensorRT could not build an engine from {onnx_path} (see TensorRT's log above); a larger "
            f"BackendConfig.workspace_mb (now {config.workspace_mb}) or a smaller max_batch (now {key.max_batch}) "
            "may help"
        )
    try:
        write_timing_cache(timing_cache, bytes(builder_config.get_timing_cache().serialize()))
    except OSError as error:  # only later builds are slower for it
        log.warning("could not save TensorRT's timing cache to %s: %s", timing_cache, error)
    return bytes(serialized)


def _attach_timing_cache(builder_config: Any, path: Path) -> None:
    """Give the build the timing cache in ``path``, or an empty one where that file is missing or unusable."""
    data = b""
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as error:
            log.warning("could not read TensorRT's timing cache %s (%s); building without it", path, error)
    try:
        cache = builder_config.create_timing_cache(data)
        attached = cache is not None and builder_config.set_timing_cache(cache, ignore_mismatch=False)
    except Exception:  # a corrupt blob is reported by a None, a False or an exception, by version
        attached = False
    if not attached:
        if data:
            log.warning("TensorRT's timing cache %s is unusable; building without it (it is replaced after)", path)
        builder_config.set_timing_cache(builder_config.create_timing_cache(b""), ignore_mismatch=False)


def _torch_dtypes(trt: Any) -> dict[Any, torch.dtype]:
    """TensorRT I/O data types -> torch dtypes (what the ONNX parser may make of our inputs and output)."""
    return {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
        trt.DataType.BOOL: torch.bool,
    }


class TensorRTBackend(DenoiserBackend):
    """D_phi as a TensorRT engine (fp16 or fp32), CUDA only.

    ``built`` tells whether this construction built the engine (False: loaded from the cache);
    ``path`` is the engine file.
    """

    def __init__(
        self, onnx_path: Path, config: BackendConfig, device: torch.device, hand_dim: int, object_embedding_dim: int
    ) -> None:
        super().__init__(config, device, hand_dim, object_embedding_dim)
        if device.type != "cuda":
            raise BackendError(f"the tensorrt backend needs a CUDA device, got {device}; use torch or onnxruntime")
        trt = import_tensorrt()
        onnx_path = Path(onnx_path)
        read_onnx_metadata(onnx_path)  # a missing, corrupt or foreign ONNX file is refused before TensorRT parses it
        key = engine_key(onnx_path, trt.__version__, device, config)
        cache = EngineCache(config.resolved_cache_dir() / "engines")
        path = Path(config.engine_path).expanduser() if config.engine_path else cache.engine_path(key)
        self.path = path
        self.built = False
        self._logger = trt.Logger(trt.Logger.WARNING)
        # The runtime must outlive the engines it deserialised: held here, released last in close().
        self._runtime = trt.Runtime(self._logger)
        # The sidecar is checked (and a corrupt entry deleted) before TensorRT reads a byte of the engine.
        lookup = lookup_at(path, key) if config.engine_path else cache.lookup(key)
        if config.force_rebuild or not lookup.hit:
            reason = "BackendConfig.force_rebuild is set" if lookup.hit else lookup.reason
            log.warning("TensorRT engine: rebuilding, %s", reason)
            self._build(trt, onnx_path, key, config, path, cache)
        engine = self._deserialize(path)
        if engine is None and not self.built:  # a cached engine passed every check yet TensorRT refuses it
            log.warning("TensorRT could not deserialise %s; deleting and rebuilding it", path)
            discard(path)
            self._build(trt, onnx_path, key, config, path, cache)
            engine = self._deserialize(path)
        if engine is None:  # refused straight after a build: another build would fail alike, and take as long
            discard(path)
            raise BackendError(
                f"TensorRT cannot load the engine it has just built at {path} (see TensorRT's log above); check that "
                "the TensorRT Python package matches the installed TensorRT libraries"
            )
        self.engine: Any = engine
        self._bind_names(trt, path)
        self.context: Any = self.engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"TensorRT could not create an execution context for {path} (out of GPU memory?)")

    def _bind_names(self, trt: Any, path: Path) -> None:
        """Check the engine's tensors against this model's and record each one's torch dtype."""
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        expected = list(DENOISER_INPUTS[: 5 if self.object_embedding_dim > 0 else 4])
        if sorted(inputs) != sorted(expected) or outputs != [DENOISER_OUTPUT]:
            raise BackendError(
                f"{path}: the engine has inputs {inputs} and outputs {outputs}; this model needs inputs {expected} "
                f"and the output {DENOISER_OUTPUT!r}; rebuild it from this model's ONNX export (force_rebuild)"
            )
        known = _torch_dtypes(trt)
        self.dtypes: dict[str, torch.dtype] = {}
        for name in names:
            trt_dtype = self.engine.get_tensor_dtype(name)
            if trt_dtype not in known:
                raise BackendError(f"{path}: engine tensor {name} has the unsupported data type {trt_dtype}")
            self.dtypes[name] = known[trt_dtype]
        self.input_names = expected  # bound by name, in the interface's order

    def _build(
        self, trt: Any, onnx_path: Path, key: EngineKey, config: BackendConfig, path: Path, cache: EngineCache
    ) -> None:
        timing = cache.timing_cache_path(key.tensorrt_version, key.gpu_name, key.compute_capability)
        start = time.perf_counter()
        engine = build_engine(trt, onnx_path, key, config, timing)
        seconds = time.perf_counter() - start
        try:
            store_at(path, key, engine, seconds)
        except OSError as error:
            raise BackendError(
                f"cannot write the TensorRT engine to {path}: {error.strerror or error}; point BackendConfig."
                "engine_path or cache_dir ($INTERHANDGEN_CACHE) at a writable folder"
            ) from None
        log.warning("TensorRT engine built in %.0f s: %s", seconds, path)
        self.built = True

    def _deserialize(self, path: Path) -> Any:
        """The engine in ``path``, or None where TensorRT refuses it."""
        try:
            return self._runtime.deserialize_cuda_engine(path.read_bytes())
        except Exception as error:  # some versions raise instead of returning None; either way: rebuild
            log.warning("TensorRT raised while deserialising %s: %s", path, error)
            return None

    @property
    def max_batch(self) -> int:
        """The optimisation profile's maximum; the base class refuses bigger batches."""
        return self.config.max_batch

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        """(B, 64) x_t, (B,) t, (B, 64) cond, (B,) cond_mask, (B, E) object_embedding -> (B, 64) x0 float32."""
        if getattr(self, "context", None) is None:
            raise BackendError("this TensorRT backend was closed; create a new one")
        given = [x_t, t, cond, cond_mask] + ([] if object_embedding is None else [object_embedding])
        # Casts (e.g. an engine whose t is int32) and contiguous copies are new tensors: this list
        # holds them until the launch is queued; after that the caching allocator reuses their
        # memory only for work queued later on this same stream, which runs after the engine.
        bound = [
            tensor.to(self.dtypes[name]).contiguous() for name, tensor in zip(self.input_names, given, strict=True)
        ]
        for name, tensor in zip(self.input_names, bound, strict=True):
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        out = torch.empty((x_t.shape[0], self.hand_dim), dtype=self.dtypes[DENOISER_OUTPUT], device=self.device)
        self.context.set_tensor_address(DENOISER_OUTPUT, out.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise BackendError("TensorRT failed to run the engine (see TensorRT's log above)")
        return out.float()

    def close(self) -> None:
        """Free the context, then the engine, then the runtime (TensorRT's order). Calling it twice is harmless."""
        for name in ("context", "engine", "_runtime"):
            if getattr(self, name, None) is not None:
                setattr(self, name, None)
