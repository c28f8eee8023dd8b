"""What a command-line user reads when something is wrong: command-line terms, never the Python API's.

Each case runs a command that the library refuses and checks its one error line: no function or
class names ("from_pretrained()", "GraspPipeline", "SamplerConfig."), no "field=value" hints, no
internal words ("fake features"), and every --option it names is one the command has.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_checks import assert_one_line_error, needs_procedural
from toy_hands import write_hands

from interhandgen_core.cli import build_parser, main

API_TERMS = re.compile(
    r"\w\((path|\.\.\.)?\)|from_pretrained|write_hands_file|\bfake\b|Pipeline\b|Refiner\b|[A-Z]\w+Config\b"
    r"|\b[a-z]+_[a-z_]+="
)


def options_of(command: list[str]) -> set[str]:
    parser: argparse.ArgumentParser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {flag for action in parser._actions for flag in action.option_strings}


def check_cli_terms(command: list[str], line: str) -> None:
    assert not API_TERMS.search(line), f"Python API terms in {line!r}"
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    assert named <= options_of(command), f"{line!r} names {named - options_of(command)}, not options of {command}"


def refused(argv: list[str], command: list[str], capsys: pytest.CaptureFixture[str], *names: str) -> str:
    assert main(argv) == 1
    line = assert_one_line_error(capsys.readouterr().err, *names)
    check_cli_terms(command, line)
    return line


@needs_procedural
def test_a_prior_of_the_other_kind(
    tiny_checkpoint: Path,
    tiny_object_checkpoint: Path,
    box_stl: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = str(tmp_path / "out")
    line = refused(
        ["sample", "--num", "1", "--out", out, "--checkpoint", str(tiny_object_checkpoint)],
        ["sample"],
        capsys,
        str(tiny_object_checkpoint),
    )
    assert "object-conditioned prior" in line and "need a two-hand prior" in line
    hands = write_hands(tmp_path / "h.npz", 2, 0)
    line = refused(
        [
            "refine",
            "--input",
            str(hands),
            "--out",
            str(tmp_path / "r.npz"),
            "--checkpoint",
            str(tiny_object_checkpoint),
        ],
        ["refine"],
        capsys,
    )
    assert "need a two-hand prior" in line
    line = refused(
        ["grasp", "--object", str(box_stl), "--num", "1", "--out", out, "--checkpoint", str(tiny_checkpoint)],
        ["grasp"],
        capsys,
        str(tiny_checkpoint),
    )
    assert "no object encoder" in line and "grasp proposals need an object-conditioned prior" in line
    refused(
        ["evaluate", "grasps", "--out", out, "--checkpoint", str(tiny_checkpoint)],
        ["evaluate", "grasps"],
        capsys,
        "object-conditioned",
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["sample", "--num", "1", "--out", str(tmp_path / "o"), "--device", "cuda"], ["sample"], capsys)
    assert "no CUDA device" in line and "use device cpu" in line
    # export has no --device: its --engine needs the GPU, and the message says so in its own terms.
    onnx, engine = str(tmp_path / "m.onnx"), str(tmp_path / "m.engine")
    line = refused(["export", "--onnx", onnx, "--engine", engine], ["export"], capsys, "--engine", "CUDA")
    assert "device" not in line.replace("CUDA device", "")
    assert not (tmp_path / "m.onnx").exists()


@needs_procedural
def test_a_cloud_the_preprocessing_cannot_use(
    tiny_object_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = tmp_path / "speck.npy"
    np.save(cloud, np.random.default_rng(0).normal(scale=0.0005, size=(500, 3)))  # a speck: one voxel
    argv = ["grasp", "--object", str(cloud), "--num", "1", "--out", str(tmp_path / "o")]
    line = refused([*argv, "--checkpoint", str(tiny_object_checkpoint)], ["grasp"], capsys, "voxel")
    assert "smaller voxel size" in line
    far = tmp_path / "far.npy"
    np.save(far, np.random.default_rng(0).normal(scale=0.05, size=(500, 3)))
    argv = ["grasp", "--object", str(far), "--num", "1", "--out", str(tmp_path / "o"), "--crop-min", "1,1,1"]
    line = refused([*argv, "--checkpoint", str(tiny_object_checkpoint)], ["grasp"], capsys, "cropping")
    assert "widen the crop box" in line


def test_options_that_contradict_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["grasp", "--object", str(tmp_path / "none.ply"), "--num", "1", "--out", str(tmp_path / "o")]
    line = refused([*argv, "--crop-min", "0,0,1", "--crop-max", "1,1,0.5"], ["grasp"], capsys, "--crop-min")
    assert line.endswith("--crop-min 0,0,1 must be below --crop-max 1,1,0.5 on every axis")
    line = refused([*argv, "--voxel", "0.02"], ["grasp"], capsys, "--voxel 0.02 m")
    assert "radius of normal estimation (0.015 m)" in line
