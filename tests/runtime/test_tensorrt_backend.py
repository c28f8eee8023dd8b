"""The TensorRT backend (runtime/tensorrt_backend.py).

TensorRT cannot be installed on the machines this project is built and tested on (nor on the
GPU machine it borrows), so the backend is tested at two levels:

    everywhere    a stand-in ``tensorrt`` module (FakeTensorRT below) with the TensorRT 10
                  Python API calls the backend makes; it checks the backend's decisions (build,
                  load from the cache, rebuild and why, give up), the profile and flags it asks
                  for, the timing cache, and how it binds tensors; not that TensorRT behaves so
    with TensorRT real engines built from the ONNX export, compared with torch; these skip
                  where ``import tensorrt`` fails or there is no CUDA device, saying so
"""

from __future__ import annotations

import json
import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from interhandgen_core.errors import BackendError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime import tensorrt_backend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.engine_cache import EngineCache, EngineKey, lookup_at, sidecar_path, store_at
from interhandgen_core.runtime.factory import create_backend
from interhandgen_core.runtime.tensorrt_backend import TensorRTBackend, engine_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, TINY_OBJECT_CONFIG


def _tensorrt_import_error() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except Exception as error:  # ImportError, or whatever a broken install raises
        return f"{type(error).__name__}: {error}"
    return None


TENSORRT_ERROR = _tensorrt_import_error()
needs_tensorrt = pytest.mark.skipif(
    TENSORRT_ERROR is not None or not torch.cuda.is_available(),
    reason=(
        f"tensorrt is not importable here ({TENSORRT_ERROR}; it cannot be installed on these machines); the TensorRT "
        "backend is tested where it is"
        if TENSORRT_ERROR is not None
        else "no CUDA device here; the TensorRT backend is tested where there is one"
    ),
)

HAND = 64
EMBED = 8
ENGINE_MAGIC = b"FAKE-TENSORRT-ENGINE\n"


Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]


def _inputs(batch: int, embedding_dim: int = 0, device: str = "cpu") -> Inputs:
    """x_t (B, 64), t (B,) long, cond (B, 64), cond_mask (B,) bool, object_embedding (B, E) or None."""
    generator = torch.Generator().manual_seed(0)
    x_t = torch.randn(batch, HAND, generator=generator).to(device)
    t = torch.randint(0, 64, (batch,), generator=generator).to(device)
    cond = torch.randn(batch, HAND, generator=generator).to(device)
    mask = (torch.rand(batch, generator=generator) > 0.5).to(device)
    embedding = torch.randn(batch, embedding_dim, generator=generator).to(device) if embedding_dim else None
    return x_t, t, cond, mask, embedding


# ---------------------------------------------------------------------------------------------
# A stand-in for the TensorRT 10 Python API the backend uses. Engines are MAGIC + JSON naming the
# engine's tensors and their types; ``state`` holds what a test sets up and what the backend did.


class FakeState:
    def __init__(self) -> None:
        # What the "ONNX file" declares: name -> (shape with -1 for the batch, data type).
        self.network: dict[str, tuple[tuple[int, ...], str]] = {
            "x_t": ((-1, HAND), "FLOAT"),
            "t": ((-1,), "INT64"),
            "cond": ((-1, HAND), "FLOAT"),
            "cond_mask": ((-1,), "BOOL"),
        }
        self.output_type = "FLOAT"
        self.parse_errors: list[str] = []
        self.build_fails = False
        self.refuse_engines = False
        self.builds = 0
        self.deserializations = 0
        self.profiles: list[dict[str, tuple[tuple[int, ...], ...]]] = []
        self.flags: list[str] = []
        self.workspace: list[int] = []
        self.timing_caches_loaded: list[bytes] = []
        self.bindings: dict[str, Any] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}


class FakeTensorRT(types.ModuleType):
    def __init__(self, state: FakeState, version: str = "10.3.0") -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        fake = self

        def enum(*names: str) -> Any:
            return types.SimpleNamespace(**{name: name for name in names})

        self.DataType = enum("FLOAT", "HALF", "INT32", "INT64", "BOOL", "INT8")
        self.TensorIOMode = enum("INPUT", "OUTPUT")
        self.MemoryPoolType = enum("WORKSPACE")
        self.BuilderFlag = enum("FP16")

        class Logger:
            WARNING = "WARNING"

            def __init__(self, severity: str) -> None:
                self.severity = severity

        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        class Input:
            def __init__(self, name: str, shape: tuple[int, ...]) -> None:
                self.name, self.shape = name, shape

        class Network:
            def __init__(self) -> None:
                self.inputs: list[Input] = []

            @property
            def num_inputs(self) -> int:
                return len(self.inputs)

            def get_input(self, index: int) -> Input:
                return self.inputs[index]

        class OnnxParser:
            def __init__(self, network: Network, logger: Logger) -> None:
                self.network = network

            def parse(self, model: bytes) -> bool:
                self.network.inputs = [Input(name, shape) for name, (shape, _) in state.network.items()]
                return not state.parse_errors

            @property
            def num_errors(self) -> int:
                return len(state.parse_errors)

            def get_error(self, index: int) -> str:
                return state.parse_errors[index]

        class Profile:
            def __init__(self) -> None:
                self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

            def set_shape(self, name: str, low: tuple[int, ...], opt: tuple[int, ...], high: tuple[int, ...]) -> None:
                self.shapes[name] = (low, opt, high)

        class TimingCache:
            def __init__(self, data: bytes) -> None:
                self.data = data

            def serialize(self) -> bytes:
                return self.data + b"+timings"

        class BuilderConfig:
            def __init__(self) -> None:
                self.progress_monitor: Any = None
                self.cache: TimingCache | None = None

            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                state.workspace.append(size)

            def set_flag(self, flag: str) -> None:
                state.flags.append(flag)

            def add_optimization_profile(self, profile: Profile) -> int:
                state.profiles.append(profile.shapes)
                return 0

            def create_timing_cache(self, data: bytes) -> TimingCache | None:
                return None if data.startswith(b"corrupt") else TimingCache(bytes(data))

            def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
                self.cache = cache
                return True

            def get_timing_cache(self) -> TimingCache | None:
                return self.cache

        class Builder:
            def __init__(self, logger: Logger) -> None:
                pass

            def create_network(self, flags: int) -> Network:
                return Network()

            def create_builder_config(self) -> BuilderConfig:
                return BuilderConfig()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
                state.builds += 1
                assert config.cache is not None
                state.timing_caches_loaded.append(config.cache.data)
                monitor = config.progress_monitor
                if monitor is not None:  # as TensorRT reports a build: one phase with steps
                    monitor.phase_start("Building engine", None, 2)
                    monitor.step_complete("Building engine", 0)
                    monitor.step_complete("Building engine", 1)
                    monitor.phase_finish("Building engine")
                if state.build_fails:
                    return None
                tensors = {name: [fake.TensorIOMode.INPUT, dtype] for name, (_, dtype) in state.network.items()}
                tensors["x0"] = [fake.TensorIOMode.OUTPUT, state.output_type]
                return ENGINE_MAGIC + json.dumps(tensors).encode()

        class Context:
            def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
                state.shapes[name] = shape
                return True

            def set_tensor_address(self, name: str, address: int) -> bool:
                state.bindings[name] = address
                return True

            def execute_async_v3(self, stream: int) -> bool:
                return set(state.bindings) == set(state.network) | {"x0"}

        class Engine:
            def __init__(self, tensors: dict[str, list[str]]) -> None:
                self.tensors = tensors
                self.names = list(tensors)

            @property
            def num_io_tensors(self) -> int:
                return len(self.names)

            def get_tensor_name(self, index: int) -> str:
                return self.names[index]

            def get_tensor_mode(self, name: str) -> str:
                return self.tensors[name][0]

            def get_tensor_dtype(self, name: str) -> str:
                return self.tensors[name][1]

            def create_execution_context(self) -> Context:
                return Context()

        class Runtime:
            def __init__(self, logger: Logger) -> None:
                pass

            def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
                state.deserializations += 1
                if state.refuse_engines or not data.startswith(ENGINE_MAGIC):
                    return None
                return Engine(json.loads(data[len(ENGINE_MAGIC) :]))

        self.Logger, self.IProgressMonitor, self.OnnxParser = Logger, IProgressMonitor, OnnxParser
        self.Builder, self.Runtime = Builder, Runtime


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeState]:
    """Installs FakeTensorRT as ``tensorrt``, a GPU named "Fake GPU" (8.7), and accepts any ONNX file."""
    state = FakeState()
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(state))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 7))
    monkeypatch.setattr(tensorrt_backend, "read_onnx_metadata", lambda path: {})
    yield state


def _onnx(tmp_path: Path, content: bytes = b"model a") -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    return path


def _settings(tmp_path: Path, **fields: Any) -> BackendConfig:
    values: dict[str, Any] = {"name": "tensorrt", "cache_dir": str(tmp_path / "cache"), "max_batch": 16, "opt_batch": 4}
    return BackendConfig(**{**values, **fields})


def _backend(onnx: Path, settings: BackendConfig, embedding_dim: int = 0) -> TensorRTBackend:
    return TensorRTBackend(onnx, settings, torch.device("cuda"), HAND, embedding_dim)


def _key(onnx: Path, **fields: Any) -> EngineKey:
    """The key _settings(**fields) asks for on the stand-in GPU and TensorRT."""
    return engine_key(onnx, "10.3.0", torch.device("cuda"), _settings(onnx.parent, **fields))


# --- without TensorRT, everywhere -------------------------------------------------------------


def test_missing_tensorrt_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(BackendError, match=r"needs the TensorRT Python package \(JetPack on a Jetson.*pip install"):
        TensorRTBackend(tmp_path / "x.onnx", BackendConfig(name="tensorrt"), torch.device("cuda"), HAND, 0)


def test_tensorrt_needs_cuda(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="needs a CUDA device"):
        TensorRTBackend(tmp_path / "x.onnx", BackendConfig(name="tensorrt"), torch.device("cpu"), HAND, 0)


def test_tensorrt_older_than_10_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(FakeState(), version="8.6.2"))
    with pytest.raises(BackendError, match=r"needs TensorRT 10 or newer, found 8\.6\.2"):
        _backend(_onnx(tmp_path), _settings(tmp_path))


# --- the backend's decisions, with the stand-in TensorRT, everywhere --------------------------


def test_builds_once_then_loads_from_the_cache(
    fake: FakeState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    onnx = _onnx(tmp_path)
    with caplog.at_level(logging.INFO, logger="interhandgen_core.runtime"):
        backend = _backend(onnx, _settings(tmp_path, precision="fp16", workspace_mb=64))
    assert backend.built and fake.builds == 1
    assert backend.path.parent == tmp_path / "cache" / "engines"
    assert lookup_at(backend.path, _key(onnx, precision="fp16")).hit
    assert "no cached engine" in caplog.text and "takes minutes" in caplog.text and "tens of minutes" in caplog.text
    assert "TensorRT build: Building engine (2 steps)" in caplog.text  # the progress monitor was attached
    assert fake.flags == ["FP16"] and fake.workspace == [64 << 20]
    assert fake.profiles == [
        {
            "x_t": ((1, HAND), (4, HAND), (16, HAND)),
            "t": ((1,), (4,), (16,)),
            "cond": ((1, HAND), (4, HAND), (16, HAND)),
            "cond_mask": ((1,), (4,), (16,)),
        }
    ]
    again = _backend(onnx, _settings(tmp_path, precision="fp16", workspace_mb=64))
    assert not again.built and fake.builds == 1 and again.path == backend.path


def test_fp32_sets_no_fp16_flag(fake: FakeState, tmp_path: Path) -> None:
    _backend(_onnx(tmp_path), _settings(tmp_path))
    assert fake.flags == []


def test_force_rebuild_rebuilds_a_valid_engine(
    fake: FakeState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    onnx = _onnx(tmp_path)
    _backend(onnx, _settings(tmp_path))
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.runtime"):
        backend = _backend(onnx, _settings(tmp_path, force_rebuild=True))
    assert backend.built and fake.builds == 2 and "force_rebuild" in caplog.text


@pytest.mark.parametrize(("field", "value"), [("precision", "fp16"), ("opt_batch", 8), ("max_batch", 32)])
def test_an_explicit_engine_path_built_for_something_else_is_rebuilt_there(
    field: str, value: object, fake: FakeState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    onnx, engine = _onnx(tmp_path), tmp_path / "robot" / "twohand.engine"
    first = _backend(onnx, _settings(tmp_path, engine_path=str(engine)))
    assert first.path == engine and sidecar_path(engine).is_file()
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.runtime"):
        second = _backend(onnx, _settings(tmp_path, engine_path=str(engine), **{field: value}))
    assert second.built and second.path == engine and fake.builds == 2
    assert f"{field}:" in caplog.text and "built for something else" in caplog.text
    assert json.loads(sidecar_path(engine).read_text())["key"][field] == value


def test_a_changed_onnx_file_is_rebuilt(fake: FakeState, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = tmp_path / "m.engine"
    _backend(_onnx(tmp_path, b"model a"), _settings(tmp_path, engine_path=str(engine)))
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.runtime"):
        assert _backend(_onnx(tmp_path, b"model b"), _settings(tmp_path, engine_path=str(engine))).built
    assert "onnx_sha256:" in caplog.text


def test_a_truncated_cached_engine_is_rebuilt(fake: FakeState, tmp_path: Path) -> None:
    onnx = _onnx(tmp_path)
    path = _backend(onnx, _settings(tmp_path)).path
    path.write_bytes(path.read_bytes()[:10])
    backend = _backend(onnx, _settings(tmp_path))
    assert backend.built and fake.builds == 2 and fake.deserializations == 2  # the truncated one never loaded


def test_an_engine_tensorrt_refuses_is_deleted_and_rebuilt_once(fake: FakeState, tmp_path: Path) -> None:
    onnx = _onnx(tmp_path)
    cache = EngineCache(tmp_path / "cache" / "engines")
    cache.store(_key(onnx), b"valid sidecar, bytes TensorRT will not take", 1.0)  # e.g. a TensorRT patch-level mismatch
    backend = _backend(onnx, _settings(tmp_path))
    assert backend.built and fake.builds == 1 and fake.deserializations == 2


def test_an_engine_that_never_loads_is_one_error(fake: FakeState, tmp_path: Path) -> None:
    fake.refuse_engines = True
    with pytest.raises(BackendError, match="cannot load the engine it has just built"):
        _backend(_onnx(tmp_path), _settings(tmp_path))
    assert fake.builds == 1  # a fresh build refused: another would fail alike
    assert not list((tmp_path / "cache" / "engines").glob("*.engine*"))  # and it is not left to be loaded later


def test_a_cached_engine_refused_and_its_rebuild_refused_is_one_error(fake: FakeState, tmp_path: Path) -> None:
    onnx = _onnx(tmp_path)
    EngineCache(tmp_path / "cache" / "engines").store(_key(onnx), b"not an engine", 1.0)
    fake.refuse_engines = True
    with pytest.raises(BackendError, match="cannot load the engine it has just built"):
        _backend(onnx, _settings(tmp_path))
    assert fake.builds == 1 and fake.deserializations == 2  # rebuilt once, not again


def test_parser_errors_name_the_file(fake: FakeState, tmp_path: Path) -> None:
    fake.parse_errors = ["node 3: unsupported operator Foo"]
    onnx = _onnx(tmp_path)
    with pytest.raises(BackendError, match=r"model\.onnx: TensorRT cannot parse .*unsupported operator Foo"):
        _backend(onnx, _settings(tmp_path))


def test_a_corrupt_onnx_file_is_refused_before_tensorrt(
    fake: FakeState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("onnx", reason="the onnx package (the onnx extra) reads the export's metadata")
    from interhandgen_core.runtime.onnx_export import read_onnx_metadata

    monkeypatch.setattr(tensorrt_backend, "read_onnx_metadata", read_onnx_metadata)
    onnx = _onnx(tmp_path, b"\x08\x07 this is not protobuf")
    with pytest.raises(BackendError, match=r"model\.onnx.*not a valid ONNX model"):
        _backend(onnx, _settings(tmp_path))
    assert fake.builds == 0


def test_a_failed_build_is_one_error(fake: FakeState, tmp_path: Path) -> None:
    fake.build_fails = True
    with pytest.raises(BackendError, match=r"could not build an engine .*workspace_mb"):
        _backend(_onnx(tmp_path), _settings(tmp_path))


def test_only_the_batch_axis_may_be_dynamic(fake: FakeState, tmp_path: Path) -> None:
    fake.network["cond"] = ((-1, -1), "FLOAT")
    with pytest.raises(BackendError, match=r"input cond has shape .*only its first"):
        _backend(_onnx(tmp_path), _settings(tmp_path))


def test_an_unwritable_engine_path_is_one_error(fake: FakeState, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(BackendError, match=r"cannot write the TensorRT engine to .*writable folder"):
        _backend(_onnx(tmp_path), _settings(tmp_path, engine_path=str(blocker / "m.engine")))


def test_the_timing_cache_is_shared_between_builds_and_survives_corruption(fake: FakeState, tmp_path: Path) -> None:
    onnx = _onnx(tmp_path)
    _backend(onnx, _settings(tmp_path))
    timing = EngineCache(tmp_path / "cache" / "engines").timing_cache_path("10.3.0", "Fake GPU", "8.7")
    assert timing.read_bytes() == b"+timings"
    _backend(onnx, _settings(tmp_path, precision="fp16"))  # another engine, same GPU and TensorRT
    assert fake.timing_caches_loaded == [b"", b"+timings"]
    timing.write_bytes(b"corrupt timing cache")
    assert _backend(onnx, _settings(tmp_path, max_batch=8)).built
    assert fake.timing_caches_loaded[-1] == b"" and timing.read_bytes() == b"+timings"


def test_an_engine_of_another_model_kind_is_refused(fake: FakeState, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"inputs \['x_t', 't', 'cond', 'cond_mask'\].*object_embedding"):
        _backend(_onnx(tmp_path), _settings(tmp_path), embedding_dim=EMBED)


def _cpu_backend(backend: TensorRTBackend, monkeypatch: pytest.MonkeyPatch) -> TensorRTBackend:
    """Runs ``backend``'s binding code on CPU tensors: the stand-in engine only records addresses."""
    backend.device = torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=0))
    return backend


@pytest.mark.parametrize("embedding_dim", [0, EMBED])
def test_tensors_are_bound_in_place_by_name(
    embedding_dim: int, fake: FakeState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if embedding_dim:
        fake.network["object_embedding"] = ((-1, EMBED), "FLOAT")
    backend = _cpu_backend(_backend(_onnx(tmp_path), _settings(tmp_path), embedding_dim), monkeypatch)
    args = _inputs(5, embedding_dim)
    out = backend(*args)
    assert out.shape == (5, HAND) and out.dtype == torch.float32
    names = ["x_t", "t", "cond", "cond_mask"] + (["object_embedding"] if embedding_dim else [])
    for name, tensor in zip(names, args, strict=False):
        assert tensor is not None
        assert fake.bindings[name] == tensor.data_ptr() and fake.shapes[name] == tuple(tensor.shape)  # no copies
    assert fake.bindings["x0"] == out.data_ptr()


def test_inputs_and_output_follow_the_engine_types(
    fake: FakeState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake.network["t"] = ((-1,), "INT32")  # what older ONNX parsers made of int64
    fake.output_type = "HALF"
    backend = _cpu_backend(_backend(_onnx(tmp_path), _settings(tmp_path)), monkeypatch)
    x_t, t, cond, mask, _ = _inputs(3)
    out = backend(x_t, t, cond, mask)
    assert backend.dtypes["t"] == torch.int32 and fake.bindings["t"] != t.data_ptr()  # an int32 copy was bound
    assert out.dtype == torch.float32  # the caller always gets float32


def test_oversized_batches_and_closed_backends_are_refused(
    fake: FakeState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    backend = _cpu_backend(_backend(_onnx(tmp_path), _settings(tmp_path)), monkeypatch)
    assert backend.max_batch == 16
    with pytest.raises(BackendError, match="batch 17 exceeds the tensorrt backend's maximum of 16"):
        backend(*_inputs(17))
    backend.close()
    backend.close()  # harmless twice
    with pytest.raises(BackendError, match="was closed"):
        backend(*_inputs(2))


# --- real TensorRT engines, where TensorRT and CUDA are -------------------------------------


@needs_tensorrt
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("fp16", 1e-2)])
@pytest.mark.parametrize("config", [TINY_CONFIG, TINY_OBJECT_CONFIG])
def test_engine_matches_torch_and_is_cached(precision: str, tolerance: float, config: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(config).eval().cuda()
    settings = BackendConfig(name="tensorrt", precision=precision, cache_dir=str(tmp_path), max_batch=64, opt_batch=8)
    backend = create_backend(denoiser, torch.device("cuda"), settings)
    assert isinstance(backend, TensorRTBackend) and backend.built
    for batch in (1, 7, 64):
        args = _inputs(batch, denoiser.config.object_embedding_dim, "cuda")
        with torch.no_grad():
            expected = denoiser(*args)
        assert (backend(*args) - expected).abs().max() < tolerance
    again = create_backend(denoiser, torch.device("cuda"), settings)
    assert isinstance(again, TensorRTBackend) and not again.built  # loaded from the cache


@needs_tensorrt
def test_truncated_engine_is_rebuilt_and_oversized_batch_refused(tmp_path: Path) -> None:
    denoiser = Denoiser(TINY_CONFIG).eval().cuda()
    engine = tmp_path / "model.engine"
    settings = BackendConfig(
        name="tensorrt", cache_dir=str(tmp_path), engine_path=str(engine), max_batch=16, opt_batch=4
    )
    create_backend(denoiser, torch.device("cuda"), settings).close()
    assert sidecar_path(engine).is_file()
    engine.write_bytes(engine.read_bytes()[:1000])
    backend = create_backend(denoiser, torch.device("cuda"), settings)
    assert isinstance(backend, TensorRTBackend) and backend.built
    args = _inputs(17, device="cuda")
    with pytest.raises(BackendError, match="exceeds the tensorrt backend's maximum of 16"):
        backend(*args)


@needs_tensorrt
def test_a_foreign_engine_file_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    denoiser = Denoiser(TINY_CONFIG).eval().cuda()
    engine = tmp_path / "model.engine"
    settings = BackendConfig(name="tensorrt", cache_dir=str(tmp_path), engine_path=str(engine), max_batch=8)
    create_backend(denoiser, torch.device("cuda"), settings).close()
    key = json.loads(sidecar_path(engine).read_text())["key"]
    # A sidecar that matches, over bytes that are not an engine: TensorRT refuses them, we rebuild.
    store_at(engine, EngineKey.from_dict(key), b"not an engine", 0.0)
    backend = create_backend(denoiser, torch.device("cuda"), settings)
    assert isinstance(backend, TensorRTBackend) and backend.built
