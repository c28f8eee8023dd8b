"""The procedural hand's ten shape directions (MANO's shapedirs), metres per unit beta.

Each direction but the last is the derivative at beta = 0 of a deformation of the bones
(stretch, scale, rotation about a joint) blended with the skinning weights, so fingers stay
attached to the palm; the last (fleshiness) offsets the surface along its normal. The
skeleton is ``ProceduralSkeleton`` (hands/procedural/design.py).
"""

from __future__ import annotations

import numpy as np

from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_JOINTS, PARENTS
from interhandgen_core.hands.procedural.design import CHAIN_FIRST_JOINT, CHAINS, FloatArray, ProceduralSkeleton


def _skew(w: FloatArray) -> FloatArray:
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


# Per unit beta: relative change of each shape direction (see _bone_maps).
_SIZE = 0.07
_FINGER_LENGTH = 0.06
_PALM_WIDTH = 0.07
_THICKNESS = 0.08
_THUMB_LENGTH = 0.07
_PALM_LENGTH = 0.06
_FINGER_THICKNESS = 0.1
_INDEX_RING = 0.04
# Radians of abduction per unit beta, per chain (positive turns towards the thumb, +z).
_SPREAD = {"index": 0.09, "middle": 0.015, "ring": -0.06, "pinky": -0.11, "thumb": 0.1}
_FLESH = 0.0012
_PALM_FLESH = 0.001


def _bone_maps(direction: int, t: float, skeleton: ProceduralSkeleton) -> FloatArray:
    """The (16, 3, 3) linear part of each bone's map for shape direction ``direction`` at beta = t."""
    axes = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        bone = skeleton.bone_ends[j] - skeleton.joints[j]
        axes[j] = bone / np.linalg.norm(bone)
    eye = np.eye(3)
    maps = np.tile(eye, (NUM_JOINTS, 1, 1))
    chain_of = {CHAIN_FIRST_JOINT[c] + k: c for c in CHAINS for k in range(3)}

    def along(j: int) -> FloatArray:
        return np.asarray(np.outer(axes[j], axes[j]))

    if direction == 0:
        maps[:] = (1.0 + _SIZE * t) * eye
    elif direction == 1:
        for j, chain in chain_of.items():
            maps[j] = eye + (0.5 if chain == "thumb" else 1.0) * _FINGER_LENGTH * t * along(j)
    elif direction == 2:
        maps[0] = np.diag([1.0, 1.0, 1.0 + _PALM_WIDTH * t])
    elif direction == 3:
        maps[:] = np.diag([1.0, 1.0 + _THICKNESS * t, 1.0])
    elif direction == 4:
        for j, chain in chain_of.items():
            if chain == "thumb":
                maps[j] = eye + _THUMB_LENGTH * t * along(j)
    elif direction == 5:
        maps[0] = np.diag([1.0 + _PALM_LENGTH * t, 1.0, 1.0])
    elif direction == 6:
        for j in chain_of:
            maps[j] = eye + _FINGER_THICKNESS * t * (eye - along(j))
    elif direction == 7:
        for j, chain in chain_of.items():
            if chain in ("index", "ring"):
                maps[j] = eye + (1.0 if chain == "index" else -1.0) * _INDEX_RING * t * along(j)
    elif direction == 8:
        # Linearised rotation of the whole finger about its first joint, around the palm normal.
        for j, chain in chain_of.items():
            maps[j] = eye + _SPREAD[chain] * t * _skew(np.array([0.0, 1.0, 0.0]))
    return maps


def _deform_by_bones(
    vertices: FloatArray, weights: FloatArray, skeleton: ProceduralSkeleton, maps: FloatArray
) -> FloatArray:
    """Blend each bone's affine map v -> J'_j + M_j (v - J_j), joints J' carried along the tree."""
    moved_joints = np.zeros((NUM_JOINTS, 3))
    moved_joints[0] = skeleton.joints[0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        moved_joints[j] = moved_joints[p] + maps[p] @ (skeleton.joints[j] - skeleton.joints[p])
    per_bone = moved_joints[None] + np.einsum("jab,vjb->vja", maps, vertices[:, None] - skeleton.joints[None])
    return np.asarray(np.einsum("vj,vja->va", weights, per_bone))


def shape_directions(
    vertices: FloatArray,
    weights: FloatArray,
    skeleton: ProceduralSkeleton,
    normals: FloatArray,
) -> FloatArray:
    """vertices (V, 3) metres, weights (V, 16), outward normals (V, 3) -> shapedirs (V, 3, 10), metres per unit beta.

    0 size, 1 finger length, 2 palm width, 3 thickness, 4 thumb length, 5 palm length,
    6 finger thickness, 7 index/ring length ratio, 8 finger spread, 9 fleshiness. Each
    direction is the derivative at beta = 0 of a deformation of the bones (stretch,
    scale, rotation about a joint) blended with the skinning weights, so fingers stay
    attached to the palm; fleshiness offsets the surface along its normal.
    """
    eps = 1e-3
    dirs = np.zeros((vertices.shape[0], 3, NUM_BETAS))
    for k in range(NUM_BETAS - 1):
        plus = _deform_by_bones(vertices, weights, skeleton, _bone_maps(k, eps, skeleton))
        minus = _deform_by_bones(vertices, weights, skeleton, _bone_maps(k, -eps, skeleton))
        dirs[:, :, k] = (plus - minus) / (2.0 * eps)
    palm_side = np.clip(-normals[:, 1], 0.0, None) * weights[:, 0]
    dirs[:, :, 9] = normals * (_FLESH + _PALM_FLESH * palm_side)[:, None]
    return dirs
