"""Plausible ranges of a refined hand's shape and articulation, and the clamp that keeps a state inside them.

A fit dragged by garbage (a stream offset by kilometres, a jump the smoothness term fought) can
leave numbers no hand has (betas in the thousands, a finger turned hundreds of radians) that then
persist through the warm start. Each state the refiner keeps is clamped to these ranges:

Notation (HandParams, hands/hand_params.py):
    beta          betas (B, 10)           clamped to [-B_max, B_max], B_max = ``betas_limit``
                                          (the MANO shape space holds adult hands within about
                                          +-3 standard deviations)
    theta_j       pose (B, 15, 3)         each joint's axis-angle scaled down to |theta_j| <=
                                          ``joint_angle_limit_rad`` (no finger joint bends more
                                          than about 120 degrees from the flat hand)
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.hands.hand_params import HandParams


def bounded_state(hand: HandParams, betas_limit: float, joint_angle_limit_rad: float) -> tuple[HandParams, Tensor]:
    """hand: HandParams (B,) -> (the hand inside the ranges, (B,) bool rows that were outside them).

    Rotation and translation are left as they are; a non-finite shape or pose entry counts as
    outside and is set to 0 (the mean shape, the flat finger).
    """
    batch = hand.batch_size
    betas = torch.nan_to_num(hand.betas, nan=0.0, posinf=0.0, neginf=0.0)
    pose = torch.nan_to_num(hand.pose, nan=0.0, posinf=0.0, neginf=0.0).reshape(batch, 15, 3)
    angle = pose.norm(dim=-1, keepdim=True)
    scale = (joint_angle_limit_rad / angle.clamp_min(1e-12)).clamp(max=1.0)
    clamped_pose = (pose * scale).reshape(batch, 45)
    clamped_betas = betas.clamp(-betas_limit, betas_limit)
    outside = (
        ~torch.isfinite(hand.betas).all(-1)
        | ~torch.isfinite(hand.pose).all(-1)
        | (hand.betas.abs() > betas_limit).any(-1)
        | (angle[..., 0] > joint_angle_limit_rad).any(-1)
    )
    return HandParams(clamped_pose, clamped_betas, hand.rotation, hand.translation), outside
