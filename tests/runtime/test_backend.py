"""The backend interface (runtime/backend.py), its configuration and the torch eager backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from interhandgen_core.errors import BackendError, ConfigError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.configuration import CACHE_ENV, BackendConfig, default_cache_dir
from interhandgen_core.runtime.factory import create_backend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, TINY_OBJECT_CONFIG

CPU = torch.device("cpu")


def inputs(batch: int, embedding_dim: int = 0, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 64, generator=generator)
    t = torch.randint(0, 64, (batch,), generator=generator)
    cond = torch.randn(batch, 64, generator=generator)
    mask = torch.rand(batch, generator=generator) > 0.5
    embedding = torch.randn(batch, embedding_dim, generator=generator) if embedding_dim else None
    return x, t, cond, mask, embedding


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "tensorrtx"}, "BackendConfig.name must be one of"),
        ({"precision": "int8"}, "BackendConfig.precision must be one of"),
        ({"name": "onnxruntime", "precision": "fp16"}, "runs the fp32 export"),
        ({"name": "tensorrt", "precision": "bf16"}, "fp32 or fp16 engines"),
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 8, "opt_batch": 16}, "opt_batch"),
        ({"force_rebuild": "yes"}, "force_rebuild"),
        ({"cache_dir": ""}, "cache_dir"),
    ],
)
def test_config_refuses_bad_values(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BackendConfig(**fields)


def test_config_spec_round_trip() -> None:
    for spec in ("torch", "torch:bf16", "cuda-graph:fp16", "onnxruntime", "tensorrt:fp16"):
        assert BackendConfig.parse(spec).spec == spec
    assert BackendConfig.from_dict(BackendConfig(name="tensorrt", max_batch=64).to_dict()).max_batch == 64


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    assert BackendConfig(cache_dir=str(tmp_path / "other")).resolved_cache_dir() == tmp_path / "other"


@pytest.mark.parametrize("config", [TINY_CONFIG, TINY_OBJECT_CONFIG])
def test_eager_backend_is_the_module(config: object) -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(config).eval()  # type: ignore[arg-type]
    backend = create_backend(denoiser, CPU, BackendConfig())
    args = inputs(5, denoiser.config.object_embedding_dim)
    with torch.no_grad():
        expected = denoiser(*args)
    out = backend(*args)
    assert out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_bf16_autocast_on_cpu_is_close_to_fp32() -> None:
    torch.manual_seed(0)
    denoiser = Denoiser(TINY_CONFIG).eval()
    args = inputs(8)
    fp32 = create_backend(denoiser, CPU, BackendConfig())(*args)
    bf16 = create_backend(denoiser, CPU, BackendConfig(precision="bf16"))(*args)
    assert bf16.dtype == torch.float32
    assert not torch.equal(bf16, fp32)  # it did run in reduced precision
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=0.1)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (BackendConfig(precision="fp16"), "fp16 autocast needs a CUDA device"),
        (BackendConfig(name="cuda-graph"), "needs a CUDA device"),
        (BackendConfig(name="tensorrt"), "needs a CUDA device"),
    ],
)
def test_cpu_refuses_gpu_only_backends(config: BackendConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_backend(Denoiser(TINY_CONFIG).eval(), CPU, config)


def test_bad_inputs_are_refused_with_the_reason() -> None:
    backend = create_backend(Denoiser(TINY_OBJECT_CONFIG).eval(), CPU, BackendConfig())
    x, t, cond, mask, embedding = inputs(3, TINY_OBJECT_CONFIG.object_embedding_dim)
    with pytest.raises(BackendError, match="needs object_embedding"):
        backend(x, t, cond, mask, None)
    with pytest.raises(BackendError, match="t must be a \\(3,\\) long tensor"):
        backend(x, t.float(), cond, mask, embedding)
    with pytest.raises(BackendError, match="cond_mask must be a \\(3,\\) bool tensor"):
        backend(x, t, cond, mask.long(), embedding)
    with pytest.raises(BackendError, match="x_t must be"):
        backend(x[:, :10], t, cond, mask, embedding)
