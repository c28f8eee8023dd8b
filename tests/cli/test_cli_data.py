"""`interhandgen data synth|interhand|arctic|motion`: what they write, and one-line errors for bad inputs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import assert_one_line_error, files_under, needs_procedural
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
from interhandgen_core.data import twohand_synth
from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.data.grasp_pairs import GraspPairs
from interhandgen_core.data.grasp_synth import GRASP_KINDS, GraspSet
from interhandgen_core.data.procedural_objects import ALL_FAMILIES, OBJECT_FAMILIES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.mano_pickle import MANO_FILE_NAMES
from interhandgen_core.io.hands_file import read_hands_file

# data synth


@needs_procedural
def test_data_synth_writes_only_its_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The synthesiser optimises candidates in chunks of 256 whatever --num is (minutes on a busy CPU);
    # chunks of 16 keep this test short without changing what the command writes.
    small_chunks = functools.partial(twohand_synth.TwoHandSynthConfig, chunk_size=16)
    monkeypatch.setattr(twohand_synth, "TwoHandSynthConfig", small_chunks)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "tmp" / "d.npz"
    argv = ["data", "synth", "--kind", "twohand", "--num", "3", "--seed", "0", "--out", str(out), "--quiet"]
    assert main([*argv, "--iterations", "3"]) == 0
    assert files_under(tmp_path) == {Path("tmp"), Path("tmp/d.npz"), Path("tmp/d.json"), Path("tmp/d_preview.png")}
    hands = read_hands_file(out)
    assert hands.num_samples == 3
    assert hands.left_pose is not None and np.isfinite(hands.left_pose).all()
    summary = json.loads((tmp_path / "tmp" / "d.json").read_text())
    assert list(summary) == ["num", "seed", "attempts", "acceptance_ratio", "kinds", "statistics", "hand_model"]
    assert summary["num"] == 3 and summary["seed"] == 0 and summary["hand_model"] == "procedural"
    assert summary["attempts"] >= 3 and summary["acceptance_ratio"] == 3 / summary["attempts"]
    assert list(summary["kinds"]) == list(twohand_synth.INTERACTION_KINDS)
    assert sum(summary["kinds"].values()) == 3
    assert summary["statistics"]["count"] == 3
    assert "3 samples: penetration depth mean" in capsys.readouterr().out


def test_data_synth_unknown_kind_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o.npz"
    with pytest.raises(SystemExit) as info:
        main(["data", "synth", "--kind", "juggling", "--num", "3", "--out", str(out)])
    assert info.value.code == 2
    assert "invalid choice: 'juggling'" in capsys.readouterr().err
    assert files_under(tmp_path) == set()


@needs_procedural
def test_data_synth_object_writes_grasps_summary_and_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.npz"
    args = ["data", "synth", "--kind", "object", "--num", "2", "--grasps-per-object", "1", "--iterations", "40"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert files_under(tmp_path) == {Path("g.npz"), Path("g.json"), Path("g_preview.png")}
    summary = json.loads((tmp_path / "g.json").read_text())
    assert list(summary) == [
        "objects",
        "grasps",
        "seed",
        "attempts",
        "acceptance_ratio",
        "kinds",
        "families",
        "statistics",
        "hand_model",
        "synthesis",
    ]
    assert summary["objects"] == 2 and summary["grasps"] >= 1 and summary["seed"] == 0
    assert summary["acceptance_ratio"] == summary["grasps"] / summary["attempts"]
    assert list(summary["kinds"]) == list(GRASP_KINDS) and sum(summary["kinds"].values()) == summary["grasps"]
    assert list(summary["families"]) == list(ALL_FAMILIES) and sum(summary["families"].values()) == 2
    # The contact objective (the default) draws only the original families.
    assert all(summary["families"][f] == 0 for f in ALL_FAMILIES if f not in OBJECT_FAMILIES)
    assert summary["statistics"]["count"] == summary["grasps"] and summary["hand_model"] == "procedural"
    assert summary["statistics"]["contact_ratio"] == 1.0  # accepted grasps touch by construction
    assert len(GraspSet.load(out)) == summary["grasps"]
    assert "hand-object penetration" in capsys.readouterr().out


@needs_procedural
def test_data_synth_force_closure_writes_its_synthesis_and_keeps_off_the_held_out_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "h.npz"
    args = ["data", "synth", "--kind", "object", "--objective", "force-closure", "--num", "1"]
    assert main([*args, "--seed", "1000", "--out", str(out), "--quiet"]) == 1
    assert_one_line_error(capsys.readouterr().err, "--seed 1000")
    assert files_under(tmp_path) == set()
    # Without the physics filter (tests/data/test_grasp_synth.py covers it), a few iterations.
    fast = ["--grasps-per-object", "1", "--iterations", "30", "--no-physics-filter", "--seed", "3"]
    assert main([*args, *fast, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((tmp_path / "h.json").read_text())
    assert summary["synthesis"]["objective"] == "force-closure" and summary["synthesis"]["physics_filter"] == 0.0
    assert summary["synthesis"]["candidates"] == summary["attempts"]
    assert len(GraspSet.load(out)) == summary["grasps"] >= 1

    # Shards of a long synthesis merge into one training set, their synthesis costs added up.
    other = tmp_path / "h2.npz"
    assert main([*args, *fast[:-1], "4", "--out", str(other), "--quiet"]) == 0
    merged = tmp_path / "merged.npz"
    assert main(["data", "merge", str(out), str(other), "--out", str(merged)]) == 0
    both = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("h", "h2")]
    total = json.loads((tmp_path / "merged.json").read_text())
    assert total["grasps"] == sum(b["grasps"] for b in both) and total["objects"] == 2
    assert total["synthesis"]["candidates"] == sum(b["synthesis"]["candidates"] for b in both)
    assert total["seed"] == [3, 4] and (tmp_path / "merged_preview.png").is_file()
    assert len(GraspSet.load(merged)) == total["grasps"]
    capsys.readouterr()
    assert main(["data", "merge", str(out), str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m2.npz")]) == 1
    assert_one_line_error(capsys.readouterr().err, "missing.npz")


def test_data_synth_out_must_be_npz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.txt"
    assert main(["data", "synth", "--num", "1", "--out", str(out)]) == 1
    assert_one_line_error(capsys.readouterr().err, str(out))
    assert files_under(tmp_path) == set()


# data interhand


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
        assert list(summary) == [
            "split",
            "annotations_read",
            "scenes",
            "frames",
            "per_image",
            "skipped",
            "hand_model",
            "frame",
        ]
        assert (
            summary["scenes"] == 6 and summary["skipped"]["frames with NaN or infinite MANO parameters"]["count"] == 1
        )
        assert summary["split"] == split and summary["frames"] == 6 and summary["per_image"] is False
        assert summary["hand_model"] == f"mano ({mano})" and summary["frame"].startswith("left hand canonical")
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


# data arctic


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
    assert list(summary) == [
        "split",
        "sequences_listed",
        "sequences_converted",
        "scenes",
        "scenes_per_object",
        "scenes_per_action",
        "object_instances",
        "skipped",
        "config",
        "hand_model",
        "frame",
    ]
    assert summary["scenes"] == 18 and summary["scenes_per_object"] == {"box": 12, "laptop": 6}
    assert summary["scenes_per_action"] == {"grab": 6, "use": 12} and summary["skipped"] == {}
    assert summary["split"] == "train" and summary["sequences_listed"] == summary["sequences_converted"] == 3
    assert summary["config"]["cloud_points"] == 128
    assert summary["hand_model"] == f"mano ({mano})" and summary["frame"].startswith("object frame")
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


# data motion


def _mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)) * 1000.0)


def test_data_motion_writes_truth_and_a_keypoint_only_report(motion_dir: Path) -> None:
    assert {p.name for p in motion_dir.iterdir()} == {"truth_000.npz", "observed_000.npz"}
    truth = read_hands_file(motion_dir / "truth_000.npz")
    observed = read_hands_file(motion_dir / "observed_000.npz")
    assert truth.num_samples == observed.num_samples == 12
    assert truth.left_pose is not None and truth.right_vertices is not None
    assert set(observed.to_arrays()) == {"left_keypoints", "right_keypoints", "left_confidence", "right_confidence"}
    # The report is the truth seen through a noisy tracker: close, not equal (10 mm per axis by default).
    assert observed.left_keypoints is not None and truth.left_keypoints is not None
    assert 5.0 < _mpjpe_mm(observed.left_keypoints, truth.left_keypoints) < 60.0


def test_symmetrise_writes_every_other_scene_swapped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from toy_hands import write_hands

    from interhandgen_core.prior.representation import scene_to_pair, swapped_scene

    source = write_hands(tmp_path / "scenes.npz", 6, 0)
    out = tmp_path / "sym.npz"
    assert main(["data", "symmetrise", str(source), "--num", "4", "--out", str(out)]) == 0
    left, right = load_twohand_params(source)
    written = scene_to_pair(*load_twohand_params(out))
    kept = scene_to_pair(left.select(slice(0, 4)), right.select(slice(0, 4)))
    swapped = scene_to_pair(*swapped_scene(left.select(slice(0, 4)), right.select(slice(0, 4))))
    for ours, a, b in zip(written, kept, swapped, strict=True):
        assert ours.shape[0] == 4
        torch.testing.assert_close(ours[0::2], a[0::2], atol=1e-5, rtol=0)
        torch.testing.assert_close(ours[1::2], b[1::2], atol=1e-5, rtol=0)
    assert np.load(out)["left_keypoints"].shape == (4, 21, 3)
    capsys.readouterr()
    assert main(["data", "symmetrise", str(source), "--num", "7", "--out", str(tmp_path / "s2.npz")]) == 1
    assert_one_line_error(capsys.readouterr().err, "holds 6 scenes")
    assert not (tmp_path / "s2.npz").exists()


def test_merge_twohand_sets_concatenates_scenes_and_adds_up_summaries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toy_hands import write_hands

    a, b = write_hands(tmp_path / "a.npz", 5, 0), write_hands(tmp_path / "b.npz", 3, 1)
    for path, seed, count in ((a, 11, 5), (b, 12, 3)):
        summary = {"num": count, "seed": seed, "attempts": 2 * count, "kinds": {"handshake": count}}
        path.with_suffix(".json").write_text(json.dumps(summary))
    out = tmp_path / "ab.npz"
    assert main(["data", "merge", "--kind", "twohand", str(a), str(b), "--out", str(out)]) == 0
    merged_left, merged_right = load_twohand_params(out)
    for side in (0, 1):
        parts = [load_twohand_params(a)[side], load_twohand_params(b)[side]]
        merged = (merged_left, merged_right)[side]
        torch.testing.assert_close(merged.pose, torch.cat([p.pose for p in parts]))
        torch.testing.assert_close(merged.translation, torch.cat([p.translation for p in parts]))
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["num"] == 8 and summary["seed"] == [11, 12] and summary["attempts"] == 16
    assert summary["kinds"] == {"handshake": 8}
    capsys.readouterr()
    grasps_like = tmp_path / "bad.npz"
    np.savez(grasps_like, left_pose=np.zeros((2, 45)))
    assert main(["data", "merge", "--kind", "twohand", str(a), str(grasps_like), "--out", str(tmp_path / "x.npz")]) == 1
    assert_one_line_error(capsys.readouterr().err, "bad.npz")
    assert not (tmp_path / "x.npz").exists()
