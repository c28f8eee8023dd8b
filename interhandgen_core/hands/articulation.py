"""Finger poses from a few intuitive numbers: how far each finger curls, how far they spread.

Shapes and units:
    curl    (B, 5)   per finger in TIP_ORDER (thumb, index, middle, ring, pinky);
                     0 = flat (the rest pose), 1 = full fist; values outside [0, 1]
                     extrapolate (negative: hyperextension)
    spread  (B,)     finger abduction; 0 = rest, 1 = wide spread, -1 = fingers together
    pose    (B, 45)  axis-angle, radians, of MANO joints 1..15 (index1-3, middle1-3,
                     pinky1-3, ring1-3, thumb1-3), relative to the flat hand

Axes. smplx's ``lbs`` composes each joint's rotation after its parent's, expressed in the
rest pose's frame (MANO's right-hand frame: fingers along -x, thumb towards +z, palm
facing -y). So every axis below is a fixed vector of that frame, read off the procedural
hand's rest skeleton (``procedural.design.FINGER_DESIGNS``); it rotates along with the parent
bones when the hand is posed.

* Four fingers: flexion about ``a_f = u_f x (0, -1, 0)``, with ``u_f`` the finger's rest
  direction (about -x). A positive angle turns the finger towards the palm (-y). Full curl
  is 90 / 100 / 70 degrees at MCP / PIP / DIP (pinky MCP slightly more). Spread rotates
  the MCP about +y (towards +z, the thumb) by an angle per finger: at -1 the fingers
  become parallel to the middle finger, at +1 they fan out to about 2.5 times their
  rest spread. At the MCP the spread is applied after the flexion (R = R_spread R_flex),
  i.e. the finger flexes about its abducted axis.
* Thumb: every joint flexes about ``a = u x (T - p)``, ``u`` the rest direction of the
  thumb bone starting at joint p and T = (-8, -5, 0) cm, a point 5 cm in front of the
  palm below the middle finger's knuckle, where the middle phalanges of the curled
  fingers lie in a fist. Curling thus swings the thumb across the palm and over the
  fingers. Full curl is 35 / 45 / 55 degrees at CMC / MCP / IP. Spread rotates the CMC
  about +y (towards the index finger at -1, away from it at +1).

The axes fit the procedural hand. Other MANO-format hands with fingers roughly along -x
in their flat pose get similar, not identical, finger poses.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import quaternion_to_axis_angle
from interhandgen_core.hands.keypoints import NUM_FINGER_POSE
from interhandgen_core.hands.procedural.design import FINGER_DESIGNS

# Full-curl angles (radians) of the three joints of each chain.
_FINGER_CURL = (math.radians(90.0), math.radians(100.0), math.radians(70.0))
_PINKY_CURL = (math.radians(95.0), math.radians(100.0), math.radians(70.0))
_THUMB_CURL = (math.radians(35.0), math.radians(45.0), math.radians(55.0))
# Where the curling thumb heads (cm, rest frame): over the curled fingers' middle phalanges.
_THUMB_TARGET_CM = np.array([-8.0, -5.0, 0.0])
# Spread at +1 relative to the rest spread (at -1 the rest spread is undone).
_SPREAD_OPEN = 2.5
_THUMB_SPREAD = (math.radians(12.0), math.radians(18.0))  # towards the index finger at -1, away at +1

# MANO chain order of the pose vector, and each chain's column in ``curl`` (TIP_ORDER).
_POSE_CHAINS = ("index", "middle", "pinky", "ring", "thumb")
_CURL_COLUMN = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
_PALM_NORMAL = np.array([0.0, -1.0, 0.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v))


def _rest_axes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flexion axes (15, 3), full-curl angles (15,), spread angle per unit (5,) closing and opening.

    Rows follow the pose vector (MANO joints 1..15); spread entries follow _POSE_CHAINS.
    """
    designs = {d.name: d for d in FINGER_DESIGNS}
    axes = np.zeros((15, 3))
    angles = np.zeros(15)
    close = np.zeros(5)
    open_ = np.zeros(5)
    middle_yaw = math.atan2(designs["middle"].directions[0][2], -designs["middle"].directions[0][0])
    for c, chain in enumerate(_POSE_CHAINS):
        design = designs[chain]
        if chain == "thumb":
            point = np.asarray(design.base, dtype=np.float64)
            for k in range(3):
                u = np.asarray(design.directions[k])
                axes[3 * c + k] = _unit(np.cross(u, _THUMB_TARGET_CM - point))
                angles[3 * c + k] = _THUMB_CURL[k]
                point = point + u * design.lengths[k]
            close[c], open_[c] = -_THUMB_SPREAD[0], _THUMB_SPREAD[1]
            continue
        u = np.asarray(design.directions[0])
        axes[3 * c : 3 * c + 3] = _unit(np.cross(u, _PALM_NORMAL))
        angles[3 * c : 3 * c + 3] = _PINKY_CURL if chain == "pinky" else _FINGER_CURL
        # Rest abduction relative to the middle finger, positive towards the thumb.
        yaw = math.atan2(u[2], -u[0]) - middle_yaw
        close[c], open_[c] = -yaw, _SPREAD_OPEN * yaw
    return axes, angles, close, open_


_AXES, _ANGLES, _SPREAD_CLOSE, _SPREAD_OPEN_ANGLE = _rest_axes()


def _axis_angle_to_quaternion(axis: Tensor, angle: Tensor) -> Tensor:
    """axis (..., 3) unit, angle (...) -> (..., 4) quaternion (w, x, y, z)."""
    half = 0.5 * angle
    return torch.cat([torch.cos(half)[..., None], torch.sin(half)[..., None] * axis], dim=-1)


def _quaternion_product(p: Tensor, q: Tensor) -> Tensor:
    """Hamilton product p q (rotation q first), (..., 4) each."""
    pw, px, py, pz = p.unbind(-1)
    qw, qx, qy, qz = q.unbind(-1)
    return torch.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        dim=-1,
    )


def curl_pose(curl: Tensor, spread: Tensor) -> Tensor:
    """curl (B, 5) in [0, 1] (TIP_ORDER), spread (B,) in [-1, 1] -> pose (B, 45) axis-angle, radians.

    Batched and differentiable in both inputs; dtype and device follow ``curl``.
    """
    if curl.ndim != 2 or curl.shape[1] != 5:
        raise DataError(
            f"curl must be (B, 5) in finger order thumb, index, middle, ring, pinky; got {tuple(curl.shape)}"
        )
    if spread.shape != (curl.shape[0],):
        raise DataError(f"spread must be (B,) with B = {curl.shape[0]} (one value per hand); got {tuple(spread.shape)}")
    batch, dtype, device = curl.shape[0], curl.dtype, curl.device
    axes = torch.as_tensor(_AXES, dtype=dtype, device=device)
    full = torch.as_tensor(_ANGLES, dtype=dtype, device=device)
    columns = torch.tensor([_CURL_COLUMN[c] for c in _POSE_CHAINS for _ in range(3)], device=device)
    flex = curl[:, columns] * full  # (B, 15) radians
    pose = flex[..., None] * axes  # (B, 15, 3)

    # Piecewise linear in spread: closing (towards -1) and opening have their own ranges.
    spread = spread.to(dtype)
    close = torch.as_tensor(_SPREAD_CLOSE, dtype=dtype, device=device)
    open_ = torch.as_tensor(_SPREAD_OPEN_ANGLE, dtype=dtype, device=device)
    abduction = -torch.clamp(spread, max=0.0)[:, None] * close + torch.clamp(spread, min=0.0)[:, None] * open_
    first = torch.arange(0, 15, 3, device=device)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=dtype, device=device).expand(batch, 5, 3)
    q_spread = _axis_angle_to_quaternion(up, abduction)
    q_flex = _axis_angle_to_quaternion(axes[first].expand(batch, 5, 3), flex[:, first])
    first_joints = quaternion_to_axis_angle(_quaternion_product(q_spread, q_flex))  # (B, 5, 3)
    keep = torch.ones(15, 1, dtype=dtype, device=device)
    keep[first] = 0.0
    # Scatter the first joints back without in-place writes into a tensor autograd needs.
    pose = pose * keep + torch.zeros_like(pose).index_copy(1, first, first_joints)
    return pose.reshape(batch, NUM_FINGER_POSE)
