"""Training-step benchmark (evaluation/training_benchmark.py): a real step of the recipe's network, the projection, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest

from interhandgen_core.cli import main
from interhandgen_core.errors import DataError
from interhandgen_core.evaluation import training_benchmark
from interhandgen_core.evaluation.training_benchmark import count_scenes, format_train_row, run_train_benchmark
from interhandgen_core.prior.configuration import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, TINY_DIFFUSION, TINY_ENCODER, TINY_OBJECT_CONFIG
from toy_hands import write_grasps, write_hands


def tiny_recipe(**fields: object) -> TrainConfig:
    values: dict[str, object] = {"train_data": Path("x.npz"), "batch_size": 8, "epochs": 3, **fields}
    return TrainConfig(model=TINY_CONFIG, diffusion=TINY_DIFFUSION, **values)  # type: ignore[arg-type]


def test_row_and_projection() -> None:
    row = run_train_benchmark(tiny_recipe(), "cpu", repeats=2, scenes=100, processes=2)
    assert row["what"] == "train" and row["batch"] == 8 and row["preset"] == "custom"
    assert row["median_ms"] > 0 and row["p95_ms"] >= row["median_ms"] and row["peak_mb"] > 0
    assert row["gflop_per_step"] > 0
    assert row["steps_per_epoch"] == math.ceil(2 * 100 / (8 * 2)) == 13
    assert row["total_steps"] == 3 * 13
    assert row["projected_hours"] == pytest.approx(39 * row["median_ms"] / 3.6e6)
    assert "13 steps per epoch, 39 steps" in format_train_row(row)
    capped = run_train_benchmark(tiny_recipe(max_steps=10), "cpu", repeats=1, scenes=100)
    assert capped["total_steps"] == 10


def test_the_step_trains_the_object_network(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = dataclasses.replace(tiny_recipe(), model=TINY_OBJECT_CONFIG, object_encoder=TINY_ENCODER)
    steps: list[float] = []
    original = training_benchmark.diffusion_loss

    def loss(*args: object, **kwargs: object) -> object:
        value = original(*args, **kwargs)  # type: ignore[arg-type]
        steps.append(float(value.detach()))  # type: ignore[attr-defined]
        assert args[6] is not None and args[6].shape == (8, TINY_ENCODER.num_points, 3)  # type: ignore[union-attr]
        return value

    monkeypatch.setattr(training_benchmark, "diffusion_loss", loss)
    row = run_train_benchmark(recipe, "cpu", repeats=3)
    assert row["object_conditioned"] and "projected_hours" not in row
    assert len(steps) == 5  # the counted step, the warm-up and three timed steps, each a real optimisation step


def test_count_scenes_reads_both_file_kinds(tmp_path: Path) -> None:
    assert count_scenes(write_hands(tmp_path / "h.npz", 12, seed=0)) == 12
    assert count_scenes(write_grasps(tmp_path / "g.npz", 9)) == 9
    with pytest.raises(DataError, match="training data not found"):
        count_scenes(tmp_path / "none.npz")


def test_cli_bench_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    tiny_recipe(train_data=write_hands(tmp_path / "h.npz", 40, seed=1)).to_yaml(recipe)  # type: ignore[arg-type]
    out = tmp_path / "bench.json"
    assert main(["bench", "train", "--config", str(recipe), "--repeats", "2", "--json", str(out)]) == 0
    row = json.loads(out.read_text())[0]
    assert row["scenes"] == 40 and row["steps_per_epoch"] == 10
    assert main(["bench", "train", "--repeats", "1"]) == 1
    assert "bench train needs --config" in capsys.readouterr().err
