"""Where each hand of a grasp presses on its object, and how well the presses of all hands cancel.

A grasp holds when its hands squeeze the object: pressed onto it, the hands' pushes must balance
in force and in torque, or the press alone drives the object out (the physics validation's
"settle" phase, physics/grasp_validation.py, fails most grasps of today's prior this way).

Per hand (N grasps, V vertices, object frame, metres):
    contact region  the vertices whose signed distance is within ``band`` of the hand's closest
                    approach (of the surface, for a hand that already penetrates)
    press direction minus the mean outward surface normal at the region's vertices: into the object,
                    perpendicular to the face the palm or fingertips rest on. When the normals cancel
                    (|mean| < MIN_NORMAL_AGREEMENT: a hand wrapped around a thin handle), the unit
                    direction from the region's centroid to the object's centre instead
    press point     the region's centroid
Over the H hands of a grasp, with d_h the press directions and c_h the press points:
    imbalance       || sum_h d_h || + || sum_h (c_h - centre) x d_h || / length_scale
                    0 when the unit presses cancel (two hands opposing along a line through the
                    centre), about 2 for two hands pressing the same way. The net wrench of unit
                    contact normals, as the force-closure energy (contact/force_closure.py) with one
                    contact per hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.contact.force_closure import DEFAULT_LENGTH_SCALE_M, net_wrench

# Below this length the mean outward normal of a contact region is taken as cancelled out.
MIN_NORMAL_AGREEMENT = 0.3


@dataclass(frozen=True)
class HandPress:
    """direction (N, 3) unit, zero for a hand with no direction; point (N, 3) metres; closest (N,) signed metres."""

    direction: Tensor
    point: Tensor
    closest: Tensor


def hand_press(
    signed_distance: Tensor, outward_normal: Tensor, vertices: Tensor, centre: Tensor, band: float
) -> HandPress:
    """signed_distance (N, V) metres (negative inside), outward_normal (N, V, 3) unit surface normal nearest
    each vertex, vertices (N, V, 3) metres, centre (N, 3) the object's centre -> HandPress (module docstring)."""
    closest = signed_distance.min(dim=1).values  # (N,)
    region = (signed_distance <= closest.clamp_min(0.0)[:, None] + band).to(vertices.dtype)  # (N, V), >= 1 each
    count = region.sum(dim=1, keepdim=True)
    mean_normal = (outward_normal * region[..., None]).sum(dim=1) / count
    point = (vertices * region[..., None]).sum(dim=1) / count
    towards_centre = centre - point
    length = mean_normal.norm(dim=-1, keepdim=True)
    centre_length = towards_centre.norm(dim=-1, keepdim=True)
    agree = length >= MIN_NORMAL_AGREEMENT
    direction = torch.where(
        agree, -mean_normal / length.clamp_min(1e-12), towards_centre / centre_length.clamp_min(1e-12)
    )
    direction = torch.where(agree | (centre_length > 1e-9), direction, torch.zeros_like(direction))
    return HandPress(direction, point, closest)


def press_imbalance(presses: list[HandPress], centre: Tensor, length_scale: float = DEFAULT_LENGTH_SCALE_M) -> Tensor:
    """H hands' presses of N grasps, centre (N, 3) metres -> (N,) imbalance (module docstring), in unit normals."""
    points = torch.stack([p.point for p in presses], dim=1)  # (N, H, 3)
    directions = torch.stack([p.direction for p in presses], dim=1)
    wrench = net_wrench(points, directions, centre, length_scale)
    return wrench[:, :3].norm(dim=-1) + wrench[:, 3:].norm(dim=-1)
