"""Penetration of a hand into the other hand (Eq. 7-8) or into an object cloud, batched and differentiable.

The one implementation of the paper's nearest-vertex test (Eq. 8) that guidance
(prior/sampler.py), refinement (refinement/objective.py), settling (settling.py), the
synthesizers (data/*_synth.py) and the exact measurement (interaction.py) share.

Notation (paper -> code):
    V_{t-1}^i   vertices of the hand being generated       -> ``vertices``
    V_l^j       vertices of the other (anchor) hand         -> ``other_vertices``
    n_j         vertex normal of the other hand at j        -> ``other_normals``
    j(i)        the nearest vertex of the other hand to i   -> ``index`` (searched when None)
    d_i         -n_j . (V^i - V^j), depth behind the other  -> ``depth`` (depth_behind_nearest)
                surface along its normal; Eq. 8's test is d_i > 0
    P(.)        pairs (i, j(i)) with d_i > 0 (Eq. 8)
    L_pen       sum over P of ||V^i - V^j||_2 (Eq. 7), divided by the number of vertices and
                expressed in centimetres: the mean penetration per vertex, in cm

Three uses of Eq. 8 penalise differently, on purpose:
    penetration_loss     Eq. 7 as printed (distance to the nearest vertex, mean per vertex, cm):
                         the guidance step and the refinement term, both weighted against a
                         prior that also moves the hands, so the penalty stays small and linear.
    margin_penetration   the synthesizers' term (sum over vertices of (100 relu(d_i + margin))^2,
                         cm^2): there the optimiser alone moves the hands, from templates that
                         overlap by centimetres; a squared depth along the normal pushes the
                         deepest vertices out first, and the margin puts the penalty's zero in
                         front of the surface, so that touching skin settles without sinking in.
    interaction.py       Eq. 8 only as the cheap pre-test of the exact inside test (winding
                         numbers), whose depth is the figure reported.

The units are this implementation's choice, calibrated on the shipped prior: the paper
gives w_pen = 4 (S.4.2) without the units of L_pen, and the guidance step is taken in the
normalised parameter space, where a translation unit is the data's standard deviation
(4-7 cm here). Eq. 7 summed in metres with w_pen = 4 pushes a quarter of the sampled pairs
more than 2 cm apart; per vertex in centimetres, w_pen = 4 removes most penetration while
the hands stay in contact (figures in the README).

The paper's text calls Eq. 7 a sum of squared distances while the equation shows the
Euclidean norm; the norm is used here because its gradient does not vanish as a
penetration becomes shallow. ``symmetric=True`` also counts the other hand's vertices
that lie behind the generated hand's surface: a fingertip that pierces the anchor
between two of its vertices is caught from the anchor's side. (Eq. 8 as printed is
one-directional; the authors' released code is two-directional.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.geometry.background_search import search_in_background
from interhandgen_core.geometry.distance_grid import ScreenedSignedDistance
from interhandgen_core.geometry.nearest import offset_to_nearest, points_to_cloud_signed_distance
from interhandgen_core.geometry.normals import vertex_normals
from interhandgen_core.geometry.tree_nearest import (
    SampleTrees,
    nearest_indices,
    nearest_indices_both_ways,
    nearest_indices_within,
    use_trees,
)
from interhandgen_core.hands.capsule_proxy import HandCapsules

# points (B, N, 3) metres, object frame -> (B, N) signed distance to the object, metres, negative inside:
# a structure built once per cloud (geometry/tree_nearest.CloudTree) in place of the per-call search.
SignedDistance = Callable[[Tensor], Tensor]

# On the CPU, points further than this outside the bounding box of the other point set are not searched
# (geometry/tree_nearest.nearest_indices): in front of a closed surface, Eq. 8 reads 0 there. Two
# hand vertex spacings (about 5 mm each); tests/contact/test_penetration.py compares with the full search.
_SEARCH_MARGIN_M = 0.01

_CENTIMETRES_PER_METRE = 100.0

# A search radius for hand_pair_indices (refinement's): a vertex farther than this from every vertex of the
# other hand is left out, as if in front of it (Eq. 8 reads 0). Points inside a hand lie within 17.8 mm of one of
# its vertices for the mean shape, 24.7 mm at most for shapes with |betas| up to 3 (procedural hands, winding
# numbers, 20,000 points in each of 36 posed hands); only a vertex deeper than that in such a hand is missed,
# while the ones around it, nearer the surface, are found. It halves the search for interlocked hands.
HAND_SEARCH_RADIUS_M = 0.025


def depth_behind_nearest(
    vertices: Tensor, other_vertices: Tensor, other_normals: Tensor, index: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """vertices (B, V, 3), other_vertices (B, W, 3), other_normals (B, W, 3), optional index (B, V) of
    each vertex's nearest other vertex (searched, without gradient, when None) ->
    (depth (B, V) metres, distance (B, V) metres).

    depth: d_i = -n_j . (V^i - V^j), > 0 for a vertex behind the other surface (Eq. 8);
    distance: ||V^i - V^j||. Differentiable in both vertex sets. A precomputed ``index`` lets an
    optimiser refresh the nearest neighbours only every few steps.
    """
    along_normal, distance, _ = offset_to_nearest(vertices, other_vertices, other_normals, index)
    return -along_normal, distance


def one_way_penetration(
    vertices: Tensor, other_vertices: Tensor, other_normals: Tensor, index: Tensor | None = None
) -> Tensor:
    """vertices (B, V, 3), other_vertices (B, W, 3), other_normals (B, W, 3), optional index (B, V) -> (B, V) metres.

    Distance to the nearest vertex of the other hand for vertices behind its surface
    (Eq. 8), 0 elsewhere. Differentiable in both vertex sets.
    """
    depth, distance = depth_behind_nearest(vertices, other_vertices, other_normals, index)
    return torch.where(depth > 0, distance, torch.zeros_like(distance))  # Eq. 8


def _searched_penetration(
    vertices: Tensor, other_vertices: Tensor, other_normals: Tensor, index: Tensor | None
) -> Tensor:
    """one_way_penetration with an index that may read -1 (not searched: 0 there) -> (B, V) metres."""
    if index is None:
        return one_way_penetration(vertices, other_vertices, other_normals)
    searched = index >= 0
    penetration = one_way_penetration(vertices, other_vertices, other_normals, index.clamp_min(0))
    return torch.where(searched, penetration, torch.zeros_like(penetration))


def penetration_loss(
    vertices: Tensor,
    faces: Tensor,
    other_vertices: Tensor,
    other_faces: Tensor,
    symmetric: bool = True,
    *,
    normals: Tensor | None = None,
    other_normals: Tensor | None = None,
    indices: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Eq. 7 per sample, per vertex: vertices (B, V, 3), faces (F, 3), other_vertices (B, W, 3), other_faces (F', 3) -> (B,) centimetres.

    ``normals`` (B, V, 3) and ``other_normals`` (B, W, 3), where given, are the meshes' vertex normals,
    computed once by a caller whose meshes only translate (contact/settling.py): a translation leaves
    them, and their gradient (zero), unchanged.
    ``indices``, where given, are hand_pair_indices' (to_other (B, V), from_other (B, W)), found once
    for several calls (contact/settling.py); else each call searches.
    """
    if other_normals is None:
        other_normals = vertex_normals(other_vertices, other_faces)
    to_other = from_other = None
    if indices is not None:
        to_other, from_other = indices
    elif use_trees(vertices):  # the same nearest vertices, by k-d trees (geometry/tree_nearest.py)
        if symmetric:
            to_other, from_other = nearest_indices_both_ways(vertices, other_vertices, _SEARCH_MARGIN_M)
        else:
            to_other = nearest_indices(vertices, other_vertices, _SEARCH_MARGIN_M)
    loss = _searched_penetration(vertices, other_vertices, other_normals, to_other).mean(-1)
    if symmetric:
        if normals is None:
            normals = vertex_normals(vertices, faces)
        loss = loss + _searched_penetration(other_vertices, vertices, normals, from_other).mean(-1)
    return loss * _CENTIMETRES_PER_METRE


@dataclass(frozen=True)
class SearchedPairs:
    """Vertex pairs of two meshes that a search found, for Eq. 7 while the meshes only translate (settling).

    rows (K,) long: the sample of each pair; offset (K, 3) metres: the vertex minus its nearest vertex of the other
    mesh, both untranslated; normal (K, 3): that other vertex's unit normal; count: V, the vertices of the mesh
    the pairs start from (Eq. 7's mean is over all of them: the vertices without a pair count 0).
    """

    rows: Tensor
    offset: Tensor
    normal: Tensor
    count: int


def searched_pairs(vertices: Tensor, other_vertices: Tensor, other_normals: Tensor, index: Tensor) -> SearchedPairs:
    """vertices (B, V, 3), other_vertices (B, W, 3), other_normals (B, W, 3), index (B, V) long (hand_pair_indices':
    -1 where not searched) -> SearchedPairs of the searched vertices, without gradient."""
    rows, columns = (index >= 0).nonzero(as_tuple=True)
    nearest = index[rows, columns]
    offset = vertices.detach()[rows, columns] - other_vertices.detach()[rows, nearest]
    return SearchedPairs(rows, offset, other_normals.detach()[rows, nearest], int(vertices.shape[1]))


def translated_pair_penetration(pairs: SearchedPairs, shift: Tensor) -> Tensor:
    """pairs, shift (B, 3) metres (the translation of the pairs' mesh minus the other's) -> (B,) centimetres.

    One direction of penetration_loss for meshes moved rigidly by their translations: each pair's offset is its
    untranslated offset plus ``shift``, so no vertex is gathered again. Equal to
    _searched_penetration(...).mean(-1) * 100 on the translated meshes with the same index and normals
    (tests/contact/test_penetration.py); differentiable in ``shift``.
    """
    offset = pairs.offset + shift[pairs.rows]
    behind = (pairs.normal * offset).sum(-1) < 0  # Eq. 8: d = -n . (V^i - V^j) > 0
    penetration = torch.where(behind, offset.norm(dim=-1), torch.zeros_like(pairs.rows, dtype=offset.dtype))
    total = torch.zeros(shift.shape[0], dtype=offset.dtype, device=offset.device).index_add(0, pairs.rows, penetration)
    return total / pairs.count * _CENTIMETRES_PER_METRE


def capsule_penetration_loss(
    vertices: Tensor, capsules: HandCapsules, other_vertices: Tensor, other_capsules: HandCapsules
) -> Tensor:
    """Eq. 7-8 against capsule proxies, both ways: vertices (B, V, 3) of a hand and its HandCapsules, other_vertices
    (B, W, 3) of the other hand and its HandCapsules, metres -> (B,) centimetres.

    Each vertex's depth inside the other hand's capsules (hands/capsule_proxy.py), 0 outside, averaged over its
    hand's vertices, the two hands summed: penetration_loss's units, with the depth below the proxy's surface in
    place of Eq. 7's distance to the nearest vertex behind the other mesh. No nearest-neighbour search: about 20
    capsules per hand are searched exhaustively. tests/contact/test_penetration.py checks it on two balls' analytic overlap.
    """
    packed = use_trees(vertices)  # the CPU's path: reading back to the host is allowed there
    into_other = other_capsules.depth(vertices, packed).mean(-1)
    from_other = capsules.depth(other_vertices, packed).mean(-1)
    return (into_other + from_other) * _CENTIMETRES_PER_METRE


def hand_pair_indices(
    vertices: Tensor,
    other_vertices: Tensor,
    travel: float = 0.0,
    other_trees: SampleTrees | None = None,
    radius: float | None = None,
) -> tuple[Tensor, Tensor] | None:
    """vertices (B, V, 3), other_vertices (B, W, 3) metres -> (to_other (B, V), from_other (B, W)) long: each
    vertex's nearest vertex of the other set, -1 where not searched, for penetration_loss(indices=...) while
    the two sets move apart or together by at most ``travel`` metres; None off the CPU (searched at each call).

    The margin of the search grows by ``travel`` so that vertices coming within reach are searched now.
    Between searches a vertex keeps its nearest vertex of the search (an approximation of a few
    millimetres of travel, tests/contact/test_settling.py). ``other_trees``, where given, are the other
    set's k-d trees, built once while it stays put (prior/sampler.py's anchor): the same indices.
    ``radius``, where given (without ``other_trees``), also leaves out each vertex whose nearest vertex of the
    other set is farther (HAND_SEARCH_RADIUS_M).
    """
    if not use_trees(vertices):
        return None
    vertices, other_vertices, margin = vertices.detach(), other_vertices.detach(), _SEARCH_MARGIN_M + travel
    if other_trees is None:
        return nearest_indices_both_ways(vertices, other_vertices, margin, radius)
    return other_trees.nearest(vertices, margin), nearest_indices(other_vertices, vertices, margin)


@dataclass
class HandPairDepths:
    """Each hand against the nearest vertex of the other (depth_behind_nearest), metres.

    right_depth, right_distance (B, V_r): right vertices against the left surface;
    left_depth, left_distance (B, V_l): left vertices against the right surface;
    left_normals (B, V_l, 3), right_normals (B, V_r, 3): the unit vertex normals the depths were taken along.
    """

    right_depth: Tensor
    right_distance: Tensor
    left_depth: Tensor
    left_distance: Tensor
    left_normals: Tensor
    right_normals: Tensor


def hand_pair_depths(
    left_vertices: Tensor,
    left_faces: Tensor,
    right_vertices: Tensor,
    right_faces: Tensor,
    right_to_left: Tensor,
    left_to_right: Tensor,
) -> HandPairDepths:
    """left_vertices (B, V_l, 3), left_faces (F_l, 3), right_vertices (B, V_r, 3), right_faces (F_r, 3) metres;
    right_to_left (B, V_r), left_to_right (B, V_l) long: each vertex's nearest vertex of the other hand
    -> HandPairDepths, both ways of Eq. 8. Differentiable in both vertex sets."""
    left_normals = vertex_normals(left_vertices, left_faces)
    right_normals = vertex_normals(right_vertices, right_faces)
    right_depth, right_distance = depth_behind_nearest(right_vertices, left_vertices, left_normals, right_to_left)
    left_depth, left_distance = depth_behind_nearest(left_vertices, right_vertices, right_normals, left_to_right)
    return HandPairDepths(right_depth, right_distance, left_depth, left_distance, left_normals, right_normals)


def margin_penetration(depth: Tensor, margin: float) -> Tensor:
    """depth (B, V) metres (depth_behind_nearest) -> (B,) cm^2: sum over vertices of (100 relu(d_i + margin))^2.

    The synthesizers' penetration term (module docstring: why not Eq. 7). ``margin`` metres in
    front of the other surface already counts, so that touching skin does not sink in.
    """
    return (torch.relu(depth + margin) * _CENTIMETRES_PER_METRE).pow(2).sum(-1)


def _within_band(depth: Tensor, band: float) -> Tensor:
    return torch.where(depth <= band, depth, torch.zeros_like(depth))


def object_signed_distance(
    vertices: Tensor, object_points: Tensor, object_normals: Tensor, signed_distance: SignedDistance | None
) -> Tensor:
    """A hand against an object cloud: vertices (B, V, 3), object_points, object_normals (B, P, 3) unit outward ->
    (B, V) metres, each vertex's signed distance to the cloud, negative inside.

    ``signed_distance``, where given, replaces the search of the cloud at each call
    (points_to_cloud_signed_distance, the reference) by a structure built once per cloud
    (geometry/tree_nearest.CloudTree via tree_signed_distance); the cloud arguments are then unused here.
    """
    if signed_distance is None:
        return points_to_cloud_signed_distance(vertices, object_points, object_normals)
    return signed_distance(vertices)


def gap_and_depth(signed: Tensor, band: float) -> tuple[Tensor, Tensor]:
    """signed (B, V) metres, one hand's vertices' object_signed_distance -> (gap (B,) metres, depth (B, V) metres).

    gap: the signed distance of the hand's closest vertex to the cloud, clamped at 0: zero once
    the hand touches or enters the object, so that it only ever pulls a hand that floats (not
    in the paper: a grasp proposal is of use to a planner only when both hands touch the
    object). depth: each vertex's distance behind the cloud's surface, 0 in front of it and
    beyond ``band`` (object_penetration_loss says why).
    """
    return torch.relu(signed.min(dim=-1).values), _within_band(torch.relu(-signed), band)


def _one_cloud(points: Tensor) -> bool:
    """points (B, P, 3): one cloud for the whole batch (a single sample, or one cloud expanded, as guidance passes)."""
    return points.shape[0] == 1 or points.stride(0) == 0


def object_guidance_terms(
    vertices: Tensor,
    faces: Tensor,
    object_points: Tensor,
    object_normals: Tensor,
    band: float,
    signed_distance: SignedDistance | None = None,
    *,
    normals: Tensor | None = None,
    reach: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Both object terms from one nearest-neighbour pass -> (object_penetration_loss, gap), (B,) cm each.

    vertices (B, V, 3), faces (F, 3), object_points, object_normals (B, P, 3) unit outward;
    the gap is gap_and_depth's, in centimetres. ``signed_distance``: object_signed_distance's.
    ``normals`` (B, V, 3), where given, are the hand's vertex normals (computed once by a caller that also
    reads them for the hand-hand term, prior/sampler.py). ``reach`` metres, where given (on the CPU, one cloud
    expanded over the batch): only
    cloud points within ``reach`` of a hand vertex count as behind the hand's skin, and only the hand
    vertices within twice that of the cloud are searched for them (geometry/tree_nearest.nearest_indices_within;
    the others cannot be any cloud point's nearest within reach). A point inside a hand lies within about
    1.5 cm of a vertex; the points it drops are those further off that the nearest-vertex test misreads
    as behind the skin (between spread fingers). tests/contact/test_penetration.py compares with the full search.
    With guidance's screened distance (geometry/distance_grid.ScreenedSignedDistance) that search runs on the
    search thread (geometry/background_search.py) while the exact lookups are made: the same result, sooner.
    """
    if (
        isinstance(signed_distance, ScreenedSignedDistance)
        and reach is not None
        and use_trees(vertices)
        and _one_cloud(object_points)
    ):
        # The cloud-to-hand search on the search thread, beside the exact lookups of the screened distance: it
        # needs only the vertices within reach of the cloud, which the grid finds (a superset: its error is far
        # below ``reach``), so the result is the sequential one (tests/contact/test_penetration.py).
        approximate = signed_distance.grid(vertices)
        search = search_in_background(
            nearest_indices_within, object_points[0], vertices.detach(), approximate.detach() < 2.0 * reach, reach
        )
        signed = signed_distance.refine(vertices, approximate)
        index: Tensor | None = search.result()
    else:
        signed = object_signed_distance(vertices, object_points, object_normals, signed_distance)
        if not use_trees(vertices):
            index = None
        elif reach is None or not _one_cloud(object_points):
            index = nearest_indices(object_points, vertices, _SEARCH_MARGIN_M)
        else:
            index = nearest_indices_within(object_points[0], vertices, signed.detach() < 2.0 * reach, reach)
    gap, into_object = gap_and_depth(signed, band)
    if normals is None:
        normals = vertex_normals(vertices, faces)
    into_hand = _within_band(_searched_penetration(object_points, vertices, normals, index), band)
    penetration = (into_object.mean(-1) + into_hand.mean(-1)) * _CENTIMETRES_PER_METRE
    return penetration, gap * _CENTIMETRES_PER_METRE


def object_penetration_loss(
    vertices: Tensor, faces: Tensor, object_points: Tensor, object_normals: Tensor, band: float
) -> Tensor:
    """Eq. 7 against an object cloud: vertices (B, V, 3), faces (F, 3), object_points (B, P, 3),
    object_normals (B, P, 3) unit outward -> (B,) centimetres.

    Hand vertices behind the cloud's surface (Eq. 8 with the cloud's points and normals in
    place of the other hand's vertices; geometry.nearest.points_to_cloud_signed_distance
    decides "behind" from several nearest cloud points, a sparse cloud's single nearest point
    misreads vertices beyond an edge) plus cloud points behind the hand's skin, each as a
    mean over its own point set. Only depths up to ``band`` metres count: a cloud that one
    camera saw has no back side, and a vertex beyond the far side of the object would
    otherwise read as deep inside it.
    """
    return object_guidance_terms(vertices, faces, object_points, object_normals, band)[0]
