"""The node executables at start-up, as a user or a launch file starts them: --help without ROS, and
bad parameters refused with one line naming the parameter and a non-zero exit (no traceback, no
node left spinning unconfigured)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interhandgen_ros.executables import split_ros_arguments
from interhandgen_ros.parameters import GRASP_PROPOSAL_PARAMETERS, HAND_PRIOR_PARAMETERS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ENV_SH

NODES = {"grasp_proposal_node": GRASP_PROPOSAL_PARAMETERS, "hand_prior_node": HAND_PRIOR_PARAMETERS}
# A refusal comes after the imports (seconds) and before any model is loaded.
REFUSAL_TIMEOUT_S = 60.0


@pytest.mark.parametrize("executable", sorted(NODES))
def test_help_describes_the_node_and_its_parameters_without_starting_it(executable: str) -> None:
    start = time.monotonic()
    done = subprocess.run([str(ENV_SH), executable, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith(f"{executable}: ") and "usage:" in text and "--ros-args" in text
    assert "configuring" not in text + done.stderr and "[INFO]" not in text + done.stderr  # ROS never started
    # Every parameter of the node's table, with its default and range, one row each.
    for spec in NODES[executable]:
        rows = [line for line in text.splitlines() if line.split()[:1] == [spec.name]]
        assert len(rows) == 1, spec.name
        assert spec.default_text in rows[0] and spec.accepted_text in rows[0] and spec.description in rows[0]
    topics = ("object_points", "grasp_proposals", "generate_grasps") if executable == "grasp_proposal_node" else ()
    topics = topics or ("hands/noisy", "hands/refined", "hands/markers")
    assert all(topic in text for topic in topics)
    assert time.monotonic() - start < 60


def test_an_argument_outside_ros_args_is_refused() -> None:
    done = subprocess.run([str(ENV_SH), "hand_prior_node", "--num-grasps", "4"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'--num-grasps'" in done.stderr and "--ros-args" in done.stderr


def test_ros_arguments_are_split_from_the_program_arguments() -> None:
    args = ["bag", "--remap", "/a:=/b", "--ros-args", "-r", "x:=y", "-p", "n:=1", "--", "--rate", "2"]
    own, ros = split_ros_arguments(args)
    assert own == ["bag", "--remap", "/a:=/b", "--rate", "2"]
    assert ros == ["--ros-args", "-r", "x:=y", "-p", "n:=1", "--"]
    assert split_ros_arguments(["--ros-args", "-p", "a:=1"]) == ([], ["--ros-args", "-p", "a:=1"])


BAD = [
    ("grasp_proposal_node", {"num_grasps": "many"}, "num_grasps", "an integer in [1, 512]"),
    ("grasp_proposal_node", {"model_file_path": "/nope.safetensors"}, "model_file_path", "/nope.safetensors"),
    ("grasp_proposal_node", {"backend": "warp"}, "backend", "torch, cuda-graph, onnxruntime, tensorrt"),
    ("grasp_proposal_node", {"voxel_size": 0}, "voxel_size", "write 0.0"),
    ("hand_prior_node", {"iterations": "many"}, "iterations", "an integer"),
    ("hand_prior_node", {"model_file_path": "/nope.safetensors"}, "model_file_path", "/nope.safetensors"),
    ("hand_prior_node", {"backend": "warp"}, "backend", "got 'warp'"),
    ("hand_prior_node", {"input_type": "keypoints"}, "input_type", "two_hand_state, pose_array"),
]


@pytest.mark.parametrize(("executable", "params", "name", "fix"), BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_a_bad_parameter_ends_the_start_with_one_line_naming_it(  # type: ignore[no-untyped-def]
    start_node, executable: str, params: dict, name: str, fix: str
) -> None:
    node = start_node(executable, params)
    try:
        code = node.process.wait(timeout=REFUSAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {REFUSAL_TIMEOUT_S:.0f} s after a bad {name}:\n{node.output()}")
    log = node.output()
    assert code == 1, log
    errors = [line for line in log.splitlines() if re.search(r"error|traceback|exception", line, re.IGNORECASE)]
    assert len(errors) == 1, log
    assert name in errors[0] and fix in errors[0], errors[0]
    assert "loaded and warmed up" not in log and "active" not in log
