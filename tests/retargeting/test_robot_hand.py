"""RobotHand: the Shadow Hand's joints, limits and frame; a URDF hand; hands without enough separate fingers refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from toy_robot_hands import write_toy_robot

from interhandgen_core.errors import RobotFingersError
from interhandgen_core.retargeting.robot_hand import load_robot_hand


def test_shadow() -> None:
    hand = load_robot_hand("shadow")
    assert hand.num_joints == 22 and hand.joint_names[0] == "robot0:FFJ3"
    assert (hand.lower <= hand.rest).all() and (hand.rest <= hand.upper).all()
    assert len(hand.point_names) == 21  # the wrist and four links per finger
    rotation = hand.rest_frame[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    # The palm's frame: fingers along -x (Shadow's fingers point along its palm's +z).
    assert rotation[:, 0] @ np.array([0.0, 0.0, 1.0]) < -0.99
    assert 0.18 < hand.length_m < 0.23
    # Its little finger's base moves with LFJ4: the frame comes from the three fixed knuckles.
    assert [hand.point_names[k] for k in hand.frame_points] == [
        "robot0:ffknuckle",
        "robot0:mfknuckle",
        "robot0:rfknuckle",
    ]


def test_urdf_hand(tmp_path: Path) -> None:
    hand = load_robot_hand(write_toy_robot(tmp_path))
    assert hand.num_joints == 9 and hand.finger_names == ("thumb", "index", "little")
    assert hand.point_names[hand.tip_points[1]] == "index_tip"  # a link on a fixed joint stays a body


def test_fingers_on_one_chain(tmp_path: Path) -> None:
    fingers = {
        "thumb": "{base: thumb_base, tip: thumb_tip}",
        "index": "{base: index_base, tip: index_tip}",
        "middle": "{base: index_base, tip: index_distal}",
        "little": "{base: little_base, tip: little_tip}",
    }
    with pytest.raises(RobotFingersError, match=r"fingers\.index and fingers\.middle are on one chain of joints"):
        load_robot_hand(write_toy_robot(tmp_path, fingers))


def test_finger_without_joints(tmp_path: Path) -> None:
    fingers = {
        "thumb": "{base: palm, tip: palm}",
        "index": "{base: index_base, tip: index_tip}",
        "little": "{base: little_base, tip: little_tip}",
    }
    with pytest.raises(RobotFingersError, match=r"fingers\.thumb\.tip 'palm' has no joint"):
        load_robot_hand(write_toy_robot(tmp_path, fingers))
