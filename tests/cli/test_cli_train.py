"""`interhandgen train`, run in-process: a recipe's top-level key picks what is trained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from interhandgen_core.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toy_hands import write_hands


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write_hands(tmp_path / "a.npz", 30, 1)
    return tmp_path


def test_train_dispatches_a_vae_recipe(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = files / "vae.yaml"
    recipe.write_text(
        yaml.safe_dump({"train_data": str(files / "a.npz"), "max_steps": 3, "batch_size": 8, "vae": {"hidden_dim": 16}})
    )
    assert main(["train", "--config", str(recipe), "--out", str(files / "vae")]) == 0
    assert json.loads((files / "vae" / "model.json").read_text())["format"] == "interhandgen-vae"
    assert main(["train", "--config", str(recipe), "--out", str(files / "vae"), "--resume"]) == 1
    assert "not resumable" in capsys.readouterr().err
