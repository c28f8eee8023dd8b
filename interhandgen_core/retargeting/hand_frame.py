"""The palm's frame of a right hand from its wrist and finger bases, and mirroring of poses.

wrist: (B, 3) metres, bases: (B, F, 3) metres (the first keypoints of the fingers besides the thumb,
index side first), any frame -> (B, 4, 4) pose of the palm's frame in that frame. Its axes follow
MANO's hand frame (README "Conventions"): origin at the wrist, the fingers along -x (x = from the
mean of the bases to the wrist), the thumb side towards +z (z = the first base minus the last,
made orthogonal to x), y = z cross x, so that a right palm faces -y. The same function makes the
human hand's frame (keypoints 0 and 5, 9, 13, 17) and the robot's (its links at those keypoints,
at rest), which is what puts the robot hand onto the human one. A left hand is mirrored first
(geometry/mirroring.py's Gamma: x -> -x) and is then a right hand. Degenerate input (NaN, or the
wrist and bases in a line) gives NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])  # Gamma on homogeneous points: x -> -x


def hand_frame(wrist: NDArray[np.floating], bases: NDArray[np.floating]) -> NDArray[np.float64]:
    """wrist: (B, 3), bases: (B, F >= 2, 3) metres -> (B, 4, 4) the palm's frame (module docstring)."""
    wrist = np.asarray(wrist, dtype=np.float64)
    bases = np.asarray(bases, dtype=np.float64)
    x = wrist - bases.mean(axis=1)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    side = bases[:, 0] - bases[:, -1]
    z = side - (side * x).sum(-1, keepdims=True) * x
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.linalg.norm(z, axis=-1, keepdims=True)
        z = np.where(norm > 1e-9, z / np.where(norm > 0, norm, 1.0), np.nan)
    y = np.cross(z, x)
    frame = np.zeros((wrist.shape[0], 4, 4))
    frame[:, :3, 0], frame[:, :3, 1], frame[:, :3, 2], frame[:, :3, 3] = x, y, z, wrist
    frame[:, 3, 3] = 1.0
    return frame


def mirror_poses(poses: NDArray[np.floating]) -> NDArray[np.float64]:
    """poses: (..., 4, 4) rigid transforms -> Gamma T Gamma: the same pose seen in the mirror (a rotation stays
    a rotation). A left robot hand that is the mirror image of a right one through its root's x = 0 plane
    has, at the same joint positions, the mirrored wrist pose."""
    return np.asarray(MIRROR @ np.asarray(poses, dtype=np.float64) @ MIRROR)


def mirror_points(points: NDArray[np.floating]) -> NDArray[np.float64]:
    """points: (..., 3) -> x negated (Gamma)."""
    out = np.array(points, dtype=np.float64)
    out[..., 0] = -out[..., 0]
    return out


def invert_poses(poses: NDArray[np.floating]) -> NDArray[np.float64]:
    """poses: (..., 4, 4) rigid transforms -> their inverses."""
    poses = np.asarray(poses, dtype=np.float64)
    out = np.zeros_like(poses)
    rotation_t = np.swapaxes(poses[..., :3, :3], -1, -2)
    out[..., :3, :3] = rotation_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rotation_t, poses[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out
