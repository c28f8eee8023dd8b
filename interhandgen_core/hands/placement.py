"""Placing a hand by intuitive landmarks: where its fingers point, which way its palm faces.

Rest-pose conventions of the MANO-format hands (hands/articulation.py): the right hand's
fingers point along -x, its thumb towards +z and its palm faces -y; the left hand is its
mirror image (fingers along +x, thumb towards +z, palm facing -y).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from interhandgen_core.hands.layer import HandLayer


def hand_frame(side: Literal["left", "right"], fingers: Tensor, palm_normal: Tensor) -> Tensor:
    """Root rotation (B, 3, 3) whose fingers point along ``fingers`` (B, 3) and palm faces ``palm_normal`` (B, 3).

    ``palm_normal`` is orthogonalised against ``fingers``; neither needs to be unit length.
    The rest pose maps to: R e_x = -fingers (right) or +fingers (left), R e_y = -palm_normal.
    """
    f = torch.nn.functional.normalize(fingers, dim=-1)
    n = palm_normal - (palm_normal * f).sum(-1, keepdim=True) * f
    n = torch.nn.functional.normalize(n, dim=-1)
    x = -f if side == "right" else f
    y = -n
    return torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=-1)


def palm_centre_offset(layer: HandLayer, betas: Tensor) -> Tensor:
    """betas (B, 10) -> (B, 3) metres, hand frame: mean of the wrist and four knuckles of the rest pose, from the wrist."""
    joints = layer.rest_joints(betas)
    joints = joints - joints[:, :1]
    return joints[:, [0, 1, 4, 7, 10]].mean(1)


def palm_vertex_index(layer: HandLayer) -> int:
    """The vertex at the middle of the palm's skin: nearest to the palm centre among palm-side (-y) vertices."""
    with torch.no_grad():
        centre = palm_centre_offset(layer, torch.zeros(1, 10))[0] + layer.rest_joints(torch.zeros(1, 10))[0, 0]
        vertices = layer.v_template
        distance = (vertices - centre).norm(dim=-1)
        distance = torch.where(vertices[:, 1] < centre[1], distance, torch.full_like(distance, torch.inf))
    return int(distance.argmin())
