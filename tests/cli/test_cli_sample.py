"""`interhandgen sample`, run in-process: exit codes, one-line errors, and what it writes where."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from cli_checks import assert_one_line_error, files_under, needs_procedural

from interhandgen_core.cli import main
from interhandgen_core.io.hands_file import read_hands_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, write_tiny_prior

# Argument errors: usage, exit 2, nothing written.


@pytest.mark.parametrize(
    "extra",
    [
        ["--num", "0"],
        ["--num", "-2"],
        ["--num", "three"],
        ["--num", "2", "--steps", "-1"],
        ["--num", "2", "--steps", "0"],
        ["--num", "2", "--cfg", "-0.5"],
        ["--num", "2", "--cfg", "inf"],
        ["--num", "2", "--pen-weight", "nan"],
        ["--num", "2", "--pen-weight", "-1"],
    ],
    ids=lambda extra: " ".join(extra),
)
def test_sample_bad_arguments_exit_2_with_usage(
    extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "X"
    with pytest.raises(SystemExit) as info:
        main(["sample", *extra, "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: interhandgen sample")
    assert "error: argument" in err
    assert not out.exists()
    assert files_under(tmp_path) == set()


# User errors: exit 1, exactly one line naming the file, nothing written.


def _run_sample_expecting_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path) -> str:
    out = tmp_path / "out"
    before = files_under(tmp_path)
    assert main(["sample", "--num", "2", "--steps", "2", "--checkpoint", str(checkpoint), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert not out.exists()
    assert files_under(tmp_path) == before
    return captured.err


def test_sample_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _run_sample_expecting_error(tmp_path, capsys, tmp_path / "missing.safetensors")
    line = assert_one_line_error(err, "missing.safetensors")
    assert "not found" in line


def test_sample_checkpoint_without_its_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    tiny_checkpoint.with_suffix(".json").unlink()
    err = _run_sample_expecting_error(tmp_path, capsys, tiny_checkpoint)
    assert_one_line_error(err, "tiny.json")


@pytest.mark.parametrize("keep", [0.5, 0.0, 1e-4], ids=["half", "empty", "header-only"])
def test_sample_truncated_checkpoint(
    keep: float, tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    data = tiny_checkpoint.read_bytes()
    tiny_checkpoint.write_bytes(data[: int(len(data) * keep)])
    err = _run_sample_expecting_error(tmp_path, capsys, tiny_checkpoint)
    line = assert_one_line_error(err, str(tiny_checkpoint))
    assert "truncated or corrupt" in line


def test_sample_checkpoint_whose_json_says_other_dimensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    json_path = tiny_checkpoint.with_suffix(".json")
    meta = json.loads(json_path.read_text())
    meta["model"]["embed_dim"] = 32  # the tensors were written with 16
    json_path.write_text(json.dumps(meta))
    err = _run_sample_expecting_error(tmp_path, capsys, tiny_checkpoint)
    line = assert_one_line_error(err, str(tiny_checkpoint))
    assert "shape" in line and "tiny.json" in line


def test_sample_checkpoint_with_tensors_of_another_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    # Tensors of a one-block encoder under the JSON of the two-block tiny configuration.
    other = write_tiny_prior(tmp_path / "other", config=dataclasses.replace(TINY_CONFIG, num_layers=1))
    tiny_checkpoint.write_bytes(other.read_bytes())
    err = _run_sample_expecting_error(tmp_path, capsys, tiny_checkpoint)
    line = assert_one_line_error(err, str(tiny_checkpoint))
    assert "do not match the configuration" in line and "missing denoiser.encoder.layers.1" in line


def test_sample_not_a_checkpoint_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    tiny_checkpoint.with_suffix(".json").write_text("{not json")
    err = _run_sample_expecting_error(tmp_path, capsys, tiny_checkpoint)
    assert_one_line_error(err, "tiny.json")


@needs_procedural
def test_sample_more_steps_than_the_model_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    out = tmp_path / "out"
    argv = ["sample", "--num", "1", "--steps", "1000", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    assert main(argv) == 1
    assert_one_line_error(capsys.readouterr().err, "1000")
    assert not out.exists()


@needs_procedural
def test_sample_out_is_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub"):
        argv = ["sample", "--num", "1", "--steps", "1", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
        assert main(argv) == 1
        assert_one_line_error(capsys.readouterr().err, str(blocker))
    assert blocker.read_text() == "not a folder"


def test_sample_unknown_device_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    out = tmp_path / "out"
    argv = ["sample", "--num", "1", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "banana"]
    assert main(argv) == 1
    assert_one_line_error(capsys.readouterr().err, "banana")
    assert not out.exists()


# A successful run writes its files, and only those, under --out.


@needs_procedural
def test_sample_writes_only_under_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # a stray relative write would land here too
    before = files_under(tmp_path)
    out = tmp_path / "tmp" / "out"
    argv = ["sample", "--num", "3", "--steps", "2", "--checkpoint", str(tiny_checkpoint), "--out", str(out)]
    assert main(argv) == 0
    expected = {"samples.npz", "sample_0000.ply", "sample_0001.ply", "sample_0002.ply", "preview.png"}
    expected.add("statistics.json")
    assert {p.name for p in out.iterdir()} == expected
    new = files_under(tmp_path) - before
    assert new == {Path("tmp"), Path("tmp/out")} | {Path("tmp/out") / name for name in expected}

    hands = read_hands_file(out / "samples.npz")
    assert hands.num_samples == 3
    assert hands.left_vertices is not None and hands.left_vertices.shape[0] == 3
    assert (out / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sample_0000.ply").read_bytes().startswith(b"ply")
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["count"] == 3
    assert {"mean_penetration_mm", "p95_penetration_mm", "penetrating_ratio", "proximity_ratio"} <= set(stats)

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().split("\n")
    assert lines[0].startswith("3 samples: penetration depth mean ")
    assert f"{stats['mean_penetration_mm']:.2f} mm" in lines[0]
    assert str(out / "samples.npz") in captured.out


def test_sample_through_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed (pip install 'interhandgen-core[onnx]')")
    checkpoint = write_tiny_prior(tmp_path / "prior")
    argv = ["sample", "--num", "2", "--steps", "2", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "s")]
    assert main([*argv, "--backend", "onnxruntime", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert (tmp_path / "s" / "samples.npz").is_file()
    assert len(list((tmp_path / "cache" / "onnx").glob("denoiser-*.onnx"))) == 1


@needs_procedural
def test_sample_anchors_gives_a_right_hand_to_each_left_hand_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = write_tiny_prior(tmp_path / "prior")
    first = tmp_path / "first"
    assert main(["sample", "--num", "3", "--steps", "2", "--checkpoint", str(checkpoint), "--out", str(first)]) == 0
    anchors = first / "samples.npz"
    partners = tmp_path / "partners"
    argv = ["sample", "--anchors", str(anchors), "--num", "2", "--steps", "2", "--checkpoint", str(checkpoint)]
    assert main([*argv, "--out", str(partners)]) == 0
    given, made = read_hands_file(anchors), read_hands_file(partners / "samples.npz")
    assert made.left_pose is not None and given.left_pose is not None and made.left_pose.shape[0] == 2
    assert (made.left_pose == given.left_pose[:2]).all()
    capsys.readouterr()
    assert main(["sample", "--steps", "2", "--out", str(tmp_path / "neither")]) == 1
    assert_one_line_error(capsys.readouterr().err, "--anchors")
