"""`interhandgen export`, run in-process: the ONNX files it writes and its one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interhandgen_core.cli import main
from interhandgen_core.runtime.onnx_export import read_onnx_metadata

pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install 'interhandgen-core[onnx]')")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_object_prior, write_tiny_prior


def test_export_two_hand_prior(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_tiny_prior(tmp_path / "prior")
    out = tmp_path / "out" / "denoiser.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    assert read_onnx_metadata(out)["interhandgen.kind"] == "denoiser"
    assert {p.name for p in out.parent.iterdir()} == {"denoiser.onnx"}  # nothing else, no temp files
    assert "dynamic batch" in capsys.readouterr().out


def test_export_object_prior_writes_the_encoder_beside(tmp_path: Path) -> None:
    checkpoint = write_tiny_object_prior(tmp_path / "prior")
    out = tmp_path / "out" / "grasps.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out)]) == 0
    assert read_onnx_metadata(out.with_name("grasps_encoder.onnx"))["interhandgen.kind"] == "object_encoder"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--onnx", "model.txt"], "--onnx must name a .onnx file"),
        (["--onnx", "m.onnx", "--encoder-onnx", "e.onnx"], "has no object encoder"),
        (["--onnx", "m.onnx", "--engine", "m.engine"], "CUDA"),
    ],
)
def test_export_errors_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint = write_tiny_prior(tmp_path / "prior")
    assert main(["export", "--checkpoint", str(checkpoint), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("interhandgen: error: ") and message in err and err.count("\n") == 1
