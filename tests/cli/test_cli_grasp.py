"""`interhandgen grasp`, run in-process: an object in, ranked grasps out; one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_error, files_under, needs_procedural

from interhandgen_core.cli import main
from interhandgen_core.io.hands_file import read_hands_file


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
def test_grasp_converts_a_cloud_in_millimetres_with_a_warning(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import trimesh

    points = trimesh.creation.box(extents=(0.2, 0.1, 0.12)).sample(3000, seed=0)  # type: ignore[call-arg]
    cloud = tmp_path / "box_mm.npy"
    np.save(cloud, (points + np.array([0.5, 0.0, 0.3])) * 1000.0)  # a box 20 cm long, in millimetres
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("interhandgen: warning: ")]
    assert len(warnings) == 1 and "spans 200 units: it looks like millimetres" in warnings[0], captured.err
    assert "converted from millimetres" in captured.out
    hands = read_hands_file(out / "grasps.npz")
    assert hands.object_points is not None
    # The results are in metres, where the box is: not 1000 times too far.
    span = np.ptp(hands.object_points.reshape(-1, 3), axis=0)
    assert 0.15 < span.max() < 0.25, span
    for keypoints in (hands.left_keypoints, hands.right_keypoints):
        assert keypoints is not None and np.abs(keypoints - [0.5, 0.0, 0.3]).max() < 1.0


@needs_procedural
@pytest.mark.parametrize(
    ("extents", "size", "which"), [((0.04, 0.03, 0.02), "4.0 cm", "small"), ((1.2, 0.3, 0.4), "1", "large")]
)
def test_grasp_warns_of_an_object_too_small_or_large_for_two_hands(
    extents: tuple[float, float, float],
    size: str,
    which: str,
    tiny_object_checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import trimesh

    cloud = tmp_path / "object.npy"
    np.save(cloud, trimesh.creation.box(extents=extents).sample(3000, seed=0))  # type: ignore[call-arg]
    out = tmp_path / "grasps"
    args = ["grasp", "--object", str(cloud), "--num", "2", "--out", str(out), "--steps", "2"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("interhandgen: warning: ")]
    assert len(warnings) == 1 and f"too {which} for two hands" in warnings[0] and f"spans {size}" in warnings[0]
    assert read_hands_file(out / "grasps.npz").num_samples == 2  # proposals are still returned
