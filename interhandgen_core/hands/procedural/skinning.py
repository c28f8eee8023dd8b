"""Skinning weights of the procedural hand: each vertex's share in the 16 bones, metres.

A vertex first picks its finger by distance to the finger's bones (softmin, sharp), then
blends between the bones of that finger nearest to it; the weights are then diffused along
the surface by a "bone heat" solve (Baran and Popovic 2007) over the cotangent Laplacian.
The skeleton is ``ProceduralSkeleton`` (hands/procedural/design.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.hands.keypoints import NUM_JOINTS
from interhandgen_core.hands.procedural.design import CHAIN_FIRST_JOINT, CHAINS, FloatArray, ProceduralSkeleton
from interhandgen_core.hands.procedural.sdf import point_segment_distance

# Blend width (metres) of each joint's influence into its neighbours along the chain:
# wide at the wrist and the thumb's base, where flesh rather than a hinge connects bones.
_JOINT_SOFTNESS = np.array([9.0, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 8.0, 5.0, 4.0]) * 1e-3
# How sharply a vertex belongs to one finger rather than its neighbour (metres).
_CHAIN_SOFTNESS = 3.0e-3


def _chain_bones(skeleton: ProceduralSkeleton, chain: str) -> list[tuple[int, FloatArray, FloatArray]]:
    """(driving joint, segment start, segment end) of a chain, from the wrist's metacarpal to the tip."""
    first = CHAIN_FIRST_JOINT[chain]
    bones = [(0, skeleton.joints[0], skeleton.joints[first])]
    bones += [(first + k, skeleton.joints[first + k], skeleton.bone_ends[first + k]) for k in range(3)]
    return bones


def _softmin_weights(squared: FloatArray, softness: FloatArray) -> FloatArray:
    """squared (N, K) squared distances, softness (K,) -> (N, K) rows summing to 1."""
    logits = -(squared - squared.min(axis=1, keepdims=True)) / softness**2
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(w / w.sum(axis=1, keepdims=True))


def skinning_weights(
    vertices: FloatArray, faces: NDArray[np.int64], skeleton: ProceduralSkeleton, heat_strength: float = 1.0
) -> FloatArray:
    """vertices (V, 3) metres, faces (F, 3) -> (V, 16) skinning weights, non-negative, rows summing to 1.

    A vertex first picks its finger by distance to the finger's bones (the wrist's part
    being the finger's metacarpal, inside the palm), sharply, so that curling one finger
    leaves its neighbours alone; within that finger it blends between the bones nearest to
    it over a few millimetres, more at the knuckles and the thumb's base. The result is
    then diffused along the surface, most where the flesh is thick.
    """
    chain_distance = []
    per_chain = []
    for chain in CHAINS:
        bones = _chain_bones(skeleton, chain)
        squared = np.stack([point_segment_distance(vertices, a, b) ** 2 for _, a, b in bones], axis=1)
        softness = np.array([_JOINT_SOFTNESS[j] for j, _, _ in bones])
        within = _softmin_weights(squared, softness)
        full = np.zeros((vertices.shape[0], NUM_JOINTS))
        for k, (joint, _, _) in enumerate(bones):
            full[:, joint] += within[:, k]
        per_chain.append(full)
        chain_distance.append(squared.min(axis=1))
    affinity = _softmin_weights(np.stack(chain_distance, axis=1), np.full(len(CHAINS), _CHAIN_SOFTNESS))
    weights = np.einsum("vc,cvj->vj", affinity, np.stack(per_chain))
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Diffuse along the surface with a strength falling off with the distance to the nearest
    # bone (after Baran and Popovic's "bone heat"): without it the web between thumb and
    # index finger folds inside out when the thumb curls across the palm.
    nearest = np.sqrt(np.min(np.stack(chain_distance, axis=1), axis=1))
    laplacian, mass = _cotangent_laplacian(vertices, faces)
    heat = heat_strength * mass / np.maximum(nearest, 1e-4) ** 2
    smooth = np.linalg.solve(laplacian + np.diag(heat), heat[:, None] * weights)
    smooth = np.clip(smooth, 0.0, None)
    return np.asarray(smooth / smooth.sum(axis=1, keepdims=True))


def _cotangent_laplacian(vertices: FloatArray, faces: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Dense cotangent Laplacian (V, V), positive semi-definite, and lumped vertex areas (V,)."""
    num = vertices.shape[0]
    laplacian = np.zeros((num, num))
    mass = np.zeros(num)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    for k in range(3):
        i, j, o = faces[:, (k + 1) % 3], faces[:, (k + 2) % 3], faces[:, k]
        u, w = vertices[i] - vertices[o], vertices[j] - vertices[o]
        cot = 0.5 * np.einsum("ij,ij->i", u, w) / np.maximum(np.linalg.norm(np.cross(u, w), axis=1), 1e-20)
        np.add.at(laplacian, (i, j), -cot)
        np.add.at(laplacian, (j, i), -cot)
        np.add.at(laplacian, (i, i), cot)
        np.add.at(laplacian, (j, j), cot)
        np.add.at(mass, o, area / 3.0)
    return laplacian, mass
