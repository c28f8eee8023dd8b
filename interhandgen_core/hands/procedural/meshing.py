"""Meshing of the procedural hand's signed distance field: a closed, outward-wound triangle mesh.

The field (hands/procedural/sdf.py, centimetres) is meshed by marching cubes, decimated,
then remeshed isotropically (Botsch and Kobbelt 2004: split, collapse, flip, relax) to
about the resolution of MANO's template (about 800 vertices, finer on the fingers than on
the palm). Every stage is checked to leave one closed genus-0 manifold; needs the
``assets`` extra (scikit-image, fast-simplification).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.procedural.design import FINGER_DESIGNS, FingerDesign, FloatArray
from interhandgen_core.hands.procedural.sdf import hand_sdf_cm, point_segment_distance, sdf_gradient

_TARGET_VERTICES = 800


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


def _project_to_surface(sdf: Callable[[FloatArray], FloatArray], p: FloatArray, steps: int = 3) -> FloatArray:
    for _ in range(steps):
        grad = sdf_gradient(sdf, p)
        p = p - (sdf(p) / np.maximum((grad * grad).sum(1), 1e-12))[:, None] * grad
    return p


def _vertex_normals(vertices: FloatArray, faces: NDArray[np.int64]) -> FloatArray:
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


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
        d = np.min(np.stack([point_segment_distance(p, a, b) for a, b in segments]), axis=0)
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


def sdf_to_mesh(
    sdf: Callable[[FloatArray], FloatArray] = hand_sdf_cm,
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
