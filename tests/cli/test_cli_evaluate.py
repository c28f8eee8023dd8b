"""`interhandgen evaluate grasps|samples|protocol`, run in-process: what they write, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_checks import files_under, needs_procedural

from interhandgen_core.cli import main
from interhandgen_core.evaluation.backbone_training import new_backbone
from interhandgen_core.evaluation.configuration import FeatureBackboneConfig
from interhandgen_core.evaluation.feature_backbone import save_backbone
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.prior.configuration import SamplerConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_prior
from toy_hands import write_hands

TINY = FeatureBackboneConfig(
    points_per_hand=32, centroids=(16, 4), neighbors=(8, 4), mlps=((8,), (8,)), global_mlp=(16,), head=(8,)
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    right, left = load_hand_pair("procedural", None)
    torch.manual_seed(0)
    save_backbone(tmp_path / "bb", new_backbone(TINY, HandLayer(right), HandLayer(left)))
    write_hands(tmp_path / "ref.npz", 30, 0)
    write_hands(tmp_path / "a.npz", 30, 1)
    return tmp_path


def test_evaluate_samples_writes_the_tables(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["evaluate", "samples", "--reference", str(files / "ref.npz"), "--samples", f"mine={files / 'a.npz'}",
         "--backbone", str(files / "bb.safetensors"), "--out", str(files / "out"), "--quiet"]
    )  # fmt: skip
    assert code == 0
    assert "| mine |" in (files / "out" / "protocol.md").read_text()
    assert json.loads((files / "out" / "protocol.json").read_text())["results"]["mine"]["fhid"]["mean"] >= 0
    assert "rows in" in capsys.readouterr().out


def test_evaluate_samples_bad_input_is_one_line(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "samples", "--reference", str(files / "ref.npz"), "--backbone", str(files / "bb.safetensors"),
            "--out", str(files / "out"), "--quiet"]  # fmt: skip
    assert main([*base, "--samples", "no-equals-sign"]) == 1
    assert "--samples must be NAME=FILE.npz" in capsys.readouterr().err
    with np.load(files / "a.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["left_translation"][2, 1] = np.inf
    np.savez(files / "inf.npz", **arrays)
    assert main([*base, "--samples", f"bad={files / 'inf.npz'}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inf.npz" in err[0]
    assert main([*base, "--samples", f"missing={files / 'missing.npz'}"]) == 1
    assert "missing.npz" in capsys.readouterr().err


def test_evaluate_protocol_runs_a_config_and_refuses_unknown_variants(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "reference": str(files / "ref.npz"),
        "backbone": str(files / "bb.safetensors"),
        "num_samples": 20,
        "metrics": {"khid_subsets": 2, "pr_samples": 20},
        "variants": {"tiny": {"label": "Tiny prior", "checkpoint": str(write_tiny_prior(files)), "cfg_weight": 0.0}},
    }
    path = files / "protocol.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["evaluate", "protocol", "--config", str(path), "--out", str(files / "p"), "--quiet"]) == 0
    assert (files / "p" / "samples" / "tiny_0.npz").is_file()
    assert main(["evaluate", "protocol", "--config", str(path), "--out", str(files / "p"), "--only", "nope"]) == 1
    assert "no variant(s) nope" in capsys.readouterr().err


@needs_procedural
def test_evaluate_grasps_writes_statistics(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "grasps", "--objects", "2", "--num", "2", "--previews", "1", "--quiet", "--out", str(out)]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint), "--sensor", "--steps", "3"]) == 0
    report = json.loads((out / "statistics.json").read_text())
    assert report["sensor"] is True and report["statistics"]["count"] == 4
    assert (report["ddim_steps"], report["cfg_weight"]) == (3, SamplerConfig().cfg_weight)  # --steps reached it
    assert len(report["per_object"]) == 2
    for row in report["per_object"]:  # the back of each one-sided cloud inferred, measured against the exact solid
        assert row["inferred_points"] > 100 and 0.0 < row["inferred_mean_distance_mm"] < 30.0
        assert "inferred_mean_signed_distance_mm" in row  # its value: tests/evaluation/test_heldout_grasps.py
    assert files_under(out) == {Path("statistics.json"), Path("preview_object_00.png")}
    assert "both hands in contact" in capsys.readouterr().out


@needs_procedural
def test_evaluate_grasps_with_physics_reports_success_all_and_top_k(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "grasps", "--objects", "1", "--num", "3", "--previews", "0", "--quiet", "--out", str(out)]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint), "--physics", "--push-time", "0.2"]) == 0
    physics = json.loads((out / "statistics.json").read_text())["physics"]
    assert physics["grasps"] == 3 and physics["top_k"] == 4
    assert physics["config"]["push_time"] == 0.2 and physics["config"]["press_depth"] == 0.005
    assert 0.0 <= physics["success_all"] <= 1.0 and set(physics["held_per_direction"]) == {
        "+x",
        "-x",
        "+y",
        "-y",
        "+z",
        "-z",
    }
    assert physics["grasps_per_second"] > 0
    assert "hold in all six directions" in capsys.readouterr().out


def test_physics_options_without_physics_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", "grasps", "--objects", "1", "--num", "1", "--friction", "0.3", "--out", str(tmp_path / "e")]
    assert main(args) == 1
    assert "--friction: physics options apply only with --physics or --rank physics" in _error_line(capsys)


def test_unknown_viewpoint_without_sensor_clouds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", "grasps", "--objects", "1", "--num", "1", "--unknown-viewpoint", "--out", str(tmp_path / "e")]
    assert main(args) == 1
    assert "--unknown-viewpoint applies only to the one-sided clouds of --sensor" in _error_line(capsys)
    assert not (tmp_path / "e").exists()


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interhandgen: error: "), lines
    return lines[0]


def test_evaluate_protocol_refuses_too_few_samples_before_sampling(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The variant's checkpoint does not even exist: a refusal that came after loading it would name it.
    config = {
        "reference": str(files / "ref.npz"),
        "backbone": str(files / "bb.safetensors"),
        "variants": {"tiny": {"label": "Tiny prior", "checkpoint": str(files / "not_made_yet.safetensors")}},
    }
    path = files / "protocol.yaml"
    path.write_text(yaml.safe_dump(config))
    out = files / "p"
    assert main(["evaluate", "protocol", "--config", str(path), "--out", str(out), "--num", "4"]) == 1
    line = _error_line(capsys)
    # TINY's features are 8-D: FHID needs 9 samples per set.
    assert "--num is 4 samples per variant" in line and "at least 9" in line and "fake" not in line
    assert not out.exists()  # nothing sampled, nothing written


def test_evaluate_samples_refuses_too_few_scenes_before_any_feature_work(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = write_hands(files / "small.npz", 5, 2)
    base = ["evaluate", "samples", "--backbone", str(files / "bb.safetensors"), "--out", str(files / "o")]
    assert main([*base, "--reference", str(files / "ref.npz"), "--samples", f"mine={small}"]) == 1
    line = _error_line(capsys)
    assert f"mine: {small} holds 5 scenes" in line and "at least 9" in line and "fake" not in line
    assert main([*base, "--reference", str(small), "--samples", f"mine={files / 'a.npz'}"]) == 1
    assert f"--reference {small} holds 5 scenes" in _error_line(capsys)
    assert not (files / "o").exists()


def test_evaluate_objects_refuses_too_few_proposals_before_loading_the_prior(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toy_hands import write_grasps

    right, left = load_hand_pair("procedural", None)
    torch.manual_seed(0)
    tiny_object = FeatureBackboneConfig(
        with_object=True, points_per_hand=16, object_points=16, centroids=(8, 4), neighbors=(4, 4),
        mlps=((8,), (8,)), global_mlp=(8,), head=(4,),
    )  # fmt: skip
    save_backbone(tmp_path / "bb", new_backbone(tiny_object, HandLayer(right), HandLayer(left)))
    reference = write_grasps(tmp_path / "ref.npz", 21, num_objects=3, seed=0)  # 7 grasps of each of 3 objects
    args = ["evaluate", "objects", "--reference", str(reference), "--backbone", str(tmp_path / "bb.safetensors")]
    args += ["--checkpoint", str(tmp_path / "not_made_yet.safetensors"), "--out", str(tmp_path / "o")]
    assert main([*args, "--num", "2"]) == 1
    line = _error_line(capsys)
    # 4-D features: 6 per set (precision / recall's k = 5 needs 6); one object per family gets 2 proposals.
    assert "--num is 2 proposals per object" in line and "use at least 6" in line and "fake" not in line
    assert not (tmp_path / "o").exists()


def test_evaluate_protocol_finds_shipped_files_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As training/configs/protocol_twohand.yaml names them: shipped files by their place in the repository,
    # the user's data relative to the working directory, which is not the repository root here.
    config = {
        "reference": "runs/ref.npz",
        "backbone": "interhandgen_core/assets/feature_backbone_twohand.safetensors",
        "variants": {"ours": {"label": "Ours", "checkpoint": "interhandgen_core/assets/twohand_small.safetensors"}},
    }
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "protocol.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    write_hands(tmp_path / "runs" / "ref.npz", 300, 0)
    # --num 2: refused by the size check, which comes after the backbone is loaded and before any sampling.
    assert main(["evaluate", "protocol", "--config", str(path), "--out", "out", "--num", "2"]) == 1
    line = _error_line(capsys)
    assert "--num is 2 samples per variant" in line and "256-D" in line, line  # the shipped backbone's features


def test_evaluate_samples_on_exact_targets_checks_their_size(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "samples", "--backbone", str(files / "bb.safetensors"), "--features", "targets", "--quiet"]
    # 30 scenes cannot give a covariance of the 108 targets: refused before any feature work, in one line.
    assert main([*base, "--reference", str(files / "ref.npz"), "--samples", f"a={files / 'a.npz'}",
                 "--out", str(files / "small")]) == 1  # fmt: skip
    assert "108" in capsys.readouterr().err and not (files / "small").exists()
    write_hands(files / "big_ref.npz", 130, 2)
    write_hands(files / "big_a.npz", 130, 3)
    assert main([*base, "--reference", str(files / "big_ref.npz"), "--samples", f"a={files / 'big_a.npz'}",
                 "--out", str(files / "big")]) == 0  # fmt: skip
    assert (files / "big" / "protocol.md").read_text().startswith("Features: the backbone's regression targets")
    assert json.loads((files / "big" / "protocol.json").read_text())["features"] == "targets"


@needs_procedural
def test_evaluate_grasps_draws_from_the_families_asked_for(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "grasps", "--objects", "3", "--num", "1", "--previews", "0", "--quiet", "--out", str(out)]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint), "--families", "plate,rod"]) == 0
    report = json.loads((out / "statistics.json").read_text())
    assert report["families"] == ["plate", "rod"]
    assert {row["family"] for row in report["per_object"]} <= {"plate", "rod"}
    with pytest.raises(SystemExit):
        main([*args, "--families", "plate,teapot"])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # argparse's usage, then one line of error
    assert last.startswith("interhandgen evaluate grasps: error: argument --families: unknown object families teapot")
