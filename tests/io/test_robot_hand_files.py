"""Robot hand files: the shipped Shadow YAML reads; bad models and YAMLs are refused in one line that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from interhandgen_core.errors import RobotFingersError, RobotLinkError, RobotModelError
from interhandgen_core.io.robot_hand_files import load_robot_model, read_robot_hand_file

SHADOW = (
    Path(__file__).resolve().parents[2] / "interhandgen_core" / "assets" / "robots" / "shadow" / "shadow_right.yaml"
)


def test_shadow_file_reads() -> None:
    hand = read_robot_hand_file(SHADOW)
    assert hand.side == "right" and hand.root == "robot0:palm"
    assert [f.name for f in hand.fingers] == ["thumb", "index", "middle", "ring", "little"]
    assert hand.fingers[1].keypoints == (5, 6, 7, 8)
    model = load_robot_model(hand)
    assert model.njnt == 22


def _write(tmp_path: Path, yaml_text: str, model_text: str = "", model_name: str = "m.xml") -> Path:
    if model_text:
        (tmp_path / model_name).write_text(model_text)
    path = tmp_path / "hand.yaml"
    path.write_text(yaml_text)
    return path


FINGERS = """fingers:
  thumb: {base: b0, tip: t0}
  index: {base: b1, tip: t1}
  little: {base: b2, tip: t2}
"""


def test_model_that_does_not_parse(tmp_path: Path) -> None:
    path = _write(
        tmp_path, f"model: m.xml\nroot: palm\nwrist: palm\n{FINGERS}", "<mujoco><worldbody><body name='palm'>"
    )
    with pytest.raises(RobotModelError, match=r"m\.xml: MuJoCo cannot read this MJCF/URDF model .*XML") as info:
        load_robot_model(read_robot_hand_file(path))
    assert "\n" not in str(info.value)


def test_missing_model_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(RobotModelError, match="no such robot hand file"):
        read_robot_hand_file(tmp_path / "nope.yaml")
    path = _write(tmp_path, f"model: absent.xml\nroot: palm\nwrist: palm\n{FINGERS}")
    with pytest.raises(RobotModelError, match=r"absent\.xml does not exist"):
        load_robot_model(read_robot_hand_file(path))


def test_yaml_that_does_not_parse(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: [unclosed\n")
    with pytest.raises(RobotModelError, match="not a valid YAML file"):
        read_robot_hand_file(path)
    path = _write(tmp_path, f"model: m.xml\nwrist: palm\n{FINGERS}")
    with pytest.raises(RobotModelError, match="the key 'root' is missing"):
        read_robot_hand_file(path)


def test_link_that_does_not_exist(tmp_path: Path) -> None:
    text = SHADOW.read_text().replace("robot0:S_fftip", "robot0:S_fftipp")
    path = tmp_path / "shadow.yaml"
    path.write_text(text.replace("model: shadow_right.xml", f"model: {SHADOW.parent / 'shadow_right.xml'}"))
    with pytest.raises(RobotLinkError, match=r"fingers.index.tip names 'robot0:S_fftipp'.*did you mean robot0:S_fftip"):
        load_robot_model(read_robot_hand_file(path))


def test_too_few_fingers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model: m.xml\nroot: palm\nwrist: palm\nfingers:\n  thumb: {base: b0, tip: t0}\n  index: {base: b1, tip: t1}\n",
    )
    with pytest.raises(RobotFingersError, match=r"needs at least 3 fingers.*maps 2 \(thumb, index\)"):
        read_robot_hand_file(path)
    path = _write(tmp_path, "model: m.xml\nroot: palm\nwrist: palm\nfingers:\n  toe: {base: b0, tip: t0}\n")
    with pytest.raises(RobotModelError, match="unknown finger"):
        read_robot_hand_file(path)
