"""make demo's program (interhandgen_ros_demo): the node in its own process, the shipped object's
cloud over DDS, proposals back, a PNG and the ranked list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ENV_SH


def test_demo_draws_and_lists_the_proposals(ros, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run(
        [str(ENV_SH), "interhandgen_ros_demo", "--num", "3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        "received 3 proposals" in run.stdout
        and "demo_object.ply (PLY without faces, read as a point cloud: 8192 points" in run.stdout
    )
    ranks = [line.split() for line in run.stdout.splitlines() if line.strip()[:1].isdigit()]
    scores = [float(r[1]) for r in ranks]
    assert [r[0] for r in ranks] == ["0", "1", "2"] and scores == sorted(scores, reverse=True)
    with Image.open(tmp_path / "demo_grasps.png") as image:
        pixels = image.convert("L")
        assert image.size[0] > 500 and pixels.getextrema()[0] < 200  # something drawn, not a blank sheet


def test_demo_refuses_a_missing_object_in_one_line(ros, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.run(
        [str(ENV_SH), "interhandgen_ros_demo", "--object", str(tmp_path / "none.ply")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and run.stderr.strip() == f"error: {tmp_path / 'none.ply'}: no such object file"
