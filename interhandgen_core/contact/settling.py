"""Settling sampled grasps onto the object: a short rigid translation of each hand (not in the paper).

Anti-penetration guidance (Algorithm 2) acts on the whole hand vector inside the reverse
diffusion, where each step is bounded and the denoiser pulls back towards its own estimate;
a prior that places a hand a few centimetres inside or off the object is not always brought
to the surface by it. A planner needs both hands on the object and out of it, so after
sampling each hand is translated, rigidly, by the few millimetres to centimetres that
minimise

    L = sum over hands [ sum over vertices of depth behind the cloud (cm)         (object)
                         + gap of the hand's closest vertex to the cloud (cm) ]  (contact)
        + L_pen(left, right)                                                     (Eq. 7, hands)

by normalised gradient steps on the two translations only (the hands' nearest vertices searched every
few iterations, and Eq. 7 then evaluated on the pairs found alone, moved by the translations; the object
read from a grid where the caller passes one, prior/sampler.ObjectCondition: every vertex once without a
gradient, only those inside the object and each floating hand's closest again with one) (each hand moves ``step_m``
along its own descent direction, the step shrinking linearly to 0 over the iterations); articulation, shape and orientation stay what the
prior sampled. The object term is a sum, not Eq. 7's mean, so that any penetration
outweighs the pull of the contact term and a hand settles touching, not sunk in. Depths
beyond ``band`` do not count (a one-sided cloud, penetration.object_penetration_loss).
Batched over grasps; ``iterations`` = 0 turns it off.

Notation: vertices (N, V, 3) metres, object frame; cloud (P, 3) with unit outward normals.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interhandgen_core.contact.penetration import (
    SearchedPairs,
    SignedDistance,
    gap_and_depth,
    hand_pair_indices,
    object_signed_distance,
    penetration_loss,
    searched_pairs,
    translated_pair_penetration,
)
from interhandgen_core.geometry.normals import vertex_normals

_CM = 100.0

# Iterations between searches of the two hands' nearest vertices (the hand-hand term): in between each
# hand moves at most this many steps of step_m, a few millimetres, and the found vertices are kept
# (tests/contact/test_settling.py compares with a search at every iteration).
_SEARCH_EVERY = 5


def settle_translations(
    left_vertices: Tensor,
    left_faces: Tensor,
    right_vertices: Tensor,
    right_faces: Tensor,
    cloud: Tensor,
    cloud_normals: Tensor,
    band: float,
    iterations: int,
    step_m: float,
    signed_distance: SignedDistance | None = None,
) -> tuple[Tensor, Tensor]:
    """-> (left offset (N, 3), right offset (N, 3)) metres to add to each hand's vertices and translation.

    ``signed_distance``: the object's, from a structure built once per cloud (penetration.object_signed_distance).
    """
    n = left_vertices.shape[0]
    left_offset = torch.zeros(n, 3, device=left_vertices.device)
    right_offset = torch.zeros(n, 3, device=left_vertices.device)
    points, normals = cloud.expand(n, *cloud.shape), cloud_normals.expand(n, *cloud_normals.shape)
    lv, rv = left_vertices.detach(), right_vertices.detach()
    # The hands only translate here: their vertex normals are computed once.
    left_normals, right_normals = vertex_normals(lv, left_faces), vertex_normals(rv, right_faces)
    num_left = lv.shape[1]
    pairs: tuple[SearchedPairs, SearchedPairs] | None = None
    for k in range(iterations):  # optimisation steps, each batched over the grasps
        with torch.enable_grad():
            lo = left_offset.requires_grad_(True)
            ro = right_offset.requires_grad_(True)
            moved_left, moved_right = lv + lo[:, None], rv + ro[:, None]
            if k % _SEARCH_EVERY == 0:  # the hands' nearest vertices, kept for the next few small steps
                searched = hand_pair_indices(moved_right, moved_left, _SEARCH_EVERY * step_m)
                # On the CPU, Eq. 7 on the pairs found only (a few percent of the vertices), the hands only translating.
                pairs = None if searched is None else _pairs(rv, lv, right_normals, left_normals, searched)
            if pairs is None:
                loss = penetration_loss(
                    moved_right,
                    right_faces,
                    moved_left,
                    left_faces,
                    normals=right_normals,
                    other_normals=left_normals,
                    indices=searched,
                )
            else:
                loss = translated_pair_penetration(pairs[0], ro - lo) + translated_pair_penetration(pairs[1], lo - ro)
            moved = torch.cat([moved_left, moved_right], dim=1)  # both hands in one lookup of the object
            if signed_distance is None:
                signed = object_signed_distance(moved, points, normals, None)
                for hand in (signed[:, :num_left], signed[:, num_left:]):
                    gap, depth = gap_and_depth(hand, band)
                    loss = loss + _CM * (depth.sum(-1) + gap)
            else:
                loss = loss + _CM * _object_term(moved, num_left, band, signed_distance)
            grad_left, grad_right = torch.autograd.grad(loss.sum(), [lo, ro])
        # Per hand a fixed-length step along its own descent direction: the loss's scale varies by
        # orders of magnitude between a hand that floats and one that is sunk in.
        step = step_m * (1.0 - k / iterations)
        left_offset = (lo - step * _unit_rows(grad_left)).detach()
        right_offset = (ro - step * _unit_rows(grad_right)).detach()
    return left_offset, right_offset


def _object_term(moved: Tensor, num_left: int, band: float, signed_distance: SignedDistance) -> Tensor:
    """moved (N, V_l + V_r, 3) metres, both hands' vertices -> (N,) metres: over the two hands, the depths within
    ``band`` summed plus the gap (penetration.gap_and_depth), differentiable in ``moved``.

    The same value and gradient as gap_and_depth on every vertex's distance (tests/contact/test_settling.py): only
    the vertices inside the object (within the band) and each hand's closest one where it floats have a gradient,
    so all are read once without one and only those again with one, sparing the backward pass through every
    vertex's lookup.
    """
    with torch.no_grad():
        signed = signed_distance(moved.detach())  # (N, V)
    hands = ((0, num_left), (num_left, moved.shape[1]))
    rows: list[Tensor] = []
    columns: list[Tensor] = []
    for start, stop in hands:  # the vertices inside, within the band: the depth term
        hand = signed[:, start:stop]
        inside = ((hand < 0) & (-hand <= band)).nonzero(as_tuple=True)
        rows.append(inside[0])
        columns.append(inside[1] + start)
    num_inside = sum(int(r.shape[0]) for r in rows)
    for start, stop in hands:  # each floating hand's closest vertex: the gap term (min's gradient goes there)
        closest, index = signed[:, start:stop].min(dim=-1)
        floating = (closest > 0).nonzero(as_tuple=True)[0]
        rows.append(floating)
        columns.append(index[floating] + start)
    row, column = torch.cat(rows), torch.cat(columns)
    total = moved.new_zeros(moved.shape[0])
    if row.shape[0] == 0:
        return total + 0.0 * moved.sum()  # no vertex has a gradient: zero, still a function of moved
    values = signed_distance(moved[row, column][None])[0]  # the same lookups, now with their gradient
    depth = values[:num_inside]
    terms = torch.cat(
        [torch.where(-depth <= band, torch.relu(-depth), torch.zeros_like(depth)), torch.relu(values[num_inside:])]
    )
    return total.index_add(0, row, terms)


def _pairs(
    right: Tensor, left: Tensor, right_normals: Tensor, left_normals: Tensor, searched: tuple[Tensor, Tensor]
) -> tuple[SearchedPairs, SearchedPairs]:
    """The searched pairs both ways (right -> left, left -> right), untranslated vertices (N, V, 3)."""
    to_left, to_right = searched
    return searched_pairs(right, left, left_normals, to_left), searched_pairs(left, right, right_normals, to_right)


def _unit_rows(v: Tensor) -> Tensor:
    """(N, 3) -> rows scaled to unit length; zero rows stay zero."""
    norm = v.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, v / norm.clamp_min(1e-12), torch.zeros_like(v))
