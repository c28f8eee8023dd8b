"""`interhandgen evaluate grasps --physics --robot`: the robot hands' success beside the human hands'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_checks import needs_procedural

from interhandgen_core.cli import main
from interhandgen_core.cli.evaluate import physics_table
from interhandgen_core.evaluation.heldout_grasps import PhysicsStatistics


@needs_procedural
def test_evaluate_grasps_with_a_robot_reports_both_hands_success(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", "grasps", "--objects", "1", "--num", "3", "--previews", "0", "--quiet", "--out", str(out)]
    options = ["--physics", "--push-time", "0.2", "--robot", "shadow", "--threads", "1"]
    assert main([*args, "--checkpoint", str(tiny_object_checkpoint), *options]) == 0
    report = json.loads((out / "statistics.json").read_text())
    human, robot = report["physics"], report["robot_physics"]
    assert human["grasps"] == robot["grasps"] == 3 and robot["top_k"] == 4
    assert robot["config"]["robot"] == "shadow" and 0.0 <= robot["success_all"] <= 1.0
    assert set(robot["held_per_direction"]) == set(human["held_per_direction"])
    assert "robot_physics_success" in report["per_object"][0]
    printed = capsys.readouterr().out
    assert "robot hands (shadow) physics:" in printed and "robot (shadow)" in printed


def test_robot_without_physics_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", "grasps", "--objects", "1", "--num", "1", "--robot", "shadow", "--out", str(tmp_path / "e")]
    assert main(args) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["interhandgen: error: --robot: the robot hands' physics applies only with --physics"]


def test_a_robot_that_does_not_exist_is_refused_before_sampling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "grasps", "--objects", "1", "--physics", "--robot", str(tmp_path / "absent.yaml")]
    assert main([*args, "--out", str(tmp_path / "e")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interhandgen: error: ") and "absent.yaml" in lines[0]
    assert not (tmp_path / "e").exists()


def test_physics_table_puts_human_and_robot_side_by_side() -> None:
    def stats(all_: float, top: float) -> PhysicsStatistics:
        return PhysicsStatistics(32, 4, all_, top, 0.5, {"+x": all_}, 10.0, 0.1)

    table = physics_table(stats(0.142, 0.4), stats(0.031, 0.125), "shadow").splitlines()
    assert table[0].split("  ")[0] == "hands" and "top 4 of each object hold" in table[0]
    assert table[1].split() == ["human", "14.2%", "40.0%"]
    assert table[2].split() == ["robot", "(shadow)", "3.1%", "12.5%"]
