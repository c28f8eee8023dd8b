"""`interhandgen refine`, run in-process, on the output of `interhandgen data motion` (tests/cli/conftest.py).

The same contract as the other command-line tests (tests/cli/cli_checks.py): one-line errors
with exit 1, files only under the paths given. The model is the tiny random prior, so these
check the plumbing and the schema, not accuracy (that is the benchmark's job).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from interhandgen_core.cli import main
from interhandgen_core.io.hands_file import HandsFile, read_hands_file, write_hands_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_object_prior, write_tiny_prior


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_prior(tmp_path_factory.mktemp("ckpt"))


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip("\n").split("\n")
    assert len(err) == 1 and err[0].startswith("interhandgen: error: "), err
    return err[0]


def _mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)) * 1000.0)


def test_refine_streams_the_frames_and_writes_a_hands_file(
    motion_dir: Path, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refined" / "hands.npz"
    args = ["refine", "--input", str(motion_dir / "observed_000.npz"), "--out", str(out)]
    code = main([*args, "--checkpoint", str(tiny_checkpoint), "--prior-weight", "0", "--iterations", "4"])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.parent.iterdir()} == {"hands.npz", "hands_preview.png"}
    refined, observed = read_hands_file(out), read_hands_file(motion_dir / "observed_000.npz")
    truth = read_hands_file(motion_dir / "truth_000.npz")
    assert refined.num_samples == 12
    assert refined.left_confidence is not None and refined.left_vertices is not None
    assert refined.left_keypoints is not None and observed.left_keypoints is not None
    assert truth.left_keypoints is not None
    # The hand model alone (prior off, tiny model) already averages the tracker's jitter out.
    assert _mpjpe_mm(refined.left_keypoints, truth.left_keypoints) < _mpjpe_mm(
        observed.left_keypoints, truth.left_keypoints
    )
    assert "refined 12 frames" in capsys.readouterr().out


def test_refine_reports_millimetres_and_lost_hands(
    motion_dir: Path, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observed = read_hands_file(motion_dir / "observed_000.npz")
    assert observed.left_keypoints is not None and observed.right_keypoints is not None
    left = observed.left_keypoints * 1000.0  # a tracker that publishes millimetres
    right = observed.right_keypoints.copy()
    right[3:6] = np.nan  # and loses the right hand for three frames
    bad = tmp_path / "bad.npz"
    write_hands_file(bad, HandsFile(left_keypoints=left, right_keypoints=right))
    out = tmp_path / "out.npz"
    code = main(["refine", "--input", str(bad), "--out", str(out), "--checkpoint", str(tiny_checkpoint)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "millimetres" in printed and "right hand not observed" in printed
    # Frames per kind of issue, one line each, sorted by kind: every frame in mm, the right hand lost for three.
    assert (
        "    12 frames: left hand keypoints look like millimetres\n     3 frames: right hand not observed\n" in printed
    )
    refined = read_hands_file(out)
    assert refined.right_keypoints is not None and refined.right_confidence is not None
    assert np.isfinite(refined.right_keypoints).all()  # held, not dropped
    assert (refined.right_confidence[3:6] < refined.right_confidence[2]).all()


def test_refine_errors_are_one_line(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str], motion_dir: Path
) -> None:
    missing = tmp_path / "missing.npz"
    assert main(["refine", "--input", str(missing), "--out", str(tmp_path / "o.npz")]) == 1
    assert "missing.npz" in _error_line(capsys)
    observed = str(motion_dir / "observed_000.npz")
    assert main(["refine", "--input", observed, "--out", str(tmp_path / "o.txt")]) == 1
    assert ".npz" in _error_line(capsys)
    object_prior = write_tiny_object_prior(tmp_path / "obj")
    code = main(["refine", "--input", observed, "--out", str(tmp_path / "o.npz"), "--checkpoint", str(object_prior)])
    assert code == 1
    assert "object-conditioned" in _error_line(capsys)
    assert not (tmp_path / "o.npz").exists()
