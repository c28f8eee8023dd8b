"""Damped least squares on a robot hand's keypoint links, batched, within the joint limits.

targets: (B, K, 3) metres, root frame (where each link should be) -> joints (B, J) within
[lower, upper]. The residuals (one row of ``ResidualWeights`` each) are, per batch row,

    positions   sqrt(w_k) (p_k(q) - target_k)                      per link k (fingertips weigh most)
    vectors     sqrt(w_v) ((tip_f - base_f)(q) - (target tip_f - target base_f))   per finger f
    stay        sqrt(w_s) (q - q_ref)                              towards the last command (a stream)
                                                                  or the rest pose (a batch of grasps)

(dex-retargeting's objectives: fingertip positions and finger vectors, with its norm on the change
from the last command). Each iteration takes one Gauss-Newton step with Levenberg's damping,
``(J^T W J + w_s I + lambda I) dq = -(J^T W r + w_s (q - q_ref))``, clipped into the limits (a
projected step), kept where it lowers the cost (lambda / 3) and refused where not (lambda x 10),
per row; all rows at once with batched ``numpy.linalg.solve``; it stops when every row's last
step was taken and moved no joint more than ``tolerance``. The Jacobians are the robot model's (kinematics.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.retargeting.kinematics import Kinematics


@dataclasses.dataclass(frozen=True)
class ResidualWeights:
    """point: (K,) weight of each link's position; vector: weight of each finger's base -> tip vector;
    stay: weight of the pull towards q_ref; damping: Levenberg's lambda."""

    point: NDArray[np.float64]
    vector: float
    stay: float
    damping: float


def solve_joints(
    kinematics: Kinematics,
    targets: NDArray[np.float64],
    start: NDArray[np.float64],
    reference: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    tips: NDArray[np.int64],
    bases: NDArray[np.int64],
    weights: ResidualWeights,
    iterations: int,
    tolerance: float = 1e-5,
) -> tuple[NDArray[np.float64], int]:
    """targets: (B, K, 3), start and reference: (B, J) -> (joints (B, J) within the limits, iterations run)."""
    q = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
    rows, num_joints = q.shape
    point_w = np.sqrt(weights.point)[None, :, None]  # (1, K, 1)
    vector_w = np.sqrt(weights.vector)
    target_vectors = targets[:, tips] - targets[:, bases]
    eye = np.eye(num_joints)

    def evaluate(joints: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        points, jac = kinematics.points_and_jacobian(joints)
        residual = np.concatenate(
            [
                (point_w * (points - targets)).reshape(rows, -1),
                (vector_w * (points[:, tips] - points[:, bases] - target_vectors)).reshape(rows, -1),
            ],
            axis=1,
        )
        jacobian = np.concatenate(
            [
                (point_w[..., None] * jac).reshape(rows, -1, num_joints),
                (vector_w * (jac[:, tips] - jac[:, bases])).reshape(rows, -1, num_joints),
            ],
            axis=1,
        )
        cost = (residual**2).sum(axis=1) + weights.stay * ((joints - reference) ** 2).sum(axis=1)
        return residual, jacobian, cost

    residual, jacobian, cost = evaluate(q)
    damping = np.full(rows, max(weights.damping, 1e-12))
    done = 0
    for _ in range(iterations):
        jt = np.swapaxes(jacobian, 1, 2)
        normal = jt @ jacobian + (weights.stay + damping)[:, None, None] * eye
        gradient = (jt @ residual[..., None])[..., 0] + weights.stay * (q - reference)
        step = -np.linalg.solve(normal, gradient[..., None])[..., 0]
        trial = np.clip(q + step, lower, upper)
        trial_residual, trial_jacobian, trial_cost = evaluate(trial)
        better = trial_cost < cost  # Levenberg: a step that lowers the cost is taken, else damped more
        change = np.where(better, np.abs(trial - q).max(axis=1), 0.0)
        q = np.where(better[:, None], trial, q)
        residual = np.where(better[:, None], trial_residual, residual)
        jacobian = np.where(better[:, None, None], trial_jacobian, jacobian)
        cost = np.where(better, trial_cost, cost)
        damping = np.where(better, damping / 3.0, damping * 10.0)
        done += 1
        if rows == 0 or (change.max() < tolerance and better.all()) or damping.min() > 1e6:
            break
    return q, done
