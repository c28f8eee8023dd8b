"""Retargeting two human hands (refined hands, grasp proposals) onto two dexterous robot hands.

robot_hand.py (a robot hand's joints, limits and keypoint links; ``load_robot_hand("shadow")``),
hand_frame.py (the palm's frame, mirroring), kinematics.py (links and Jacobians: numpy batched and
MuJoCo's), solver.py (damped least squares within the limits), configuration.py (RetargetConfig),
retargeter.py (Retargeter for batches, StreamingRetargeter for a stream), robot_grasp_physics.py
(retargeted grasps tried in MuJoCo with the robot hands: ``validate_robot_grasps``).
"""

from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.retargeter import (
    Retargeter,
    RobotHandCommands,
    StreamingRetargeter,
    TwoRobotHands,
)
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand

__all__ = [
    "RetargetConfig",
    "Retargeter",
    "RobotHand",
    "RobotHandCommands",
    "StreamingRetargeter",
    "TwoRobotHands",
    "load_robot_hand",
]
