"""Typed configuration of retargeting human hands onto robot hands (retargeting/retargeter.py).

The field declarations (default, range, units, help; interhandgen_core/config.py) are the single
source of truth; the CLI and a ROS node only override them.

Scale. The human hand is scaled about its wrist before its keypoints become the robot links' targets:
``scale`` > 0 is a fixed factor; 0 (the default) is automatic, per hand and frame, the robot hand's
length over the human hand's (wrist to the middle fingertip along the bones: the sum of the bone
lengths, which does not change as the fingers bend; the robot's at its rest pose, or its YAML's
``hand_length_m``). The Shadow Hand (wrist axis to the middle fingertip: 0.196 m) is larger than
the procedural hand (about 0.18 m), so the human hand is enlarged about 1.1 times.
"""

from __future__ import annotations

from dataclasses import dataclass

from interhandgen_core.config import ConfigBase, setting


@dataclass(frozen=True)
class RetargetConfig(ConfigBase):
    """Robot, scale, objective weights, solver iterations and the stream's low-pass filter."""

    robot: str = setting("shadow", help="robot hand: shadow (shipped) or the path of a robot hand YAML")
    scale: float = setting(
        0.0, low=0.0, high=10.0, help="human-to-robot size factor about the wrist; 0: robot hand length / human's"
    )
    tip_weight: float = setting(1.0, low=0.0, help="weight of each fingertip's position")
    link_weight: float = setting(
        0.2, low=0.0, help="weight of each other mapped link's position (finger bases and middle links)"
    )
    vector_weight: float = setting(0.5, low=0.0, help="weight of each finger's base-to-tip vector")
    stay_weight: float = setting(
        1e-6,
        low=0.0,
        units="m^2/rad^2",
        help="a stream's pull towards its last command: keeps redundant joints still between frames",
    )
    rest_weight: float = setting(
        1e-7, low=0.0, units="m^2/rad^2", help="a batch's pull towards the rest pose: picks among equal solutions"
    )
    damping: float = setting(
        1e-7,
        low=0.0,
        units="m^2/rad^2",
        help="initial Levenberg damping (x10 after a refused step, /3 after a taken one)",
    )
    iterations: int = setting(8, low=1, high=1000, help="solver iterations per frame of a stream (warm-started)")
    cold_iterations: int = setting(
        40, low=1, high=1000, help="iterations for a hand seen the first time and for a batch of grasps (cold start)"
    )
    tolerance_rad: float = setting(
        1e-4, low=0.0, units="radians", help="the solver stops when no joint moves more than this in a step"
    )
    filter_cutoff_hz: float = setting(
        8.0,
        low=0.0,
        units="Hz",
        help="first-order low-pass filter of a stream's commands (joints and wrist pose); 0: off",
    )
    rate_hz: float = setting(
        30.0, low=0.0, low_open=True, units="Hz", help="frame rate of a stream whose frames carry no time stamps"
    )
