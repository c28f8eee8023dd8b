"""The 16-joint MANO kinematic tree and the project's 21-keypoint order.

MANO order (16 joints, what the skinning layer computes):
    0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb
    (each finger from knuckle to distal joint).

Keypoint order (21, what every public API, file and message uses; the common order of
keypoint trackers such as OpenPose and MediaPipe):
    0 wrist,
    1-4 thumb (CMC, MCP, IP, tip),
    5-8 index (MCP, PIP, DIP, tip),
    9-12 middle, 13-16 ring, 17-20 pinky (MCP, PIP, DIP, tip).
"""

from __future__ import annotations

import torch
from torch import Tensor

NUM_JOINTS = 16
NUM_KEYPOINTS = 21
NUM_FINGER_POSE = 45  # 15 finger joints x 3 axis-angle numbers
NUM_BETAS = 10

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip

# Parent of each MANO joint (-1 for the root).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Fingertip vertices are appended after the 16 joints in this finger order.
TIP_ORDER: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb1", "thumb2", "thumb3", "thumb_tip",
    "index1", "index2", "index3", "index_tip",
    "middle1", "middle2", "middle3", "middle_tip",
    "ring1", "ring2", "ring3", "ring_tip",
    "pinky1", "pinky2", "pinky3", "pinky_tip",
)  # fmt: skip

# Index into concat(16 MANO joints, 5 tips in TIP_ORDER) for each keypoint.
KEYPOINTS_FROM_JOINTS_AND_TIPS: tuple[int, ...] = (
    0,
    13, 14, 15, 16,
    1, 2, 3, 17,
    4, 5, 6, 18,
    10, 11, 12, 19,
    7, 8, 9, 20,
)  # fmt: skip

# Parent of each keypoint in the 21-keypoint order: the 20 bones (keypoint k's bone runs from
# KEYPOINT_PARENTS[k] to k; the wrist, -1, has none). Every finger hangs from the wrist.
KEYPOINT_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
NUM_BONES = NUM_KEYPOINTS - 1


def bone_segments(keypoints: Tensor, parents: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """keypoints (..., 21, 3) -> (start (..., 20, 3), end (..., 20, 3)): the bones from parent to child (bone b
    ends at keypoint b + 1). ``parents``: KEYPOINT_PARENTS[1:] as a (20,) long tensor on the keypoints' device,
    made here when None (a caller that may not copy to its device at call time passes its own)."""
    if parents is None:
        parents = torch.tensor(KEYPOINT_PARENTS[1:], device=keypoints.device)
    return keypoints[..., parents, :], keypoints[..., 1:, :]
