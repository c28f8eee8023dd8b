"""`interhandgen data interhand` and `data arctic`: what they write, and one-line errors for missing inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from dataset_formats import (
    random_arctic_sequence,
    random_world_scenes,
    write_arctic_sequence,
    write_arctic_split,
    write_arctic_template,
    write_interhand_split,
    write_mano_dir,
)

from interhandgen_core.cli import main
from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.data.grasp_pairs import GraspPairs
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.mano_pickle import MANO_FILE_NAMES
from interhandgen_core.io.hands_file import read_hands_file


@pytest.fixture(scope="module")
def interhand_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("interhand")
    mano = write_mano_dir(root / "mano", seed=2)
    right, left = load_hand_pair("mano", mano)
    layers = (HandLayer(left), HandLayer(right))
    for split, seed in (("train", 1), ("val", 2), ("test", 3)):
        write_interhand_split(root / "annotations", split, layers, *random_world_scenes(6, seed))
    return root / "annotations", mano


def test_interhand_writes_hands_files_training_reads(
    interhand_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    annotations, mano = interhand_root
    out = tmp_path / "out"
    argv = ["data", "interhand", "--annotations", str(annotations), "--mano-dir", str(mano), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    for split in ("train", "val", "test"):
        left, _ = load_twohand_params(out / f"interhand_{split}.npz")  # what training and evaluation read
        assert left.batch_size == 6
        torch.testing.assert_close(left.translation, torch.zeros(6, 3))
        hands = read_hands_file(out / f"interhand_{split}.npz")
        assert hands.left_keypoints is not None and hands.left_keypoints.shape == (6, 21, 3)
        summary = json.loads((out / f"interhand_{split}.json").read_text())
        assert (
            summary["scenes"] == 6 and summary["skipped"]["frames with NaN or infinite MANO parameters"]["count"] == 1
        )
        assert (out / f"interhand_{split}_preview.png").stat().st_size > 10_000
        assert not (out / f".interhand_{split}_parts").exists()
    assert "train: 6 scenes from" in capsys.readouterr().out


def test_interhand_missing_mano_file_is_one_line(
    interhand_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    annotations, mano = interhand_root
    partial = tmp_path / "mano"
    partial.mkdir()
    (partial / MANO_FILE_NAMES["right"]).write_bytes((mano / MANO_FILE_NAMES["right"]).read_bytes())
    argv = ["data", "interhand", "--annotations", str(annotations), "--out", str(tmp_path / "out")]
    assert main([*argv, "--mano-dir", str(partial)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MANO_LEFT.pkl: MANO model file not found" in err
    assert not (tmp_path / "out").exists()


def test_interhand_missing_annotation_is_one_line(
    interhand_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, mano = interhand_root
    argv = ["data", "interhand", "--annotations", str(tmp_path), "--mano-dir", str(mano), "--out", str(tmp_path / "o")]
    assert main([*argv, "--splits", "val"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "InterHand2.6M_val_data.json: not found" in err


@pytest.fixture(scope="module")
def arctic_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("arctic")
    mano = write_mano_dir(root / "mano", seed=3)
    right, left = load_hand_pair("mano", mano)
    layers = (HandLayer(left), HandLayer(right))
    write_arctic_template(root, "box")
    write_arctic_template(root, "laptop")
    train = ["s01/box_grab_01", "s01/laptop_use_01", "s02/box_use_01"]
    for i, entry in enumerate([*train, "s05/laptop_grab_01"]):
        write_arctic_sequence(root, entry, layers, random_arctic_sequence(6, seed=20 + i))
    write_arctic_split(root, {"train": train, "val": ["s05/laptop_grab_01"], "test": ["s03/box_grab_01"]})
    return root, mano


def test_arctic_writes_grasp_sets_training_reads(
    arctic_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, mano = arctic_root
    out = tmp_path / "out"
    argv = ["data", "arctic", "--root", str(root), "--mano-dir", str(mano), "--out", str(out), "--quiet"]
    assert main([*argv, "--cloud-points", "128"]) == 0
    grasps = GraspSet.load(out / "arctic_train.npz")  # what training and the object protocol read
    assert len(grasps) == 18 and grasps.object_points.shape[1:] == (128, 3)
    assert grasps.kind_names == ("grab", "use") and grasps.kind.tolist() == [0] * 6 + [1] * 12
    assert grasps.objects.family_names == ("box", "laptop")
    pairs = GraspPairs(grasps, num_points=64, sensor_augmentation=0.5)
    x0, _, cloud = pairs.batch(torch.arange(8), torch.Generator().manual_seed(0))
    assert x0.shape == (8, 64) and cloud.shape == (8, 64, 3) and torch.isfinite(x0).all()
    summary = json.loads((out / "arctic_train.json").read_text())
    assert summary["scenes"] == 18 and summary["scenes_per_object"] == {"box": 12, "laptop": 6}
    assert summary["config"]["cloud_points"] == 128
    assert GraspSet.load(out / "arctic_val.npz").objects.family_names == ("laptop",)
    printed = capsys.readouterr().out
    assert "test: " in printed and "1 sequences whose files are missing" in printed
    assert not (out / "arctic_test.npz").exists()
    assert (out / "arctic_train_preview.png").stat().st_size > 10_000


def test_arctic_bad_option_and_missing_root_are_one_line(
    arctic_root: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, mano = arctic_root
    argv = ["data", "arctic", "--mano-dir", str(mano), "--out", str(tmp_path / "o")]
    assert main([*argv, "--root", str(tmp_path)]) == 1
    assert "raw_seqs: not found; --root must be ARCTIC's unpacked data folder" in capsys.readouterr().err
    assert main([*argv, "--root", str(root), "--articulation-step-deg", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "articulation_step_deg must be in (0, 45]" in err


def test_training_runs_on_converted_datasets(
    interhand_root: tuple[Path, Path], arctic_root: tuple[Path, Path], tmp_path: Path
) -> None:
    """What the recipes do, at tiny size: `interhandgen train` on each converter's output."""
    import yaml

    from interhandgen_core.prior.checkpoint import load_prior

    annotations, mano = interhand_root
    root, _ = arctic_root
    data = tmp_path / "data"
    assert main(["data", "interhand", "--annotations", str(annotations), "--mano-dir", str(mano), "--out", str(data),
                 "--splits", "train,val", "--quiet"]) == 0  # fmt: skip
    assert main(["data", "arctic", "--root", str(root), "--mano-dir", str(mano), "--out", str(data),
                 "--splits", "train,val", "--cloud-points", "128", "--quiet"]) == 0  # fmt: skip
    tiny = {"embed_dim": 16, "hidden_dim": 32, "num_heads": 2, "ff_dim": 32, "preset": "custom"}
    encoder = {"num_points": 64, "min_points": 16, "centroids": [16, 4], "radii": [0.04, 0.1], "neighbors": [8, 4],
               "mlps": [[8], [8]], "global_mlp": [8], "head": [8]}  # fmt: skip
    recipes = {
        "interhand": {"train_data": str(data / "interhand_train.npz"), "val_data": str(data / "interhand_val.npz"),
                      "batch_size": 4, "max_steps": 3, "device": "cpu", "model": tiny},
        "arctic": {"train_data": str(data / "arctic_train.npz"), "val_data": str(data / "arctic_val.npz"),
                   "batch_size": 4, "max_steps": 3, "device": "cpu", "model": {**tiny, "object_embedding_dim": 8},
                   "object_encoder": encoder},
    }  # fmt: skip
    for name, recipe in recipes.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert main(["train", "--config", str(path), "--out", str(tmp_path / name)]) == 0
        prior = load_prior(tmp_path / name / "model.safetensors")
        assert (prior.object_encoder is not None) == (name == "arctic")
