"""`interhandgen bench`, run in-process: bad arguments, one-line errors, and bench refine's rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_checks import assert_one_line_error, needs_procedural

from interhandgen_core.cli import main


@pytest.mark.parametrize("batches", ["0", "1,-4", "a,b", ","])
def test_bench_bad_batches_exit_2(batches: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "--batches", batches])
    assert info.value.code == 2
    assert "usage: interhandgen bench" in capsys.readouterr().err


def test_bench_missing_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.safetensors"
    assert main(["bench", "--what", "denoiser", "--batches", "1", "--checkpoint", str(missing)]) == 1
    assert_one_line_error(capsys.readouterr().err, str(missing))


@needs_procedural
def test_bench_json_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    argv = ["bench", "--what", "denoiser", "--batches", "1", "--checkpoint", str(tiny_checkpoint), "--repeats", "1"]
    assert main([*argv, "--json", str(folder)]) == 1
    assert_one_line_error(capsys.readouterr().err, str(folder))
    assert list(folder.iterdir()) == []


def test_bench_refine_reports_every_variant(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "bench" / "refine.json"
    args = ["bench", "refine", "--sequences", "1", "--frames", "5", "--checkpoint", str(tiny_checkpoint)]
    assert main([*args, "--json", str(report)]) == 0
    rows = json.loads(report.read_text())
    assert [r["variant"] for r in rows] == ["observed", "fit", "prior off", "prior on"]
    for row in rows:
        assert row["what"] == "refine" and row["batch"] == 1 and row["backend"] == "torch"
        assert row["mpjpe_mm"] > 0
    assert all(r["median_ms"] > 0 and r["mean_penetration_mm"] is not None for r in rows[1:])
    assert "prior on" in capsys.readouterr().out
