"""Latency benchmark (evaluation/inference_benchmark.py) on a tiny checkpoint: row schema, statistics, table, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import interhandgen_core
from interhandgen_core.cli import main
from interhandgen_core.errors import CheckpointError
from interhandgen_core.evaluation import inference_benchmark as benchmark
from interhandgen_core.evaluation.inference_benchmark import format_rows, run_benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_object_prior, write_tiny_prior

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
pytestmark = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")

ROW_KEYS = {
    "backend", "device", "preset", "what", "batch", "median_ms", "p95_ms", "peak_mb", "precision", "weights", "speedup",
    "other_load_cores", "cpu_cores", "load_average",
}  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_prior(tmp_path_factory.mktemp("prior"))


def check_rows(rows: list[dict], what: str, batches: list[int], backend: str = "torch") -> None:
    assert [row["batch"] for row in rows] == batches
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["backend"] == backend
        assert row["device"] == "cpu"
        assert row["preset"] == "custom"
        assert row["what"] == what
        assert isinstance(row["batch"], int)
        assert row["median_ms"] > 0
        assert row["p95_ms"] >= row["median_ms"]
        assert row["peak_mb"] > 0
        assert row["weights"] == "checkpoint"
        assert row["cpu_cores"] >= 1 and 0.0 <= row["other_load_cores"] <= row["cpu_cores"]
        if backend == "torch":
            assert row["speedup"] == 1.0


def test_denoiser_rows(checkpoint: Path) -> None:
    rows = run_benchmark(whats=["denoiser"], batches=[1, 4], checkpoint=checkpoint, repeats=2).rows
    check_rows(rows, "denoiser", [1, 4])
    json.dumps(rows)  # plain JSON types only


def test_backends_side_by_side_with_speedups(checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    result = run_benchmark(
        whats=["denoiser", "cascade"],
        backends=["torch", "onnxruntime", "cuda-graph"],
        batches=[1, 3],
        checkpoint=checkpoint,
        repeats=2,
        ddim_steps=2,
        backend_fields={"cache_dir": str(tmp_path)},
    )
    by_backend = {backend: [r for r in result.rows if r["backend"] == backend] for backend in ("torch", "onnxruntime")}
    for backend, rows in by_backend.items():
        check_rows([r for r in rows if r["what"] == "denoiser"], "denoiser", [1, 3], backend)
        check_rows([r for r in rows if r["what"] == "cascade"], "cascade", [1, 3], backend)
    for row in by_backend["onnxruntime"]:
        torch_row = next(r for r in by_backend["torch"] if (r["what"], r["batch"]) == (row["what"], row["batch"]))
        assert row["speedup"] == pytest.approx(torch_row["median_ms"] / row["median_ms"])
    assert "needs a CUDA device" in result.skipped["cuda-graph"]  # skipped with its reason, not dropped silently


def test_a_paper_preset_is_timed_with_random_weights() -> None:
    rows = run_benchmark(whats=["denoiser"], batches=[1], preset="paper", repeats=1).rows
    assert (rows[0]["preset"], rows[0]["weights"]) == ("paper", "random")


def test_cascade_rows(checkpoint: Path) -> None:
    rows = run_benchmark(whats=["cascade"], batches=[2], checkpoint=checkpoint, repeats=1, ddim_steps=2).rows
    check_rows(rows, "cascade", [2])


def test_grasp_rows_time_proposals_for_one_cloud(tmp_path: Path) -> None:
    checkpoint = write_tiny_object_prior(tmp_path)
    rows = run_benchmark(whats=["grasp"], batches=[2], checkpoint=checkpoint, repeats=1, ddim_steps=2).rows
    check_rows(rows, "grasp", [2])
    # The denoiser row of an object prior feeds it an object feature (the null one).
    check_rows(run_benchmark(whats=["denoiser"], batches=[3], checkpoint=checkpoint, repeats=1).rows, "denoiser", [3])


def test_median_and_p95_come_from_the_timed_repeats(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    series = iter([[4.0, 1.0, 3.0, 40.0, 2.0], [float(t) for t in range(20, 0, -1)]])
    calls: list[int] = []

    def fake_timed(fn: object, repeats: int, device: object, on_call: object = None) -> list[float]:
        calls.append(repeats)
        return next(series)

    monkeypatch.setattr(benchmark, "timed_ms", fake_timed)
    rows = run_benchmark(whats=["denoiser"], batches=[1, 3], checkpoint=checkpoint, repeats=7).rows
    assert calls == [7, 7]
    assert (rows[0]["median_ms"], rows[0]["p95_ms"]) == (3.0, 40.0)
    assert (rows[1]["median_ms"], rows[1]["p95_ms"]) == (10.5, 19.0)


def test_format_rows_has_a_header_and_one_line_per_row() -> None:
    rows = [
        {
            "backend": "torch",
            "device": "cpu",
            "preset": "small",
            "what": "denoiser",
            "batch": batch,
            "median_ms": 1.5 * batch,
            "p95_ms": 3.0 * batch,
            "peak_mb": 300.0,
            "speedup": 2.0 if batch > 1 else None,
            "other_load_cores": None if batch == 1 else 0.25,
            "cpu_cores": 16,
        }
        for batch in (1, 16, 64)
    ]
    lines = format_rows(rows).split("\n")
    assert lines[0].split() == [
        "backend", "device", "preset", "what", "batch", "median_ms", "p95_ms", "speedup", "peak_mb", "others"
    ]  # fmt: skip
    assert set(lines[1]) == {"-"}
    assert len(lines) == 2 + len(rows)
    for line, row in zip(lines[2:], rows, strict=True):
        fields = line.split()
        assert fields[:5] == ["torch", "cpu", "small", "denoiser", str(row["batch"])]
        assert float(fields[5]) == pytest.approx(row["median_ms"], abs=0.05)
        assert float(fields[6]) == pytest.approx(row["p95_ms"], abs=0.05)
        assert fields[7] == ("-" if row["speedup"] is None else "2.00x")
        assert fields[9] == ("-" if row["other_load_cores"] is None else "0.2/16")
    assert format_rows([]).count("\n") == 1  # header and rule only


def test_unknown_what_is_a_value_error(checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="what must be one of"):
        run_benchmark(whats=["decoder"], batches=[1], checkpoint=checkpoint, repeats=1)


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        run_benchmark(whats=["denoiser"], batches=[1], checkpoint=tmp_path / "none.safetensors", repeats=1)


def test_cli_bench_writes_json_rows(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "tmp" / "b.json"
    argv = ["bench", "denoiser", "--backends", "torch", "--batches", "1,2", "--checkpoint", str(checkpoint)]
    argv += ["--repeats", "1"]
    assert main([*argv, "--json", str(target)]) == 0
    rows = json.loads(target.read_text())
    assert isinstance(rows, list)
    check_rows(rows, "denoiser", [1, 2])
    out = capsys.readouterr().out
    assert out.split("\n")[0].split()[0] == "backend"
    assert len([line for line in out.split("\n") if line.startswith("torch ")]) == 2
    assert {p.name for p in tmp_path.rglob("*")} == {"tmp", "b.json"}
