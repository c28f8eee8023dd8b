"""`interhandgen bench`, run in-process: bad arguments, one-line errors, and bench refine's rows."""

from __future__ import annotations

import json
import subprocess
import sys
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


# The rows bench refine reports, in order: the tracker's keypoints, then every variant it runs.
VARIANT_ROWS = [
    "observed",
    "One-Euro",
    "per-frame",
    "fit",
    "prior off",
    "prior on",
    "prior on, L-BFGS",
    "prior on, target every frame",
    "prior on, real time",
    "prior on, real time, hurried",
]


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
    pooled = [r for r in rows if r["sequence"] == "all"]
    variants = VARIANT_ROWS
    assert [r["variant"] for r in pooled] == variants
    for row in rows:
        assert row["what"] == "refine" and row["batch"] == 1 and row["backend"] == "torch"
        assert row["mpjpe_mm"] > 0
    assert all(r["median_ms"] > 0 and r["mean_penetration_mm"] is not None for r in pooled[2:])
    assert all(r["cpu_cores"] >= 1 and r["other_load_cores"] >= 0.0 for r in pooled[1:])  # measured while timed
    assert pooled[0]["other_load_cores"] is None  # the tracker's own keypoints: nothing timed
    assert pooled[1]["mean_penetration_mm"] is None and pooled[1]["median_ms"] > 0  # One-Euro: no mesh, timed
    captured = capsys.readouterr()
    assert "prior on" in captured.out and "refine (prior on)" in captured.err  # the table; the progress bar


COLUMNS = (
    "mpjpe_mm",
    "p95_frame_error_mm",
    "worst_frame_error_mm",
    "acceleration_error_mm",
    "mean_penetration_mm",
    "p95_penetration_mm",
    "median_ms",
    "p95_ms",
)


def test_bench_refine_wide_suite_has_every_row_and_column_pooled_and_per_sequence(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from interhandgen_core.data.tracking_suites import WIDE_SUITE

    report = tmp_path / "wide.json"
    args = ["bench", "refine", "--suite", "wide", "--sequences", "2", "--frames", "4", "--quiet"]
    assert main([*args, "--checkpoint", str(tiny_checkpoint), "--one-euro-beta", "3", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())
    variants = VARIANT_ROWS
    assert [(r["sequence"], r["variant"]) for r in rows] == [(s, v) for s in ("all", 0, 1) for v in variants]
    assert [r["name"] for r in rows if r["variant"] == "fit"] == ["", WIDE_SUITE[0].name, WIDE_SUITE[1].name]
    for row in rows:
        assert set(COLUMNS) <= set(row)
        assert row["worst_frame_error_mm"] >= row["p95_frame_error_mm"] > 0
        meshed = row["variant"] in variants[2:]
        assert (row["mean_penetration_mm"] is not None) == meshed
        assert (row["median_ms"] is not None) == (row["variant"] != "observed")
        # Worst frames over what was seen (every row), and over what a refiner published as trusted (refiners only).
        assert row["worst_seen_frame_error_mm"] > 0
        trusted = row["worst_trusted_frame_error_mm"]
        assert (trusted is not None) == meshed and (trusted is None or trusted > 0)
    out = capsys.readouterr().out
    assert "all sequences" in out and f"sequence 1: {WIDE_SUITE[1].name}" in out and "worst" in out


def test_bench_refine_tune_one_euro_prints_the_best_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "tuning.json"
    args = ["bench", "refine", "--tune-one-euro", "--suite", "wide", "--sequences", "1", "--frames", "4", "--quiet"]
    assert main([*args, "--json", str(report)]) == 0
    rows = json.loads(report.read_text())
    assert rows == sorted(rows, key=lambda r: round(r["mpjpe_mm"], 2))  # best first
    assert {"min_cutoff_hz", "beta", "d_cutoff_hz", "mpjpe_mm"} <= set(rows[0])
    out = capsys.readouterr().out
    assert "seed 7" in out and "best: min_cutoff_hz=" in out  # another seed than the benchmark's


SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


@needs_procedural
def test_bench_shows_progress_on_stderr_and_warns_of_a_loaded_machine(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from interhandgen_core.evaluation.machine_load import LOADED_FRACTION, LOADED_MIN_CORES, cpu_cores

    threshold = max(LOADED_MIN_CORES, LOADED_FRACTION * cpu_cores())
    report = tmp_path / "rows.json"
    argv = ["bench", "cascade", "--backends", "torch", "--batches", "2", "--steps", "2", "--repeats", "20"]
    argv += ["--checkpoint", str(tiny_checkpoint), "--json", str(report)]
    # Other work on the machine while the row is timed: more busy processes than the warning's threshold.
    busy = [subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=60)]) for _ in range(int(threshold) + 1)]
    try:
        assert main(argv) == 0
    finally:
        for process in busy:
            process.kill()
            process.wait()
    captured = capsys.readouterr()
    row = json.loads(report.read_text())[0]
    assert row["other_load_cores"] > threshold and row["cpu_cores"] == cpu_cores()
    warnings = [line for line in captured.err.splitlines() if "interhandgen: warning: " in line]
    assert len(warnings) == 1, captured.err
    assert "CPU cores busy while timing torch cascade, batch 2" in warnings[0]
    assert f"of {cpu_cores()} CPU cores" in warnings[0]
    assert "torch cascade, batch 2" in captured.err and "21/21" in captured.err  # the bar: warm-up and 20 calls
    # stdout holds the results only: the table, the file written.
    assert captured.out.splitlines()[0].split()[0] == "backend" and "call" not in captured.out
    assert captured.out.splitlines()[-1] == f"wrote {report}"


@needs_procedural
def test_bench_quiet_prints_no_progress(tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "denoiser", "--backends", "torch", "--batches", "1", "--repeats", "2", "--quiet"]
    assert main([*argv, "--checkpoint", str(tiny_checkpoint)]) == 0
    assert "call" not in capsys.readouterr().err
