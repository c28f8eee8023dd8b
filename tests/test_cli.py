"""The `interhandgen` command line, run in-process: exit codes, one-line errors, and what it writes where.

Contract (cli.py docstring, README): bad arguments print the usage and exit 2 (SystemExit);
errors a user can fix print exactly one line ``interhandgen: error: ...`` and return 1;
each command writes only under the path it is given.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import interhandgen_core
from interhandgen_core.cli import main
from interhandgen_core.data import twohand_synth
from interhandgen_core.io.hands_file import read_hands_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_prior import TINY_CONFIG, write_tiny_object_prior, write_tiny_prior

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
needs_procedural = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def assert_one_line_error(stderr: str, *names: str) -> str:
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    line = lines[0]
    assert line.startswith("interhandgen: error: "), line
    for name in names:
        assert name in line, f"{name!r} not named in {line!r}"
    return line


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    return write_tiny_prior(tmp_path / "ckpt")


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


def test_missing_command_and_unknown_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["sample", "--num", "1", "--out", "x", "--bogus"])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("batches", ["0", "1,-4", "a,b", ","])
def test_bench_bad_batches_exit_2(batches: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "--batches", batches])
    assert info.value.code == 2
    assert "usage: interhandgen bench" in capsys.readouterr().err


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
    assert summary["num"] == 3 and summary["seed"] == 0
    assert sum(summary["kinds"].values()) == 3
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
    assert summary["objects"] == 2 and summary["grasps"] >= 1
    assert summary["statistics"]["contact_ratio"] == 1.0  # accepted grasps touch by construction
    assert "hand-object penetration" in capsys.readouterr().out


def test_data_synth_out_must_be_npz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.txt"
    assert main(["data", "synth", "--num", "1", "--out", str(out)]) == 1
    assert_one_line_error(capsys.readouterr().err, str(out))
    assert files_under(tmp_path) == set()


# bench


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


# Grasps: an object in, ranked grasps out.


@pytest.fixture
def tiny_object_checkpoint(tmp_path: Path) -> Path:
    return write_tiny_object_prior(tmp_path / "object_ckpt")


@pytest.fixture
def box_stl(tmp_path: Path) -> Path:
    import trimesh

    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(0.2, 0.1, 0.12)).export(path)
    return path


@needs_procedural
def test_grasp_writes_ranked_grasps_meshes_and_preview(
    tiny_object_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(box_stl), "--num", "3", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    expected = {Path("grasps.npz"), Path("object.ply"), Path("preview.png")}
    expected |= {Path(f"grasp_{i:04d}.ply") for i in range(3)}
    assert files_under(out) == expected
    hands = read_hands_file(out / "grasps.npz")
    assert hands.num_samples == 3 and hands.scores is not None and hands.object_points is not None
    assert bool(np.all(np.diff(hands.scores) <= 0)), "grasps are written best first"
    printed = capsys.readouterr().out
    assert "score" in printed and "H-O pen mm" in printed


@pytest.mark.parametrize(
    ("content", "suffix", "names"),
    [
        (b"solid nonsense\nthis is not an stl\n", ".stl", ["broken.stl"]),
        (b"", ".npy", ["broken.npy"]),
        (b"hello", ".xyz", ["broken.xyz"]),
    ],
)
def test_grasp_unreadable_object_is_one_line(
    content: bytes,
    suffix: str,
    names: list[str],
    tiny_object_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(content)
    out = tmp_path / "grasps"
    code = main(
        ["grasp", "--object", str(bad), "--num", "1", "--out", str(out), "--checkpoint", str(tiny_object_checkpoint)]
    )
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, *names)
    assert not out.exists()


def test_grasp_with_a_two_hand_prior_is_one_line(
    tiny_checkpoint: Path, box_stl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "grasp",
            "--object",
            str(box_stl),
            "--num",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--checkpoint",
            str(tiny_checkpoint),
        ]
    )
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, "object encoder")


@needs_procedural
def test_evaluate_grasps_writes_statistics(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "grasps", "--objects", "2", "--num", "2", "--previews", "1", "--quiet", "--out", str(out)]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint), "--sensor"]) == 0
    report = json.loads((out / "statistics.json").read_text())
    assert report["sensor"] is True and report["statistics"]["count"] == 4
    assert len(report["per_object"]) == 2
    assert files_under(out) == {Path("statistics.json"), Path("preview_object_00.png")}
    assert "both hands in contact" in capsys.readouterr().out
