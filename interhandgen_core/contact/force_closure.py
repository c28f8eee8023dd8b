"""Grasp-synthesis energies over contact points: force closure, contact distance, penetration, joint limits.

Pure functions, batched over B candidates, object frame (origin at the object's centre), metres.
They are the terms of DexGraspNet's synthesis energy (Wang et al., "DexGraspNet: A Large-Scale
Robotic Dexterous Grasp Dataset for General Objects Based on Simulation", ICRA 2023, Sec. III-B):

    E = E_fc + w_dis E_dis + w_pen E_pen + w_joints E_joints

    E_fc     = || G c ||_2            the differentiable force-closure estimator of Liu et al.
                                      ("Synthesizing Diverse and Physically Stable Grasps With
                                      Arbitrary Hand Structures Using Differentiable Force Closure
                                      Estimator", RA-L 2021): G (6, 3n) the grasp matrix of the n
                                      contact points x_i, c (3n,) their unit inward surface normals
    G        = [ I_3       ...  I_3      ]
               [ [x_1]_x   ...  [x_n]_x  ]   ([x]_x: the cross-product matrix, x relative to the centre)
    E_dis    = sum_i |d(x_i)|         contact points pulled onto the surface (d: object signed distance)
    E_pen    = sum_v relu(m - d(v))   hand vertices pushed out of the object (m: a margin)
    E_joints = sum_j relu(q_j - q_hi) + relu(q_lo - q_j)   joint limits

G c is the net wrench of unit normal forces at the contacts; a small || G c || means the contact
normals can cancel each other, which with friction (a cone around each normal) is what force
closure needs (Liu et al.). BimanGrasp (Shao and Xiao, "Bimanual Grasp Synthesis for Dexterous
Robot Hands", RA-L 2024) puts the contacts of both hands into one G and adds hand-hand penetration;
``bimanual_force_closure_energy`` is that, the hand-hand term is contact/penetration.py's.

Torques are divided by ``length_scale`` (default 0.1 m, a hand's span) so that a force of one
normal and a torque of one normal at a hand's span from the centre weigh alike whatever the units.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.errors import DataError

DEFAULT_LENGTH_SCALE_M = 0.1


def _check_contacts(points: Tensor, normals: Tensor) -> None:
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape != normals.shape:
        raise DataError(
            f"contact points and normals must both be (B, n, 3); got {tuple(points.shape)} and {tuple(normals.shape)}"
        )


def net_wrench(
    points: Tensor, normals: Tensor, centre: Tensor | None = None, length_scale: float = DEFAULT_LENGTH_SCALE_M
) -> Tensor:
    """G c: points (B, n, 3) metres, normals (B, n, 3) unit, centre (B, 3) or None (origin) -> (B, 6).

    The first three numbers are the summed normals (force), the last three the summed moments
    (x_i - centre) x n_i / length_scale (torque). Computed without forming G; ``grasp_matrix``
    is the explicit reference.
    """
    _check_contacts(points, normals)
    arm = points if centre is None else points - centre[:, None]
    force = normals.sum(1)
    torque = torch.cross(arm, normals, dim=-1).sum(1) / length_scale
    return torch.cat([force, torque], dim=-1)


def grasp_matrix(points: Tensor, centre: Tensor | None = None, length_scale: float = DEFAULT_LENGTH_SCALE_M) -> Tensor:
    """The grasp matrix G of Liu et al. (RA-L 2021): points (B, n, 3) metres -> (B, 6, 3n).

    Column block i is [I_3; [x_i - centre]_x / length_scale]. Slow and explicit (a loop over the
    contacts); the reference ``net_wrench`` is tested against.
    """
    b, n, _ = points.shape
    arm = points if centre is None else points - centre[:, None]
    g = points.new_zeros(b, 6, 3 * n)
    for i in range(n):  # contacts, few
        x, y, z = arm[:, i, 0], arm[:, i, 1], arm[:, i, 2]
        zero = torch.zeros_like(x)
        skew = torch.stack(
            [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
        )
        g[:, :3, 3 * i : 3 * i + 3] = torch.eye(3, dtype=points.dtype)
        g[:, 3:, 3 * i : 3 * i + 3] = skew / length_scale
    return g


def force_closure_energy(
    points: Tensor,
    normals: Tensor,
    centre: Tensor | None = None,
    length_scale: float = DEFAULT_LENGTH_SCALE_M,
    weights: Tensor | None = None,
) -> Tensor:
    """E_fc = || G c ||_2 (Liu et al. RA-L 2021; DexGraspNet Sec. III-B) -> (B,), in units of one normal.

    points (B, n, 3) contact points, metres; normals (B, n, 3) unit normals of the object's surface
    at them (inward or outward: the norm is the same); centre (B, 3) the object's centre (None:
    origin); weights (B, n) in [0, 1] scale each contact's normal (0: the contact is not used).
    """
    if weights is not None:
        normals = normals * weights[..., None]
    return net_wrench(points, normals, centre, length_scale).norm(dim=-1)


def bimanual_force_closure_energy(
    left_points: Tensor,
    left_normals: Tensor,
    right_points: Tensor,
    right_normals: Tensor,
    centre: Tensor | None = None,
    length_scale: float = DEFAULT_LENGTH_SCALE_M,
    left_weights: Tensor | None = None,
    right_weights: Tensor | None = None,
) -> Tensor:
    """BimanGrasp's force closure: E_fc over the contacts of both hands in one grasp matrix -> (B,).

    left_points, left_normals (B, n_l, 3); right_points, right_normals (B, n_r, 3); weights (B, n_*)
    as in ``force_closure_energy``. Opposing contacts of the two hands cancel each other here,
    which per-hand energies would not see.
    """
    weights = None
    if left_weights is not None or right_weights is not None:
        lw = left_weights if left_weights is not None else left_points.new_ones(left_points.shape[:2])
        rw = right_weights if right_weights is not None else right_points.new_ones(right_points.shape[:2])
        weights = torch.cat([lw, rw], dim=1)
    return force_closure_energy(
        torch.cat([left_points, right_points], dim=1),
        torch.cat([left_normals, right_normals], dim=1),
        centre,
        length_scale,
        weights,
    )


def contact_distance_energy(contact_distance: Tensor, weights: Tensor | None = None) -> Tensor:
    """E_dis = sum_i w_i |d(x_i)| (DexGraspNet Sec. III-B): contact_distance (B, n) signed, metres -> (B,) metres."""
    d = contact_distance.abs()
    return (d if weights is None else d * weights).sum(-1)


def penetration_energy(signed_distance: Tensor, margin: float = 0.0) -> Tensor:
    """E_pen = sum_v relu(margin - d(v)) (DexGraspNet Sec. III-B): signed_distance (B, V) metres,
    negative inside the object -> (B,) metres. ``margin`` > 0 keeps touching skin from sinking in."""
    return torch.relu(margin - signed_distance).sum(-1)


def joint_limit_energy(pose: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """E_joints = sum_j relu(q_j - high_j) + relu(low_j - q_j) (DexGraspNet Sec. III-B).

    pose (B, J) radians; low, high (J,) or (B, J) radians, low <= high -> (B,) radians.
    """
    if bool((low > high).any()):
        raise DataError("joint limits need low <= high for every joint")
    return (torch.relu(pose - high) + torch.relu(low - pose)).sum(-1)
