"""`interhandgen retarget` and `interhandgen bench retarget`, run in-process: robot commands and a preview
from a hands file; one-line errors for bad robot files; a stream's lost frames hold the last command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interhandgen_core.array_files import read_npz
from interhandgen_core.cli import main
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import hands_file_from_params, write_hands_file


def _hands_file(path: Path, rows: int, object_points: bool = False) -> np.ndarray:
    right_asset, left_asset = load_hand_pair("procedural")
    generator = torch.Generator().manual_seed(0)

    def params() -> HandParams:
        return HandParams(
            pose=0.15 * torch.randn(rows, 45, generator=generator),
            betas=torch.zeros(rows, 10),
            rotation=torch.eye(3).repeat(rows, 1, 1),
            translation=torch.linspace(0, 0.05, rows)[:, None] * torch.tensor([1.0, 0.0, 0.0]),
        )

    extra = {"object_points": np.zeros((8, 3), dtype=np.float32)} if object_points else {}
    hands = hands_file_from_params(HandLayer(left_asset), HandLayer(right_asset), params(), params(), **extra)
    assert hands.right_keypoints is not None
    if not object_points:
        hands.right_keypoints[2] = np.nan  # the right hand lost in frame 2
    write_hands_file(path, hands)
    return hands.right_keypoints


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip("\n").split("\n")
    assert len(err) == 1 and err[0].startswith("interhandgen: error: "), err
    return err[0]


def test_retarget_writes_commands_and_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _hands_file(tmp_path / "hands.npz", 5)
    out = tmp_path / "robot" / "robot.npz"
    assert main(["retarget", "--input", str(tmp_path / "hands.npz"), "--robot", "shadow", "--out", str(out)]) == 0
    arrays = read_npz(out, "robot commands")
    assert arrays["left_joint_positions"].shape == (5, 22) and arrays["right_wrist_pose"].shape == (5, 4, 4)
    assert list(arrays["left_joint_names"])[:2] == ["robot0:FFJ3", "robot0:FFJ2"]
    assert not arrays["right_valid"][2] and arrays["left_valid"].all()
    # A stream: the lost frame holds the frame before's command.
    np.testing.assert_array_equal(arrays["right_joint_positions"][2], arrays["right_joint_positions"][1])
    assert (out.parent / "robot_preview.png").stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["robot.npz", "robot_preview.png"]


def test_grasp_files_are_independent_rows(tmp_path: Path) -> None:
    _hands_file(tmp_path / "grasps.npz", 3, object_points=True)
    out = tmp_path / "robot.npz"
    assert main(["retarget", "--input", str(tmp_path / "grasps.npz"), "--out", str(out)]) == 0
    arrays = read_npz(out, "robot commands")
    assert arrays["right_valid"].all() and np.isfinite(arrays["right_fingertip_error_m"]).all()


def test_bad_robot_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _hands_file(tmp_path / "hands.npz", 3)
    robot = tmp_path / "robot.yaml"
    robot.write_text("model: absent.urdf\nroot: palm\nwrist: palm\nfingers: {}\n")
    code = main(
        ["retarget", "--input", str(tmp_path / "hands.npz"), "--robot", str(robot), "--out", str(tmp_path / "o.npz")]
    )
    assert code == 1
    assert "needs at least 3 fingers" in _error_line(capsys)
    assert not (tmp_path / "o.npz").exists()


def test_bench_retarget_without_grasps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    json_path = tmp_path / "bench.json"
    code = main(["bench", "retarget", "--sequences", "1", "--objects", "0", "--quiet", "--json", str(json_path)])
    assert code == 0
    text = capsys.readouterr().out
    assert "streams  filtered" in text and "streams  unfiltered" in text

    rows = json.loads(json_path.read_text())
    assert all(row["limit_violations"] == 0 for row in rows)
    assert rows[0]["accel_rms_rad_s2"] < rows[1]["accel_rms_rad_s2"]  # the filter smooths
