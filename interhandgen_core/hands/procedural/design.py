"""The procedural hand's design: finger chains as numbers, and the rest skeleton they make.

Everything here is designed from scratch (no scanned or MANO-derived data), so the asset
can ship with the project. The frame is MANO's right-hand frame: wrist joint at the origin,
fingers extended along -x, thumb towards +z, palm facing -y (back of the hand towards +y).
The rest pose is the flat hand: fingers straight and slightly spread, the thumb rotated out
like a relaxed real thumb. The design tables are in centimetres (``FingerDesign``); the
skeleton derived from them is in metres (``ProceduralSkeleton``).

Every other part of the procedural hand derives from ``FINGER_DESIGNS``: its surface
(hands/procedural/sdf.py), its rig (skinning.py, joints.py,
shape.py), and the joint axes of :mod:`interhandgen_core.hands.articulation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.hands.keypoints import NUM_JOINTS

FloatArray = NDArray[np.float64]

CM = 0.01
# Finger chains in MANO joint order (first joint of each chain) and their tip slot in TIP_ORDER.
CHAIN_FIRST_JOINT = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}
TIP_SLOT = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
CHAINS = ("index", "middle", "pinky", "ring", "thumb")


@dataclasses.dataclass(frozen=True)
class FingerDesign:
    """One finger's designed geometry, centimetres, rest frame.

    base: (3,) first joint (MCP, or CMC for the thumb); directions: (3, 3) unit direction
    of each of the three segments; lengths: (3,) joint-to-joint lengths, the last one from
    the distal joint to the end of the fingertip surface; radii: (4,) flesh radius at the
    three joints and at the fingertip.
    """

    name: str
    base: tuple[float, float, float]
    directions: tuple[tuple[float, float, float], ...]
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float, float]


def _direction(yaw_deg: float, pitch_deg: float) -> tuple[float, float, float]:
    """Unit vector from -x turned by yaw towards +z and by pitch towards -y (palm side)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    return (-np.cos(pitch) * np.cos(yaw), -np.sin(pitch), np.cos(pitch) * np.sin(yaw))


def _unit(v: Sequence[float]) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    a = a / np.linalg.norm(a)
    return (float(a[0]), float(a[1]), float(a[2]))


def _finger(
    name: str,
    base: tuple[float, float, float],
    yaw: float,
    lengths: tuple[float, float, float],
    radii: tuple[float, float, float, float],
) -> FingerDesign:
    d = _direction(yaw, 0.0)
    return FingerDesign(name, base, (d, d, d), lengths, radii)


# Proportions of an adult hand of about 19 cm (wrist joint to middle fingertip 18 cm).
FINGER_DESIGNS: tuple[FingerDesign, ...] = (
    _finger("index", (-8.6, 0.0, 2.95), 5.0, (3.9, 2.35, 1.95), (0.98, 0.88, 0.8, 0.74)),
    _finger("middle", (-9.0, 0.05, 0.95), 1.0, (4.3, 2.7, 2.05), (1.0, 0.9, 0.82, 0.76)),
    _finger("pinky", (-7.9, -0.05, -2.85), -8.0, (3.2, 1.95, 1.75), (0.86, 0.77, 0.7, 0.64)),
    _finger("ring", (-8.65, 0.0, -0.97), -3.5, (4.0, 2.6, 1.95), (0.95, 0.86, 0.78, 0.72)),
    FingerDesign(
        "thumb",
        (-2.3, -0.55, 1.9),
        (_unit((-0.72, -0.26, 0.64)), _unit((-0.84, -0.14, 0.52)), _unit((-0.9, -0.06, 0.43))),
        (4.3, 3.1, 2.6),
        (1.2, 1.05, 0.95, 0.82),
    ),
)


@dataclasses.dataclass(frozen=True)
class ProceduralSkeleton:
    """The designed rest skeleton, metres, MANO's right-hand frame.

    joints: (16, 3) in MANO joint order; tip_ends: (5, 3) fingertip surface ends in
    TIP_ORDER; tip_centres: (5, 3) centres of the fingertip end spheres; joint_radii: (16,)
    flesh radius around each joint (0 for the wrist); tip_radii: (5,); bone_ends: (16, 3)
    where the bone driven by each joint ends (its child joint, or the tip centre).
    """

    joints: FloatArray
    tip_ends: FloatArray
    tip_centres: FloatArray
    joint_radii: FloatArray
    tip_radii: FloatArray
    bone_ends: FloatArray


def designs_to_skeleton(designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> ProceduralSkeleton:
    """Designed finger chains -> ProceduralSkeleton (metres)."""
    joints = np.zeros((NUM_JOINTS, 3))
    radii = np.zeros(NUM_JOINTS)
    tip_ends = np.zeros((5, 3))
    tip_centres = np.zeros((5, 3))
    tip_radii = np.zeros(5)
    bone_ends = np.zeros((NUM_JOINTS, 3))
    for design in designs:
        first = CHAIN_FIRST_JOINT[design.name]
        point = np.asarray(design.base, dtype=np.float64) * CM
        for k in range(3):
            joints[first + k] = point
            radii[first + k] = design.radii[k] * CM
            point = point + np.asarray(design.directions[k]) * design.lengths[k] * CM
        slot = TIP_SLOT[design.name]
        tip_ends[slot] = point
        tip_radii[slot] = design.radii[3] * CM
        tip_centres[slot] = point - np.asarray(design.directions[2]) * tip_radii[slot]
        bone_ends[first] = joints[first + 1]
        bone_ends[first + 1] = joints[first + 2]
        bone_ends[first + 2] = tip_centres[slot]
    return ProceduralSkeleton(joints, tip_ends, tip_centres, radii, tip_radii, bone_ends)
