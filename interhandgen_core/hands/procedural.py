"""The procedural hand: a license-free right hand, in MANO's file format.

Everything here is designed from scratch (no scanned or MANO-derived data), so the asset
can ship with the project. Units are metres; the frame is MANO's right-hand frame: wrist
joint at the origin, fingers extended along -x, thumb towards +z, palm facing -y (back of
the hand towards +y). The rest pose is the flat hand: fingers straight and slightly
spread, the thumb rotated out like a relaxed real thumb.

The surface is the zero level set of a smooth signed distance field (a tapered rounded
box for the palm, round cones for the finger segments, smooth unions between them),
meshed by marching cubes, decimated, then remeshed isotropically to about the resolution
of MANO's template (about 800 vertices, finer on the fingers than on the palm). Joints,
skinning weights and shape directions all derive from the same designed skeleton
(``FINGER_DESIGNS``), which :mod:`interhandgen_core.hands.articulation` also reads its
joint axes from.

Regenerate the shipped file (needs the ``assets`` extra: scikit-image, fast-simplification):

    python -m interhandgen_core.hands.procedural --out interhandgen_core/assets/procedural_hand.npz
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.asset import HandAsset, default_parents, load_asset_npz
from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_JOINTS, PARENTS

FloatArray = NDArray[np.float64]

ASSET_NAME = "procedural"
ASSET_FILENAME = "procedural_hand.npz"

_CM = 0.01
# Finger chains in MANO joint order (first joint of each chain) and their tip slot in TIP_ORDER.
_CHAIN_FIRST_JOINT = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}
_TIP_SLOT = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
_TARGET_VERTICES = 800


@dataclasses.dataclass(frozen=True)
class FingerDesign:
    """One finger's designed geometry, centimetres, rest frame.

    base: (3,) first joint (MCP, or CMC for the thumb); directions: (3, 3) unit direction
    of each of the three segments; lengths: (3,) joint-to-joint lengths, the last one from
    the distal joint to the end of the fingertip surface; radii: (4,) flesh radius at the
    three joints and at the fingertip.
    """

    name: str
    base: tuple[float, float, float]
    directions: tuple[tuple[float, float, float], ...]
    lengths: tuple[float, float, float]
    radii: tuple[float, float, float, float]


def _direction(yaw_deg: float, pitch_deg: float) -> tuple[float, float, float]:
    """Unit vector from -x turned by yaw towards +z and by pitch towards -y (palm side)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    return (-np.cos(pitch) * np.cos(yaw), -np.sin(pitch), np.cos(pitch) * np.sin(yaw))


def _unit(v: Sequence[float]) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    a = a / np.linalg.norm(a)
    return (float(a[0]), float(a[1]), float(a[2]))


def _finger(
    name: str,
    base: tuple[float, float, float],
    yaw: float,
    lengths: tuple[float, float, float],
    radii: tuple[float, float, float, float],
) -> FingerDesign:
    d = _direction(yaw, 0.0)
    return FingerDesign(name, base, (d, d, d), lengths, radii)


# Proportions of an adult hand of about 19 cm (wrist joint to middle fingertip 18 cm).
FINGER_DESIGNS: tuple[FingerDesign, ...] = (
    _finger("index", (-8.6, 0.0, 2.95), 5.0, (3.9, 2.35, 1.95), (0.98, 0.88, 0.8, 0.74)),
    _finger("middle", (-9.0, 0.05, 0.95), 1.0, (4.3, 2.7, 2.05), (1.0, 0.9, 0.82, 0.76)),
    _finger("pinky", (-7.9, -0.05, -2.85), -8.0, (3.2, 1.95, 1.75), (0.86, 0.77, 0.7, 0.64)),
    _finger("ring", (-8.65, 0.0, -0.97), -3.5, (4.0, 2.6, 1.95), (0.95, 0.86, 0.78, 0.72)),
    FingerDesign(
        "thumb",
        (-2.3, -0.55, 1.9),
        (_unit((-0.72, -0.26, 0.64)), _unit((-0.84, -0.14, 0.52)), _unit((-0.9, -0.06, 0.43))),
        (4.3, 3.1, 2.6),
        (1.2, 1.05, 0.95, 0.82),
    ),
)


@dataclasses.dataclass(frozen=True)
class ProceduralSkeleton:
    """The designed rest skeleton, metres, MANO's right-hand frame.

    joints: (16, 3) in MANO joint order; tip_ends: (5, 3) fingertip surface ends in
    TIP_ORDER; tip_centres: (5, 3) centres of the fingertip end spheres; joint_radii: (16,)
    flesh radius around each joint (0 for the wrist); tip_radii: (5,); bone_ends: (16, 3)
    where the bone driven by each joint ends (its child joint, or the tip centre).
    """

    joints: FloatArray
    tip_ends: FloatArray
    tip_centres: FloatArray
    joint_radii: FloatArray
    tip_radii: FloatArray
    bone_ends: FloatArray


def designs_to_skeleton(designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> ProceduralSkeleton:
    """Designed finger chains -> ProceduralSkeleton (metres)."""
    joints = np.zeros((NUM_JOINTS, 3))
    radii = np.zeros(NUM_JOINTS)
    tip_ends = np.zeros((5, 3))
    tip_centres = np.zeros((5, 3))
    tip_radii = np.zeros(5)
    bone_ends = np.zeros((NUM_JOINTS, 3))
    for design in designs:
        first = _CHAIN_FIRST_JOINT[design.name]
        point = np.asarray(design.base, dtype=np.float64) * _CM
        for k in range(3):
            joints[first + k] = point
            radii[first + k] = design.radii[k] * _CM
            point = point + np.asarray(design.directions[k]) * design.lengths[k] * _CM
        slot = _TIP_SLOT[design.name]
        tip_ends[slot] = point
        tip_radii[slot] = design.radii[3] * _CM
        tip_centres[slot] = point - np.asarray(design.directions[2]) * tip_radii[slot]
        bone_ends[first] = joints[first + 1]
        bone_ends[first + 1] = joints[first + 2]
        bone_ends[first + 2] = tip_centres[slot]
    return ProceduralSkeleton(joints, tip_ends, tip_centres, radii, tip_radii, bone_ends)


# ---------------------------------------------------------------------------------------
# Signed distance field (centimetres inside this section: the design numbers read better)


def _smooth_min(a: FloatArray, b: FloatArray, k: float) -> FloatArray:
    """Polynomial smooth minimum; k is the blend width (same units as a and b)."""
    h = np.clip(k - np.abs(a - b), 0.0, None) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _round_cone(p: FloatArray, a: FloatArray, b: FloatArray, ra: float, rb: float) -> FloatArray:
    """Exact distance to the convex hull of two spheres: p (N, 3) -> (N,)."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    u = axis / length
    rel = p - a
    t = rel @ u
    q = np.linalg.norm(rel - t[:, None] * u, axis=1)
    sin_a = (ra - rb) / length
    cos_a = np.sqrt(1.0 - sin_a * sin_a)
    # Position of the closest point on the tangent line, measured along it from A's tangent point.
    s = t * cos_a - q * sin_a
    side = t * sin_a + q * cos_a - ra
    to_a = np.sqrt(t * t + q * q) - ra
    to_b = np.sqrt((t - length) ** 2 + q * q) - rb
    return np.where(s < 0.0, to_a, np.where(s > length * cos_a, to_b, side))


def _palm_sdf(p: FloatArray) -> FloatArray:
    """Tapered rounded box, distal end following the knuckle arc, plus a rounded wrist stub."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    x_end = -8.55 + 0.06 * (z - 0.4) ** 2
    x_start = -0.6
    cx, hx = 0.5 * (x_start + x_end), 0.5 * (x_start - x_end)
    # Narrow at the wrist, widest across the knuckles.
    hz = np.interp(-x, [-1.0, 1.5, 5.0, 9.0], [2.6, 3.0, 3.95, 4.05])
    cz = np.interp(-x, [-1.0, 5.0, 9.0], [0.35, 0.25, 0.15])
    # Thinner towards the edges, so that the back of the hand is slightly convex.
    edge = np.clip((z - cz) / hz, -1.0, 1.0) ** 2
    hy = np.interp(-x, [-1.0, 3.0, 6.0, 9.0], [1.25, 1.4, 1.32, 1.08]) - 0.25 * edge
    cy = np.interp(-x, [-1.0, 4.0, 9.0], [-0.15, -0.2, -0.05])
    rounding = 0.8
    q = np.stack([np.abs(x - cx) - hx, np.abs(y - cy) - hy, np.abs(z - cz) - hz], axis=1) + rounding
    outside = np.linalg.norm(np.clip(q, 0.0, None), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    box = outside + inside - rounding
    # Wrist stub: a flattened ellipsoid closing the hand where the forearm would continue.
    radii = np.array([1.9, 1.4, 2.65])
    scaled = np.linalg.norm((p - np.array([-0.4, -0.15, 0.35])) / radii, axis=1)
    stub = (scaled - 1.0) * radii.min()
    return _smooth_min(box, stub, 1.2)


def _chain_sdf(p: FloatArray, design: FingerDesign) -> FloatArray:
    point = np.asarray(design.base, dtype=np.float64)
    pieces = []
    for k in range(3):
        direction = np.asarray(design.directions[k])
        end = point + direction * design.lengths[k]
        r0, r1 = design.radii[k], design.radii[k + 1]
        if k == 2:
            end = end - direction * r1
        pieces.append(_round_cone(p, point, end, r0, r1))
        point = end
    d = pieces[0]
    for piece in pieces[1:]:
        d = _smooth_min(d, piece, 0.15)
    return d


def _hand_sdf_cm(p: FloatArray, designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> FloatArray:
    """Signed distance (approximate, negative inside) of the procedural hand: p (N, 3) cm -> (N,) cm."""
    fingers = None
    thumb = None
    for design in designs:
        d = _chain_sdf(p, design)
        if design.name == "thumb":
            thumb = d
        else:
            # A small blend between neighbouring fingers makes the webs at their bases.
            fingers = d if fingers is None else _smooth_min(fingers, d, 0.35)
    if fingers is None or thumb is None:
        raise AssetError("procedural hand design needs four fingers and a thumb")
    palm = _palm_sdf(p)
    # Thenar eminence: the muscle pad at the base of the thumb, on the palm side.
    thenar = _round_cone(p, np.array([-1.2, -0.75, 1.3]), np.array([-4.6, -1.0, 2.7]), 1.2, 1.0)
    palm = _smooth_min(palm, thenar, 1.0)
    hand = _smooth_min(palm, fingers, 0.8)
    return _smooth_min(hand, thumb, 1.0)


# ---------------------------------------------------------------------------------------
# Meshing


def _edge_counts(faces: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Directed edges (3F, 2) and, per directed edge, how often it occurs."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, inverse, counts = np.unique(directed, axis=0, return_inverse=True, return_counts=True)
    return directed, counts[inverse.reshape(-1)]


def _closed_manifold_problems(faces: NDArray[np.int64], num_vertices: int) -> list[str]:
    """What keeps a triangle mesh from being one closed, consistently wound genus-0 surface.

    faces: (F, 3) vertex indices. Returns an empty list when every edge is shared by exactly
    two faces with opposite orientation, every vertex is used, the mesh is connected and its
    Euler characteristic is 2.
    """
    problems = []
    directed, counts = _edge_counts(faces)
    if np.any(counts != 1):
        problems.append(f"{int(np.sum(counts != 1))} directed edges occur more than once (inconsistent winding)")
    forward = {(int(a), int(b)) for a, b in directed}
    unmatched = sum((b, a) not in forward for a, b in forward)
    if unmatched:
        problems.append(f"{unmatched} edges have no opposite half-edge (holes or non-manifold edges)")
    used = np.unique(faces)
    if used.size != num_vertices:
        problems.append(f"{num_vertices - used.size} vertices are not used by any face")
    num_edges = len(forward) // 2
    euler = num_vertices - num_edges + faces.shape[0]
    if euler != 2:
        problems.append(f"Euler characteristic is {euler}, not 2 (not a sphere)")
    # Connectivity by union-find over the edges.
    root = np.arange(num_vertices)

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = int(root[i])
        return i

    for a, b in forward:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
    components = len({find(i) for i in range(num_vertices)})
    if components != 1:
        problems.append(f"{components} connected components")
    return problems


def _signed_volume(vertices: FloatArray, faces: NDArray[np.int64]) -> float:
    """Volume enclosed by a closed mesh, positive when its faces wind counter-clockwise seen from outside."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _require_closed(faces: NDArray[np.int64], num_vertices: int, step: str) -> None:
    problems = _closed_manifold_problems(faces, num_vertices)
    if problems:
        raise AssetError(f"procedural hand: the mesh after {step} is not a closed manifold: {'; '.join(problems)}")


def _sdf_gradient(sdf: Callable[[FloatArray], FloatArray], p: FloatArray, h: float = 1e-3) -> FloatArray:
    grad = np.zeros_like(p)
    for k in range(3):
        offset = np.zeros(3)
        offset[k] = h
        grad[:, k] = (sdf(p + offset) - sdf(p - offset)) / (2.0 * h)
    return grad


def _project_to_surface(sdf: Callable[[FloatArray], FloatArray], p: FloatArray, steps: int = 3) -> FloatArray:
    for _ in range(steps):
        grad = _sdf_gradient(sdf, p)
        p = p - (sdf(p) / np.maximum((grad * grad).sum(1), 1e-12))[:, None] * grad
    return p


def _vertex_normals(vertices: FloatArray, faces: NDArray[np.int64]) -> FloatArray:
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def _point_segment_distance(p: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """p (N, 3), segment a-b (3,) each -> (N,) distances."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - a - t[:, None] * ab, axis=1))


def _design_segments_cm(designs: Sequence[FingerDesign]) -> list[tuple[FloatArray, FloatArray]]:
    """The axis segments of every finger's round cones, centimetres."""
    segments = []
    for design in designs:
        point = np.asarray(design.base, dtype=np.float64)
        for k in range(3):
            direction = np.asarray(design.directions[k])
            end = point + direction * design.lengths[k]
            if k == 2:
                end = end - direction * design.radii[3]
            segments.append((point, end))
            point = end
    return segments


def _finger_sizing_cm(designs: Sequence[FingerDesign]) -> Callable[[FloatArray], FloatArray]:
    """Target edge length (cm) at surface points: about nine edges around a finger, coarser on the palm."""
    segments = _design_segments_cm(designs)

    def sizing(p: FloatArray) -> FloatArray:
        d = np.min(np.stack([_point_segment_distance(p, a, b) for a, b in segments]), axis=0)
        return np.asarray(np.clip(0.68 * d, 0.42, 1.3))

    return sizing


def _unique_edges(faces: NDArray[np.int64]) -> NDArray[np.int64]:
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.asarray(np.unique(np.sort(directed, axis=1), axis=0))


def _directed_edge_faces(faces: list[list[int]]) -> dict[tuple[int, int], int]:
    edge_face = {}
    for f, (a, b, c) in enumerate(faces):
        edge_face[(a, b)] = f
        edge_face[(b, c)] = f
        edge_face[(c, a)] = f
    return edge_face


def _rotate_to(face: list[int], a: int) -> tuple[int, int, int]:
    """The face's cyclic order starting at vertex a."""
    i = face.index(a)
    return (face[i], face[(i + 1) % 3], face[(i + 2) % 3])


def _split_long_edges(
    verts: FloatArray, faces: NDArray[np.int64], sizing: Callable[[FloatArray], FloatArray]
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Split every edge longer than 4/3 of the target length (at most one per face per pass)."""
    edges = _unique_edges(faces)
    mids = 0.5 * (verts[edges[:, 0]] + verts[edges[:, 1]])
    lengths = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    long = lengths > (4.0 / 3.0) * sizing(mids)
    candidates = edges[long][np.argsort(-lengths[long], kind="stable")]
    face_list = faces.tolist()
    edge_face = _directed_edge_faces(face_list)
    new_points: list[FloatArray] = []
    locked: set[int] = set()
    for a, b in candidates.tolist():
        f, g = edge_face[(a, b)], edge_face[(b, a)]
        if f in locked or g in locked:
            continue
        c = _rotate_to(face_list[f], a)[2]
        d = _rotate_to(face_list[g], b)[2]
        m = verts.shape[0] + len(new_points)
        new_points.append(0.5 * (verts[a] + verts[b]))
        face_list[f] = [a, m, c]
        face_list[g] = [b, m, d]
        face_list.extend([[m, b, c], [m, a, d]])
        locked.update((f, g))
    if not new_points:
        return verts, faces
    return np.concatenate([verts, np.array(new_points)]), np.array(face_list, dtype=np.int64)


def _unit_normal(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    n = np.cross(b - a, c - a)
    return np.asarray(n / max(float(np.linalg.norm(n)), 1e-12))


def _collapse_short_edges(
    verts: FloatArray, faces: NDArray[np.int64], sizing: Callable[[FloatArray], FloatArray]
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Collapse edges shorter than 4/5 of the target length where that keeps the surface a manifold.

    A collapse needs the link condition (the two end points share exactly the two opposite
    vertices), keeps every valence above 3, creates no edge longer than 4/3 of the target
    and folds no triangle.
    """
    edges = _unique_edges(faces)
    mids = 0.5 * (verts[edges[:, 0]] + verts[edges[:, 1]])
    lengths = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    short = lengths < 0.8 * sizing(mids)
    candidates = edges[short][np.argsort(lengths[short], kind="stable")]
    verts = verts.copy()
    face_list = faces.tolist()
    vertex_faces: list[set[int]] = [set() for _ in range(verts.shape[0])]
    for f, face in enumerate(face_list):
        for v in face:
            vertex_faces[v].add(f)

    def neighbours(v: int) -> set[int]:
        return {u for f in vertex_faces[v] for u in face_list[f]} - {v}

    dead_faces: set[int] = set()
    dead_vertices: set[int] = set()
    locked: set[int] = set()
    for a, b in candidates.tolist():
        if a in locked or b in locked:
            continue
        shared = vertex_faces[a] & vertex_faces[b]
        if len(shared) != 2:
            continue
        opposite = {v for f in shared for v in face_list[f]} - {a, b}
        near_a, near_b = neighbours(a), neighbours(b)
        if (near_a & near_b) != opposite or any(len(neighbours(c)) <= 3 for c in opposite):
            continue
        point = 0.5 * (verts[a] + verts[b])
        ring = (near_a | near_b) - {a, b}
        limit = (4.0 / 3.0) * float(sizing(point[None])[0])
        if any(float(np.linalg.norm(verts[n] - point)) > limit for n in ring):
            continue
        folds = False
        for f in (vertex_faces[a] | vertex_faces[b]) - shared:
            old = verts[face_list[f]]
            new = np.array([point if v in (a, b) else verts[v] for v in face_list[f]])
            if _unit_normal(*old) @ _unit_normal(*new) < 0.3:
                folds = True
                break
        if folds:
            continue
        for f in shared:
            for v in face_list[f]:
                vertex_faces[v].discard(f)
            dead_faces.add(f)
        for f in vertex_faces[b]:
            face_list[f] = [a if v == b else v for v in face_list[f]]
            vertex_faces[a].add(f)
        vertex_faces[b] = set()
        verts[a] = point
        dead_vertices.add(b)
        locked.update(ring | {a, b})
    if not dead_vertices:
        return verts, faces
    keep = np.array([v not in dead_vertices for v in range(verts.shape[0])])
    new_index = np.cumsum(keep) - 1
    kept_faces = np.array([face for f, face in enumerate(face_list) if f not in dead_faces], dtype=np.int64)
    return verts[keep], new_index[kept_faces]


def _flip_for_valence(verts: FloatArray, faces: NDArray[np.int64]) -> NDArray[np.int64]:
    """Flip edges where that brings the four vertices' valences closer to 6 without folding."""
    face_list = faces.tolist()
    edge_face = _directed_edge_faces(face_list)
    valence = np.bincount(_unique_edges(faces).reshape(-1), minlength=verts.shape[0])
    existing = {(min(a, b), max(a, b)) for a, b in edge_face}
    locked: set[int] = set()
    for (a, b), f in list(edge_face.items()):
        if a > b:
            continue
        g = edge_face[(b, a)]
        if f in locked or g in locked:
            continue
        c = _rotate_to(face_list[f], a)[2]
        d = _rotate_to(face_list[g], b)[2]
        if c == d or (min(c, d), max(c, d)) in existing or valence[a] <= 3 or valence[b] <= 3:
            continue
        before = sum((int(valence[v]) - 6) ** 2 for v in (a, b, c, d))
        after = (
            (int(valence[a]) - 7) ** 2
            + (int(valence[b]) - 7) ** 2
            + (int(valence[c]) - 5) ** 2
            + (int(valence[d]) - 5) ** 2
        )
        if after >= before:
            continue
        # (a, b, c) and (b, a, d) become (c, a, d) and (d, b, c), keeping the orientation.
        old = _unit_normal(verts[a], verts[b], verts[c]) + _unit_normal(verts[b], verts[a], verts[d])
        n1 = _unit_normal(verts[c], verts[a], verts[d])
        n2 = _unit_normal(verts[d], verts[b], verts[c])
        if n1 @ n2 < 0.5 or n1 @ old < 0.5 or n2 @ old < 0.5:
            continue
        face_list[f] = [c, a, d]
        face_list[g] = [d, b, c]
        valence[[a, b]] -= 1
        valence[[c, d]] += 1
        existing.discard((a, b))
        existing.add((min(c, d), max(c, d)))
        locked.update((f, g))
    return np.array(face_list, dtype=np.int64)


def _relax(
    sdf: Callable[[FloatArray], FloatArray],
    sizing: Callable[[FloatArray], FloatArray],
    verts: FloatArray,
    faces: NDArray[np.int64],
    iterations: int,
) -> FloatArray:
    """Tangential relaxation towards the sizing-weighted 1-ring centroid, projected onto the surface.

    Weighting each neighbour by 1 / target length makes the equilibrium spacing follow the
    sizing field instead of evening out the vertex density.
    """
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    for _ in range(iterations):
        weight = 1.0 / sizing(0.5 * (verts[directed[:, 0]] + verts[directed[:, 1]]))
        centroid = np.zeros_like(verts)
        np.add.at(centroid, directed[:, 0], weight[:, None] * verts[directed[:, 1]])
        total = np.bincount(directed[:, 0], weights=weight, minlength=verts.shape[0])
        move = centroid / total[:, None] - verts
        normals = _vertex_normals(verts, faces)
        move -= (move * normals).sum(1, keepdims=True) * normals
        verts = _project_to_surface(sdf, verts + 0.5 * move)
    return verts


def _remesh(
    sdf: Callable[[FloatArray], FloatArray],
    sizing: Callable[[FloatArray], FloatArray],
    verts: FloatArray,
    faces: NDArray[np.int64],
    iterations: int,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Isotropic remeshing (split, collapse, flip, relax) after Botsch and Kobbelt (2004)."""
    for _ in range(iterations):
        verts, faces = _split_long_edges(verts, faces, sizing)
        verts = _project_to_surface(sdf, verts)
        verts, faces = _collapse_short_edges(verts, faces, sizing)
        verts = _project_to_surface(sdf, verts)
        faces = _flip_for_valence(verts, faces)
        verts = _relax(sdf, sizing, verts, faces, 2)
    return verts, faces


def _sdf_to_mesh(
    sdf: Callable[[FloatArray], FloatArray] = _hand_sdf_cm,
    designs: Sequence[FingerDesign] = FINGER_DESIGNS,
    step: float = 0.1,
    target_vertices: int = _TARGET_VERTICES,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """SDF in centimetres -> (vertices (V, 3) cm, faces (F, 3)), closed, outward-wound.

    Marching cubes on a grid of ``step`` cm, quadric decimation to a few thousand
    vertices, then isotropic remeshing on the exact surface with edges sized to the
    fingers, its density scaled until the mesh has about ``target_vertices`` vertices.
    """
    import fast_simplification
    from skimage.measure import marching_cubes

    lo, hi = np.array([-19.6, -4.6, -5.2]), np.array([2.2, 3.2, 9.2])
    axes = [np.arange(lo[k], hi[k] + step, step) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = sdf(grid.reshape(-1, 3)).reshape(grid.shape[:3])
    if min(values[[0, -1]].min(), values[:, [0, -1]].min(), values[:, :, [0, -1]].min()) <= 0.0:
        raise AssetError("procedural hand: the surface touches the meshing grid's border; enlarge the grid")
    verts, faces, _, _ = marching_cubes(values, 0.0, spacing=(step, step, step))
    verts = verts + lo
    faces = faces.astype(np.int64)
    _require_closed(faces, verts.shape[0], "marching cubes")
    verts, faces = fast_simplification.simplify(verts, faces.astype(np.int32), target_count=6000)
    faces = faces.astype(np.int64)
    _require_closed(faces, verts.shape[0], "decimation")
    verts = _project_to_surface(sdf, verts)
    base_sizing = _finger_sizing_cm(designs)
    scale = 1.0
    iterations = 10
    for _ in range(5):

        def sizing(p: FloatArray, scale: float = scale) -> FloatArray:
            return scale * base_sizing(p)

        verts, faces = _remesh(sdf, sizing, verts, faces, iterations)
        count = verts.shape[0]
        if abs(count - target_vertices) <= 0.02 * target_vertices:
            break
        # The vertex count of a converged isotropic mesh goes with 1 / edge length^2.
        scale *= float(np.sqrt(count / target_vertices))
        iterations = 5
    _require_closed(faces, verts.shape[0], "remeshing")
    if _signed_volume(verts, faces) < 0.0:
        faces = faces[:, ::-1].copy()
    return verts, faces


# ---------------------------------------------------------------------------------------
# Rig: joint regressor, skinning weights, shape directions (metres from here on)

# Blend width (metres) of each joint's influence into its neighbours along the chain:
# wide at the wrist and the thumb's base, where flesh rather than a hinge connects bones.
_JOINT_SOFTNESS = np.array([9.0, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 5.0, 4.0, 3.5, 8.0, 5.0, 4.0]) * 1e-3
# How sharply a vertex belongs to one finger rather than its neighbour (metres).
_CHAIN_SOFTNESS = 3.0e-3
_CHAINS = ("index", "middle", "pinky", "ring", "thumb")


def _chain_bones(skeleton: ProceduralSkeleton, chain: str) -> list[tuple[int, FloatArray, FloatArray]]:
    """(driving joint, segment start, segment end) of a chain, from the wrist's metacarpal to the tip."""
    first = _CHAIN_FIRST_JOINT[chain]
    bones = [(0, skeleton.joints[0], skeleton.joints[first])]
    bones += [(first + k, skeleton.joints[first + k], skeleton.bone_ends[first + k]) for k in range(3)]
    return bones


def _softmin_weights(squared: FloatArray, softness: FloatArray) -> FloatArray:
    """squared (N, K) squared distances, softness (K,) -> (N, K) rows summing to 1."""
    logits = -(squared - squared.min(axis=1, keepdims=True)) / softness**2
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(w / w.sum(axis=1, keepdims=True))


def _skinning_weights(
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
    for chain in _CHAINS:
        bones = _chain_bones(skeleton, chain)
        squared = np.stack([_point_segment_distance(vertices, a, b) ** 2 for _, a, b in bones], axis=1)
        softness = np.array([_JOINT_SOFTNESS[j] for j, _, _ in bones])
        within = _softmin_weights(squared, softness)
        full = np.zeros((vertices.shape[0], NUM_JOINTS))
        for k, (joint, _, _) in enumerate(bones):
            full[:, joint] += within[:, k]
        per_chain.append(full)
        chain_distance.append(squared.min(axis=1))
    affinity = _softmin_weights(np.stack(chain_distance, axis=1), np.full(len(_CHAINS), _CHAIN_SOFTNESS))
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


def _joint_regressor(vertices: FloatArray, skeleton: ProceduralSkeleton) -> FloatArray:
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
    chain_of = {_CHAIN_FIRST_JOINT[c] + k: c for c in _CHAINS for k in range(3)}

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


def _shape_directions(
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


def _tip_vertex_ids(vertices: FloatArray, skeleton: ProceduralSkeleton) -> NDArray[np.int64]:
    """(5,) the vertex furthest along each distal bone, among those on the fingertip cap."""
    ids = np.zeros(5, dtype=np.int64)
    for slot in range(5):
        chain = next(c for c, s in _TIP_SLOT.items() if s == slot)
        distal = _CHAIN_FIRST_JOINT[chain] + 2
        axis = skeleton.bone_ends[distal] - skeleton.joints[distal]
        axis /= np.linalg.norm(axis)
        near = np.linalg.norm(vertices - skeleton.tip_centres[slot], axis=1) < 1.5 * skeleton.tip_radii[slot]
        score = np.where(near, (vertices - skeleton.tip_centres[slot]) @ axis, -np.inf)
        ids[slot] = int(np.argmax(score))
    return ids


def build_procedural_hand(designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> HandAsset:
    """Generate the procedural right hand (deterministic; needs the ``assets`` extra, about 10 s)."""
    verts_cm, faces = _sdf_to_mesh(lambda p: _hand_sdf_cm(p, designs), designs)
    normals = _sdf_gradient(lambda p: _hand_sdf_cm(p, designs), verts_cm)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    vertices = verts_cm * _CM
    skeleton = designs_to_skeleton(designs)
    weights = _skinning_weights(vertices, faces, skeleton)
    num = vertices.shape[0]
    return HandAsset(
        name=ASSET_NAME,
        side="right",
        v_template=vertices,
        faces=faces,
        shapedirs=_shape_directions(vertices, weights, skeleton, normals),
        posedirs=np.zeros((num, 3, (NUM_JOINTS - 1) * 9)),
        J_regressor=_joint_regressor(vertices, skeleton),
        weights=weights,
        parents=default_parents(),
        tip_vertex_ids=_tip_vertex_ids(vertices, skeleton),
        hands_mean=np.zeros(45),
        hands_components=np.eye(45),
    )


def shipped_asset_path() -> Path:
    """Where the package keeps the generated procedural hand."""
    return Path(__file__).resolve().parent.parent / "assets" / ASSET_FILENAME


def load_procedural_hand() -> HandAsset:
    """The shipped procedural right hand (read from the package's ``assets`` folder)."""
    path = shipped_asset_path()
    if not path.is_file():
        raise AssetError(
            f"{path}: the procedural hand asset is missing from the package; regenerate it with "
            "'python -m interhandgen_core.hands.procedural --out " + str(path) + "'"
        )
    return load_asset_npz(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate the procedural hand asset."""
    parser = argparse.ArgumentParser(description="Generate the procedural hand (MANO file format) as an .npz.")
    parser.add_argument("--out", type=Path, default=shipped_asset_path(), help="output .npz path")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    asset = build_procedural_hand()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asset.save_npz(args.out)
    v = asset.v_template
    extent = v.max(axis=0) - v.min(axis=0)
    joints = asset.J_regressor @ v
    print(
        f"wrote {args.out}: {asset.num_vertices} vertices, {asset.faces.shape[0]} faces, "
        f"extent {extent[0] * 100:.1f} x {extent[1] * 100:.1f} x {extent[2] * 100:.1f} cm (x, y, z), "
        f"wrist to middle fingertip {np.linalg.norm(v[asset.tip_vertex_ids[2]] - joints[0]) * 100:.1f} cm, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
