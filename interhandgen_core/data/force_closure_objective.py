"""The force-closure synthesis objective of data/grasp_synth.py (``objective="force-closure"``).

Each hand carries C = 16 candidate contact points, vertex indices of its mesh chosen once per
hand model on the rest pose (``contact_vertices``), in this order:
    0-4    fingertips        thumb, index, middle, ring, pinky: the skin nearest each tip keypoint
    5-14   finger pads       per finger, the palm-side skin of its middle and of its proximal
                             segment (thumb: the side facing the palm)
    15     palm              the middle of the palm's skin (hands/placement.py palm_vertex_index)
A candidate uses a subset of them, weights (B, C) in {0, 1} (``contact_weights``). The objective
(contact/force_closure.py, DexGraspNet Sec. III-B with BimanGrasp's bimanual force closure) is,
per candidate,

    w_fc E_fc(both hands' used contacts, object normals there) + w_dis E_dis (cm)
    + E_pen (squared cm past a 2 mm margin, as the contact objective) + w_joints E_joints (rad)
    + hand-hand penetration (contact/penetration.py) + offset regularisers,

where the object's normals at the contacts come from the gradient of its exact signed distance,
kept differentiable (double backward) so that E_fc moves contacts to where normals oppose.
Joint limits (``joint_limits``) are the range of the procedural articulation (hands/articulation.py
curl_pose over curls -0.1..1 and spreads -1..1) widened by ``_JOINT_SLACK_RAD``.
Frames: object frame, metres (centimetres where said).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from interhandgen_core.contact.force_closure import (
    bimanual_force_closure_energy,
    contact_distance_energy,
    joint_limit_energy,
)
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.placement import palm_vertex_index

NUM_CONTACTS = 16
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_PAD_OFFSET_M = 0.012  # from a segment's axis towards the palm side: about a finger's half thickness
_JOINT_SLACK_RAD = 0.2
_LIMIT_SAMPLES = 512


def _rest_output(layer: HandLayer) -> tuple[Tensor, Tensor]:
    """The mean-shape hand at the identity: (vertices (V, 3), keypoints (21, 3)), hand frame, metres."""
    with torch.no_grad():
        rest = HandParams(torch.zeros(1, 45), torch.zeros(1, 10), torch.eye(3)[None], torch.zeros(1, 3))
        out = layer(rest)
    return out.vertices[0], out.keypoints[0]


def contact_vertices(layer: HandLayer) -> Tensor:
    """(16,) long: the candidate contact vertices of one hand model (module docstring order)."""
    vertices, keypoints = _rest_output(layer)
    palm = palm_vertex_index(layer)
    palm_point = vertices[palm]
    # The palm side: from the middle finger's base towards the palm's skin (-y for the MANO layout).
    palm_side = torch.nn.functional.normalize(palm_point - keypoints[KEYPOINT_NAMES.index("middle1")], dim=0)

    def nearest(target: Tensor) -> int:
        return int((vertices - target).norm(dim=-1).argmin())

    tips = [nearest(keypoints[KEYPOINT_NAMES.index(f"{f}_tip")]) for f in _FINGERS]
    pads: list[int] = []
    for f in _FINGERS:
        chain = [KEYPOINT_NAMES.index(f"{f}{j}") for j in (1, 2, 3)]
        for a, b in ((chain[1], chain[2]), (chain[0], chain[1])):  # middle segment, then proximal
            mid = 0.5 * (keypoints[a] + keypoints[b])
            side = palm_side if f != "thumb" else torch.nn.functional.normalize(palm_point - mid, dim=0)
            pads.append(nearest(mid + _PAD_OFFSET_M * side))
    return torch.tensor([*tips, *pads, palm], dtype=torch.long)


def joint_limits(side: str) -> tuple[Tensor, Tensor]:
    """(low (45,), high (45,)) radians: the range of curl_pose's articulation for this side (module docstring)."""
    generator = torch.Generator().manual_seed(0)
    curl = -0.1 + 1.1 * torch.rand(_LIMIT_SAMPLES, 5, generator=generator)
    corners = torch.tensor([[-0.1] * 5, [1.0] * 5])
    curl = torch.cat([curl, corners, corners])
    spread = torch.cat([-1 + 2 * torch.rand(_LIMIT_SAMPLES, generator=generator), torch.tensor([-1.0, -1.0, 1.0, 1.0])])
    pose = curl_pose(curl, spread)
    if side == "left":
        n = pose.shape[0]
        pose = HandParams(pose, torch.zeros(n, 10), torch.eye(3).expand(n, 3, 3), torch.zeros(n, 3)).mirrored().pose
    return pose.min(0).values - _JOINT_SLACK_RAD, pose.max(0).values + _JOINT_SLACK_RAD


def contact_weights(targets: Tensor, pad_probability: float, generator: torch.Generator) -> Tensor:
    """targets (B, 6) weights of five fingertips and the palm (the placement's) -> (B, 16) contact weights.

    The tips and the palm as the placement asks; each pad of a finger whose tip is used is added
    with ``pad_probability`` (a wrapping finger touches along its length).
    """
    tips, palm = targets[:, :5], targets[:, 5:]
    pads = tips.repeat_interleave(2, dim=1) * (torch.rand(tips.shape[0], 10, generator=generator) < pad_probability)
    return torch.cat([tips, pads.float(), palm], dim=1)


def differentiable_distance_and_normal(
    signed_distance: Callable[[Tensor], Tensor], points: Tensor
) -> tuple[Tensor, Tensor]:
    """points (B, n, 3) metres -> (distance (B, n), unit outward normal (B, n, 3)), both differentiable in points.

    signed_distance: points (B, n, 3) -> (B, n). The normal is the distance's gradient, taken with
    ``create_graph`` so that a loss on it moves the points (the normal field's curvature).
    """
    with torch.enable_grad():
        p = points if points.requires_grad else points.detach().requires_grad_(True)
        distance = signed_distance(p)
        (grad,) = torch.autograd.grad(distance.sum(), p, create_graph=True)
    return distance, torch.nn.functional.normalize(grad, dim=-1)


def force_closure_terms(
    signed_distance: Callable[[Tensor], Tensor],
    left_contacts: Tensor,
    right_contacts: Tensor,
    left_weights: Tensor,
    right_weights: Tensor,
) -> tuple[Tensor, Tensor]:
    """E_fc over both hands' used contacts and E_dis (centimetres) -> ((B,), (B,)).

    left_contacts, right_contacts (B, 16, 3) metres; weights (B, 16) in [0, 1].
    """
    both = torch.cat([left_contacts, right_contacts], dim=1)
    distance, normal = differentiable_distance_and_normal(signed_distance, both)
    c = left_contacts.shape[1]
    e_fc = bimanual_force_closure_energy(
        left_contacts,
        normal[:, :c],
        right_contacts,
        normal[:, c:],
        left_weights=left_weights,
        right_weights=right_weights,
    )
    e_dis = contact_distance_energy(100.0 * distance, torch.cat([left_weights, right_weights], dim=1))
    return e_fc, e_dis


def joint_energy(pose: Tensor, limits: tuple[Tensor, Tensor]) -> Tensor:
    """E_joints of pose (B, 45) radians against (low, high) (45,) -> (B,) radians."""
    return joint_limit_energy(pose, limits[0], limits[1])
