"""runtime/configuration.py's engine_build_config: the BackendConfig `interhandgen export --engine` builds with."""

from __future__ import annotations

from pathlib import Path

import pytest

from interhandgen_core.config import default_of
from interhandgen_core.errors import ConfigError
from interhandgen_core.runtime.configuration import ENGINE_PRECISION, BackendConfig, engine_build_config


def test_engine_build_config_defaults_to_fp16_and_the_default_profile(tmp_path: Path) -> None:
    config = engine_build_config(tmp_path / "d.onnx", str(tmp_path / "d.engine"))
    assert config.name == "tensorrt" and config.precision == ENGINE_PRECISION == "fp16"
    assert config.onnx_path == str(tmp_path / "d.onnx") and config.engine_path == str(tmp_path / "d.engine")
    assert config.max_batch == default_of(BackendConfig, "max_batch")
    assert config.opt_batch == default_of(BackendConfig, "opt_batch")
    assert not config.force_rebuild
    assert config == BackendConfig(
        name="tensorrt", precision="fp16", onnx_path=str(tmp_path / "d.onnx"), engine_path=str(tmp_path / "d.engine")
    )


@pytest.mark.parametrize(("max_batch", "opt_batch"), [(8, 8), (64, 64), (1024, 64)])
def test_engine_build_config_tunes_for_at_most_the_largest_batch(max_batch: int, opt_batch: int) -> None:
    config = engine_build_config("d.onnx", "d.engine", "fp32", max_batch, force_rebuild=True)
    assert (config.precision, config.max_batch, config.opt_batch, config.force_rebuild) == (
        "fp32",
        max_batch,
        opt_batch,
        True,
    )


def test_engine_build_config_refuses_what_tensorrt_cannot_build() -> None:
    with pytest.raises(ConfigError, match="fp32 or fp16 engines"):
        engine_build_config("d.onnx", "d.engine", precision="bf16")
    with pytest.raises(ConfigError, match="max_batch"):
        engine_build_config("d.onnx", "d.engine", max_batch=0)
