"""The object of a grasp as a free rigid body of convex parts, built once and shared by every grasp of it.

Input, object frame, metres: a triangle mesh (vertices (V, 3), faces (F, 3)) or a cloud (points
(P, 3), optional outward normals (P, 3)). Parts, per closed piece of the mesh (the procedural
objects are unions of overlapping closed primitives):
    convex   a piece whose convex hull is at most ``convexity_tolerance`` larger in volume is its
             own hull
    coacd    any other piece is decomposed by CoACD (Wei et al., SIGGRAPH 2022; ``coacd``), at most
             ``max_convex_parts`` parts, concavity ``concavity_threshold``, with search settings cut
             to take seconds
    cloud    a cloud is first meshed by screened Poisson reconstruction (open3d, octree depth 7),
             keeping its largest closed piece. Poisson rather than alpha shapes or ball pivoting:
             it is the one of the three that returns a closed surface (a level set of an indicator
             function) from a noisy cloud, which a solid body needs; the other two leave holes and
             non-manifold edges where the sampling is thin. A one-sided (sensor) cloud gets a closed
             surface bulging behind what was seen: the physics there is a guess.
Bad input, one line each: fewer than 4 vertices or faces, NaN/Inf, a flat mesh (thinner than
0.1 mm), a cloud whose surface cannot be closed: DataError. Fallbacks, in one warning line (logging)
per mesh: a mesh of more than ``max_object_faces`` faces is simplified by vertex clustering (open3d; quadric
decimation takes tens of seconds on a million faces); a mesh that is not watertight gets its holes
capped (a fan per boundary loop), or else is remeshed by Poisson reconstruction from samples of its
surface, or else replaced by the convex hull of its vertices (CoACD's own manifold preprocessing of
an open mesh took minutes); a simplified mesh that clustering left open (edges of more than two
faces) is closed the same way, told in the simplification's line.

Mass: ``object_mass`` or density x the parts' volume (overlapping parts count twice: the procedural
unions overlap by a few per cent). Inertia: MuJoCo's, from the parts at that density.
The parts' face planes give a signed distance (negative inside), used to press the hands onto the
object (physics/pressing.py).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
import trimesh
from numpy.typing import NDArray
from scipy.spatial import ConvexHull, QhullError

from interhandgen_core.errors import DataError
from interhandgen_core.physics.array_input import float_array, index_array
from interhandgen_core.physics.configuration import GraspPhysicsConfig

log = logging.getLogger(__name__)

# Thinnest object that still counts as a solid (metres).
MIN_THICKNESS_M = 1e-4
# Fewest cloud points a surface is reconstructed from.
MIN_CLOUD_POINTS = 32
_POISSON_DEPTH = 7
# A reconstructed closed piece must span at least this fraction of the cloud's largest extent.
_MIN_CLOSED_SPAN = 0.5
_REMESH_SAMPLES = 8192
# CoACD search settings: a quarter of its default sampling and a third of its tree search, which
# keeps a non-convex object of 10,000 faces at a few seconds (defaults: 2000, 20, 150, 50).
_COACD_SAMPLES = 500
_COACD_MCTS_NODES = 10
_COACD_MCTS_ITERATIONS = 50
_COACD_PREPROCESS_RESOLUTION = 30
# Points per block of the signed distance (bounds memory to about 8192 x planes of a part).
_POINT_CHUNK = 8192
# Most vertices of one convex part. A smooth surface's hull has a vertex per mesh vertex (14,000 for a
# sphere remeshed from a million faces): its ~28,000 face planes made the signed distance 10 s for 32
# grasps and MuJoCo's compile of each grasp's model 0.1 s. A larger hull is replaced by the hull of its
# support points along SUPPORT_COUNT directions spread evenly on the sphere: an inner approximation,
# about 0.4% of the radius deep on a sphere (0.3 mm at 8 cm), that keeps both faces of a thin plate.
# The procedural objects' parts (at most about 1,030 vertices) stay as they are.
MAX_PART_VERTICES = 2048
SUPPORT_COUNT = 1024
_GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))
_HEIGHTS = 1.0 - (2.0 * np.arange(SUPPORT_COUNT) + 1.0) / SUPPORT_COUNT
SUPPORT_DIRECTIONS = np.stack(
    [
        np.sqrt(1.0 - _HEIGHTS**2) * np.cos(_GOLDEN_ANGLE * np.arange(SUPPORT_COUNT)),
        np.sqrt(1.0 - _HEIGHTS**2) * np.sin(_GOLDEN_ANGLE * np.arange(SUPPORT_COUNT)),
        _HEIGHTS,
    ],
    axis=1,
)  # (SUPPORT_COUNT, 3) unit vectors, a Fibonacci sphere


@dataclass(frozen=True)
class ObjectBody:
    """An object as convex parts, object frame, metres (module docstring).

    parts       hull vertices per part, (K_i, 3) each
    planes      (H, 4) every part's face planes: outward unit normal n and offset d, n.x + d <= 0 inside
    plane_part  (H,) int64: the part of each plane (parts in order, planes of a part contiguous)
    volume      m^3, sum of the parts' volumes
    mass        kg
    centre      (3,) volume-weighted centroid of the parts
    method      one line: how the parts were made, and any fallback
    build_seconds  time taken to build it
    """

    parts: tuple[NDArray[np.float64], ...]
    planes: NDArray[np.float64]
    plane_part: NDArray[np.int64]
    volume: float
    mass: float
    centre: NDArray[np.float64]
    method: str
    build_seconds: float

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    @property
    def density(self) -> float:
        """kg/m^3 that gives the parts ``mass``."""
        return self.mass / self.volume

    def signed_distance(self, points: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """points (M, 3) -> (distance (M,) metres, negative inside; outward normal (M, 3) of the nearest face).

        Per part the largest plane distance max_k (n_k.x + d_k): exact inside a convex part and
        in front of a face, a lower bound near edges and corners; over parts the smallest.
        """
        best = np.full(points.shape[0], np.inf)
        normal = np.zeros_like(points)
        bounds = np.searchsorted(self.plane_part, np.arange(self.num_parts + 1))
        for start in range(0, points.shape[0], _POINT_CHUNK):  # memory chunks
            rows = slice(start, start + _POINT_CHUNK)
            chunk = points[rows]
            for a, b in itertools.pairwise(bounds):  # parts, not grasps: a handful
                planes = self.planes[a:b]
                d = chunk @ planes[:, :3].T + planes[:, 3]  # (M_chunk, H_p)
                k = np.argmax(d, axis=1)
                part = d[np.arange(chunk.shape[0]), k]
                closer = part < best[rows]
                best[rows] = np.where(closer, part, best[rows])
                normal[rows][closer] = planes[k[closer], :3]
        return best, normal


def object_body_from_mesh(vertices: object, faces: object, config: GraspPhysicsConfig) -> ObjectBody:
    """vertices (V, 3) metres, faces (F, 3), object frame (numpy or torch) -> ObjectBody.

    DataError for a mesh that cannot be a solid (module docstring); warnings (logging) name each fallback.
    """
    start = time.perf_counter()
    v = float_array(vertices, "object mesh vertices", (3,), 2)
    f = index_array(faces, "object mesh faces", v.shape[0])
    if v.shape[0] < 4 or f.shape[0] < 4:
        raise DataError(
            f"object mesh has {v.shape[0]} vertices and {f.shape[0]} faces; a solid needs at least 4 of each"
        )
    _check_thickness(v, "object mesh")
    notes: list[str] = []
    simplified = ""
    if f.shape[0] > config.max_object_faces:
        v, f, simplified = _simplified(v, f, config.max_object_faces)
    mesh = trimesh.Trimesh(v, f, process=True, validate=False)
    if not mesh.is_watertight:
        # Clustering can pinch a closed surface (edges of more than two faces): then that is the news,
        # in the same line, not a defect of the user's mesh.
        closed, text = _closed(mesh, "the simplified mesh" if simplified else "object mesh")
        notes.append(f"{simplified}; {text}" if simplified else text)
        log.warning(notes[-1])
        if closed is None:  # the last resort: the hull of its vertices
            return _body([_hull(v, "object mesh")], config, "; ".join(notes), start)
        mesh = closed
    elif simplified:
        notes.append(simplified)
        log.warning(simplified)
    return _body(_convex_parts(mesh, config, notes), config, "; ".join(notes), start)


def _closed(mesh: trimesh.Trimesh, what: str) -> tuple[trimesh.Trimesh | None, str]:
    """A mesh that is not watertight, called ``what`` in the line -> (a watertight version or None, one line
    saying what was done).

    In order: each boundary loop capped by a fan to its centroid (holes in a manifold surface);
    else screened Poisson reconstruction from samples of its surface (a triangle soup); else None
    (the caller takes the convex hull of its vertices).
    """
    what = f"{what} is not watertight ({_edge_defects(mesh)})"
    capped = _capped(mesh)
    if capped is not None and capped.is_watertight:
        return capped, f"{what}: its holes were capped"
    samples, face_index = trimesh.sample.sample_surface_even(mesh, _REMESH_SAMPLES, seed=0)
    try:
        remeshed = _poisson_mesh(np.asarray(samples), np.asarray(mesh.face_normals)[face_index])
    except DataError:
        return None, f"{what}, and neither capping its holes nor Poisson reconstruction closed it: used its convex hull"
    return remeshed, f"{what}: remeshed by Poisson reconstruction from {len(samples):,} surface samples"


def _capped(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    """Each boundary loop closed by a fan of triangles to the loop's centroid; None where the boundary
    is not a set of simple loops (a vertex on two open edges that start there)."""
    directed = mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)  # each face's edges, in its winding
    undirected = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(undirected, axis=0, return_inverse=True, return_counts=True)
    boundary = directed[counts[inverse.reshape(-1)] == 1]
    if len(boundary) == 0 or len(np.unique(boundary[:, 0])) != len(boundary):
        return None
    following = dict(zip(boundary[:, 0].tolist(), boundary[:, 1].tolist(), strict=True))
    vertices = [np.asarray(mesh.vertices)]
    faces = [np.asarray(mesh.faces)]
    count = len(mesh.vertices)
    while following:  # one pass per boundary loop: a few holes
        first = next(iter(following))
        loop = [first]
        while (after := following.pop(loop[-1], None)) is not None and after != first:
            loop.append(after)
        if after != first:  # the boundary does not close on itself
            return None
        ring = np.asarray(loop)
        vertices.append(np.asarray(mesh.vertices)[ring].mean(0, keepdims=True))
        # The open edge a -> b belongs to a face; the cap runs b -> a so that the windings agree.
        faces.append(np.stack([np.roll(ring, -1), ring, np.full(len(ring), count)], axis=1))
        count += 1
    return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=True, validate=False)


def object_body_from_points(points: object, normals: object | None, config: GraspPhysicsConfig) -> ObjectBody:
    """points (P, 3) metres, object frame, optional outward normals (P, 3) -> ObjectBody via Poisson reconstruction.

    Normals, when not given, are estimated (open3d, 30 neighbours), oriented consistently over the
    cloud's tangent planes and turned to point away from the centroid on the whole.
    """
    start = time.perf_counter()
    p = float_array(points, "object points", (3,), 2)
    if p.shape[0] < MIN_CLOUD_POINTS:
        raise DataError(f"object cloud has {p.shape[0]} points; a surface needs at least {MIN_CLOUD_POINTS}")
    _check_thickness(p, "object cloud")
    if normals is None:
        n = _estimated_normals(p)
    else:
        n = float_array(normals, "object normals", (3,), 2)
        if n.shape != p.shape:
            raise DataError(f"object normals must match the points' shape {p.shape}, got {n.shape}")
    mesh = _poisson_mesh(p, n)
    notes = [f"cloud of {p.shape[0]:,} points, Poisson mesh of {len(mesh.faces):,} faces"]
    return _body(_convex_parts(mesh, config, notes), config, "; ".join(notes), start)


def _convex_parts(mesh: trimesh.Trimesh, config: GraspPhysicsConfig, notes: list[str]) -> list[ConvexHull]:
    """A watertight mesh -> the hulls of its convex closed pieces and the coacd parts of the others."""
    pieces = mesh.split(only_watertight=False)
    if len(pieces) > config.max_convex_parts:  # many closed pieces: decompose them as one
        pieces = [mesh]
    hulls: list[ConvexHull] = []
    decomposed = 0
    for piece in pieces:  # pieces of one object: a handful
        hull = _hull(np.asarray(piece.vertices), "object mesh piece")
        if hull.volume <= (1.0 + config.convexity_tolerance) * abs(float(piece.volume)):
            hulls.append(hull)
        else:
            found = _coacd_hulls(piece, config)
            decomposed += len(found)
            hulls.extend(found)
    kind = "convex" if len(pieces) == 1 and decomposed == 0 else f"{len(pieces)} closed piece(s)"
    by_coacd = f", {decomposed} by coacd" if decomposed else ""
    notes.append(f"{kind}: {len(hulls)} convex part(s){by_coacd}")
    return hulls


def _poisson_mesh(points: NDArray[np.float64], normals: NDArray[np.float64]) -> trimesh.Trimesh:
    """Oriented points -> the largest closed piece of their screened Poisson surface (open3d)."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points)))
    cloud.normals = o3d.utility.Vector3dVector(np.ascontiguousarray(normals))
    # One thread: open3d's multithreaded Poisson segfaults at random (isl-org/Open3D#6828, mkazhdan/PoissonRecon
    # #298; seen here once in a CI run, exit -11); on this machine's 2 cores the single thread costs little.
    surface, _ = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(cloud, depth=_POISSON_DEPTH, n_threads=1)
    mesh = trimesh.Trimesh(np.asarray(surface.vertices), np.asarray(surface.triangles), process=True)
    pieces = [piece for piece in mesh.split(only_watertight=True) if len(piece.faces) >= 4]
    largest = max(pieces, key=lambda piece: len(piece.faces)) if pieces else None
    # A one-sided cloud's Poisson surface often closes only as a bubble of a few faces somewhere in it:
    # that is no reconstruction of the object.
    span = float(np.ptp(points, axis=0).max())
    if largest is None or float(np.ptp(largest.vertices, axis=0).max()) < _MIN_CLOSED_SPAN * span:
        found = "no closed surface" if largest is None else f"only a closed piece of {len(largest.faces)} faces"
        raise DataError(
            f"object surface could not be closed: Poisson reconstruction from {points.shape[0]:,} points "
            f"gave {found}; give a watertight mesh (a cloud seen from one side has no back to close)"
        )
    return largest


def _estimated_normals(points: NDArray[np.float64]) -> NDArray[np.float64]:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(30))
    cloud.orient_normals_consistent_tangent_plane(15)
    normals = np.asarray(cloud.normals)
    outward = ((points - points.mean(0)) * normals).sum(-1).mean() >= 0
    return normals if outward else -normals


def _check_thickness(points: NDArray[np.float64], what: str) -> None:
    """DataError when the points span no volume (all on a plane or a line)."""
    centred = points - points.mean(0)
    extent = np.linalg.svd(centred, compute_uv=False) * 2.0 / np.sqrt(points.shape[0])  # ~ full widths
    if extent[-1] < MIN_THICKNESS_M:
        raise DataError(
            f"{what} is flat: {1000 * extent[-1]:.3f} mm thick along its thinnest axis; "
            "a rigid object needs a volume (check the units: metres)"
        )


def _hull(points: NDArray[np.float64], what: str) -> ConvexHull:
    try:
        return ConvexHull(points)
    except QhullError:
        raise DataError(f"{what} spans no volume (its convex hull is degenerate)") from None


def _coacd_hulls(mesh: trimesh.Trimesh, config: GraspPhysicsConfig) -> list[ConvexHull]:
    """A watertight, non-convex mesh -> its CoACD parts' hulls (search settings for seconds, not minutes)."""
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int32)),
        threshold=config.concavity_threshold,
        max_convex_hull=config.max_convex_parts,
        preprocess_mode="auto",
        preprocess_resolution=_COACD_PREPROCESS_RESOLUTION,
        resolution=_COACD_SAMPLES,
        mcts_nodes=_COACD_MCTS_NODES,
        mcts_iterations=_COACD_MCTS_ITERATIONS,
        seed=0,
    )
    hulls = []
    for part_vertices, _ in parts:
        try:
            hulls.append(ConvexHull(np.asarray(part_vertices, dtype=np.float64)))
        except QhullError:  # a sliver part: nothing to collide with
            continue
    if not hulls:
        raise DataError("object mesh could not be decomposed into convex parts (coacd returned none with a volume)")
    return hulls


def _simplified(
    v: NDArray[np.float64], f: NDArray[np.int64], budget: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], str]:
    """A mesh of about ``budget`` faces by vertex clustering on a grid sized from the surface area, and one line
    saying so (the caller logs it, with what else the simplified mesh needed)."""
    import open3d as o3d

    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    voxel = float(np.sqrt(3.0 * area / budget))  # clustering leaves about 2.5 faces per surface cell
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.ascontiguousarray(v)), o3d.utility.Vector3iVector(f.astype(np.int32))
    )
    simple = mesh.simplify_vertex_clustering(voxel)
    sv, sf = np.asarray(simple.vertices), np.asarray(simple.triangles).astype(np.int64)
    if sv.shape[0] < 4 or sf.shape[0] < 4:
        raise DataError(f"object mesh of {f.shape[0]:,} faces has nothing left after simplification; check its units")
    text = (
        f"object mesh has {f.shape[0]:,} faces (more than {budget:,}): simplified by vertex clustering "
        f"({1000 * voxel:.1f} mm cells) to {sf.shape[0]:,} faces"
    )
    return sv, sf, text


def _edge_defects(mesh: trimesh.Trimesh) -> str:
    """ "N open edges, M edges of more than two faces" (the parts that are non-zero)."""
    _, counts = np.unique(np.sort(mesh.edges, axis=1), axis=0, return_counts=True)
    open_edges, shared = int((counts == 1).sum()), int((counts > 2).sum())
    parts = [
        f"{open_edges:,} open edges" if open_edges else "",
        f"{shared:,} edges of more than two faces" if shared else "",
    ]
    return ", ".join(p for p in parts if p) or "inconsistent face winding"


def _bounded(hull: ConvexHull) -> ConvexHull:
    """A hull of more than MAX_PART_VERTICES vertices -> the hull of its support points along SUPPORT_DIRECTIONS."""
    if len(hull.vertices) <= MAX_PART_VERTICES:
        return hull
    vertices = hull.points[hull.vertices]  # (K, 3)
    support = np.unique(np.argmax(vertices @ SUPPORT_DIRECTIONS.T, axis=0))  # the farthest vertex per direction
    return _hull(vertices[support], "object part")


def _body(hulls: list[ConvexHull], config: GraspPhysicsConfig, method: str, start: float) -> ObjectBody:
    large = sum(len(h.vertices) > MAX_PART_VERTICES for h in hulls)
    if large:
        hulls = [_bounded(h) for h in hulls]  # parts of one object: a handful
        method += f"; {large} part(s) of more than {MAX_PART_VERTICES:,} vertices cut to their support points"
    parts = tuple(np.ascontiguousarray(h.points[h.vertices]) for h in hulls)
    planes = np.concatenate([h.equations for h in hulls])
    plane_part = np.concatenate([np.full(len(h.equations), i, dtype=np.int64) for i, h in enumerate(hulls)])
    volumes = np.array([h.volume for h in hulls])
    centres = np.stack([_hull_centroid(h) for h in hulls])
    volume = float(volumes.sum())
    if volume <= MIN_THICKNESS_M**3:
        raise DataError(f"object's convex parts have no volume ({volume:.3g} m^3)")
    mass = config.object_mass if config.object_mass > 0 else config.object_density * volume
    centre = (volumes[:, None] * centres).sum(0) / volume
    return ObjectBody(parts, planes, plane_part, volume, mass, centre, method, time.perf_counter() - start)


def _hull_centroid(hull: ConvexHull) -> NDArray[np.float64]:
    """Volume centroid of a convex hull: tetrahedra from an interior point to its facets."""
    inner = hull.points[hull.vertices].mean(0)
    tri = hull.points[hull.simplices]  # (F, 3, 3)
    a, b, c = tri[:, 0] - inner, tri[:, 1] - inner, tri[:, 2] - inner
    vol = np.abs(np.einsum("fi,fi->f", a, np.cross(b, c))) / 6.0
    centroids = inner + (a + b + c) / 4.0
    return (vol[:, None] * centroids).sum(0) / max(vol.sum(), 1e-30)
