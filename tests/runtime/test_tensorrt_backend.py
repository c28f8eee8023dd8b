"""The TensorRT backend (runtime/tensorrt_backend.py).

TensorRT cannot be installed on the machines this project is built and tested on (nor on the
GPU machine it borrows), so every test that builds or runs an engine skips there, saying so,
and runs wherever ``import tensorrt`` works and a CUDA device is present. What happens
without TensorRT is tested everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from interhandgen_core.errors import BackendError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.backend import create_backend
from interhandgen_core.runtime.configuration import BackendConfig
from interhandgen_core.runtime.engine_cache import sidecar_path
from interhandgen_core.runtime.tensorrt_backend import TensorRTBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_backend import inputs
from tiny_prior import TINY_CONFIG, TINY_OBJECT_CONFIG

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
needs_tensorrt = pytest.mark.skipif(
    not (HAS_TENSORRT and torch.cuda.is_available()),
    reason="tensorrt is not importable here, or there is no CUDA device (TensorRT cannot be installed on this "
    "project's machines); the TensorRT backend is tested where it is",
)


def test_missing_tensorrt_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` fail
    with pytest.raises(BackendError, match="needs the TensorRT Python package"):
        TensorRTBackend(tmp_path / "x.onnx", BackendConfig(name="tensorrt"), torch.device("cuda"), 64, 0)


def test_tensorrt_needs_cuda(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="needs a CUDA device"):
        TensorRTBackend(tmp_path / "x.onnx", BackendConfig(name="tensorrt"), torch.device("cpu"), 64, 0)


@needs_tensorrt
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("fp16", 2e-2)])
@pytest.mark.parametrize("config", [TINY_CONFIG, TINY_OBJECT_CONFIG])
def test_engine_matches_torch_and_is_cached(precision: str, tolerance: float, config: object, tmp_path: Path) -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(config).eval().cuda()  # type: ignore[arg-type]
    settings = BackendConfig(name="tensorrt", precision=precision, cache_dir=str(tmp_path), max_batch=64, opt_batch=8)
    backend = create_backend(denoiser, torch.device("cuda"), settings)
    assert isinstance(backend, TensorRTBackend) and backend.built
    for batch in (1, 7, 64):
        args = [a.cuda() if a is not None else None for a in inputs(batch, denoiser.config.object_embedding_dim)]
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
    args = [a.cuda() if a is not None else None for a in inputs(17)]
    with pytest.raises(BackendError, match="exceeds the tensorrt backend's maximum of 16"):
        backend(*args)
