"""The procedural hand's joint regressor and fingertip vertices, read off its mesh, metres.

Each joint is a convex combination of a ring of vertices around it (a slab across the limb
at the joint) that reproduces the designed joint of ``ProceduralSkeleton``
(hands/procedural/design.py) exactly; each fingertip is the vertex furthest along its
distal bone on the fingertip cap.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.keypoints import NUM_JOINTS, PARENTS
from interhandgen_core.hands.procedural.design import CHAIN_FIRST_JOINT, TIP_SLOT, FloatArray, ProceduralSkeleton


def _joint_axes(skeleton: ProceduralSkeleton) -> FloatArray:
    """(16, 3) unit axis of the limb through each joint (along -x for the wrist)."""
    axes = np.zeros((NUM_JOINTS, 3))
    axes[0] = (-1.0, 0.0, 0.0)
    for j in range(1, NUM_JOINTS):
        outgoing = skeleton.bone_ends[j] - skeleton.joints[j]
        axes[j] = outgoing / np.linalg.norm(outgoing)
        parent = PARENTS[j]
        if parent > 0:
            incoming = skeleton.joints[j] - skeleton.joints[parent]
            mean = axes[j] + incoming / np.linalg.norm(incoming)
            axes[j] = mean / np.linalg.norm(mean)
    return axes


def _ring_weights(points: FloatArray, target: FloatArray) -> FloatArray:
    """Convex weights (K,) of points (K, 3) whose weighted mean is target (3,), as even as possible.

    Minimises |w - 1/K|^2 subject to points^T w = target, sum w = 1, w >= 0, then removes
    the solver's residual exactly on the support.
    """
    from scipy.optimize import minimize

    k = points.shape[0]
    a = np.vstack([points.T, np.ones((1, k))])
    b = np.append(target, 1.0)
    # Centimetre-scale constraints condition the solver better than metres.
    scale = np.array([100.0, 100.0, 100.0, 1.0])[:, None]
    result = minimize(
        lambda w: float(((w - 1.0 / k) ** 2).sum()),
        np.full(k, 1.0 / k),
        jac=lambda w: 2.0 * (w - 1.0 / k),
        constraints=[{"type": "eq", "fun": lambda w: (scale * a) @ w - scale[:, 0] * b, "jac": lambda w: scale * a}],
        bounds=[(0.0, None)] * k,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    w = np.clip(result.x, 0.0, None)
    w[w < 1e-9] = 0.0
    support = w > 0.0
    # Minimum-norm correction on the support (lstsq: the support may be degenerate when infeasible).
    w[support] += np.linalg.lstsq(a[:, support], b - a @ w, rcond=None)[0]
    return np.asarray(w)


def joint_regressor(vertices: FloatArray, skeleton: ProceduralSkeleton) -> FloatArray:
    """vertices (V, 3) metres -> (16, V) regressor: each joint a convex combination of a ring of
    vertices around it (a slab across the limb at the joint), reproducing the designed joints.
    """
    axes = _joint_axes(skeleton)
    regressor = np.zeros((NUM_JOINTS, vertices.shape[0]))
    for j in range(NUM_JOINTS):
        rel = vertices - skeleton.joints[j]
        along = rel @ axes[j]
        across = np.linalg.norm(rel - along[:, None] * axes[j], axis=1)
        reach = 0.04 if j == 0 else 1.7 * skeleton.joint_radii[j]
        for half_width in (0.003, 0.004, 0.005, 0.0065, 0.008, 0.01):
            ring = np.flatnonzero((np.abs(along) < half_width) & (across < reach))
            if ring.size < 8:
                continue
            w = _ring_weights(vertices[ring], skeleton.joints[j])
            if np.all(w >= -1e-12) and np.linalg.norm(w @ vertices[ring] - skeleton.joints[j]) < 1e-9:
                regressor[j, ring] = np.clip(w, 0.0, None)
                break
        else:
            raise AssetError(f"procedural hand: no ring of vertices around joint {j} contains it; check the design")
    # Make the rows reproduce the joints exactly after clipping tiny negatives.
    for j in range(NUM_JOINTS):
        support = regressor[j] > 0.0
        a = np.vstack([vertices[support].T, np.ones((1, int(support.sum())))])
        b = np.append(skeleton.joints[j], 1.0)
        regressor[j, support] += np.linalg.lstsq(a, b - a @ regressor[j, support], rcond=None)[0]
    return regressor


def tip_vertex_ids(vertices: FloatArray, skeleton: ProceduralSkeleton) -> NDArray[np.int64]:
    """(5,) the vertex furthest along each distal bone, among those on the fingertip cap."""
    ids = np.zeros(5, dtype=np.int64)
    for slot in range(5):
        chain = next(c for c, s in TIP_SLOT.items() if s == slot)
        distal = CHAIN_FIRST_JOINT[chain] + 2
        axis = skeleton.bone_ends[distal] - skeleton.joints[distal]
        axis /= np.linalg.norm(axis)
        near = np.linalg.norm(vertices - skeleton.tip_centres[slot], axis=1) < 1.5 * skeleton.tip_radii[slot]
        score = np.where(near, (vertices - skeleton.tip_centres[slot]) @ axis, -np.inf)
        ids[slot] = int(np.argmax(score))
    return ids
