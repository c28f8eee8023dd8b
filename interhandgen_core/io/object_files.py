"""A user's object on disk -> points (P, 3) metres in the file's frame, with normals where known.

Meshes (``.obj``, ``.stl``, and ``.ply`` files whose header declares faces) are read with
trimesh and sampled on their surface, area-weighted, with the face normal at each sample.
A ``.ply`` without faces is read as a point cloud, with a warning that names it so.
Point clouds (``.ply`` without faces, ``.pcd``, ``.xyz``, ``.pts``) are read with open3d,
keeping its normals when the file has them; ``.npy`` holds a plain float array, (P, 3)
xyz or (P, 6) xyz + normal.

Nothing here moves, scales or cleans the points: coordinates stay in the file's frame and
units (metres expected), and NaN rows of organized depth-camera clouds are kept for
:func:`interhandgen_core.pipelines.sensor_cloud.preprocess_cloud` to drop.

open3d is imported on first use (about a second); :func:`import_open3d` does it and turns
a failed import into one line that says what to install.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from numpy.typing import ArrayLike, NDArray

from interhandgen_core.array_files import read_npy
from interhandgen_core.errors import DataError, InterHandGenError
from interhandgen_core.io.meshes import read_mesh

DEFAULT_MESH_SAMPLES = 4096
MESH_SUFFIXES = (".obj", ".stl")
CLOUD_SUFFIXES = (".pcd", ".xyz", ".pts")
OBJECT_SUFFIXES = (*MESH_SUFFIXES, ".ply", *CLOUD_SUFFIXES, ".npy")

# A PLY header is a few hundred bytes; a file with no end_header within this is not PLY.
_PLY_HEADER_LIMIT = 64 * 1024

log = logging.getLogger(__name__)


class Open3DImportError(InterHandGenError, ImportError):
    """open3d (point-cloud reading, voxel grids, normals) cannot be imported."""


def import_open3d() -> Any:
    """The open3d module, imported now; Open3DImportError (one line, what to install) if that fails."""
    try:
        import open3d
    except (ImportError, OSError) as err:
        # The Linux wheel links the system's libusb-1.0, which slim images lack; the
        # loader's message names the library but not the package that provides it.
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "libusb" in reason:
            raise Open3DImportError(
                f"open3d cannot load libusb-1.0 ({reason}); install it: apt-get install libusb-1.0-0"
            ) from err
        raise Open3DImportError(
            f"open3d cannot be imported ({reason}); install it: pip install 'open3d>=0.18'"
        ) from err
    return open3d


@dataclasses.dataclass
class ObjectInput:
    """One object as read from a file; metres, the file's frame.

    points: (P, 3) float64; surface samples for a mesh, the file's points for a cloud
        (NaN rows of organized clouds included).
    normals: (P, 3) float64 unit vectors, outward where the file says so, or None for a cloud
        without normals. Rows that are zero or NaN are unknown.
    mesh_vertices: (V, 3) float64, or None for a cloud.
    mesh_faces: (F, 3) int64 into mesh_vertices, or None for a cloud.
    source: the file read and what it held, for logs.
    """

    points: NDArray[np.float64]
    normals: NDArray[np.float64] | None
    mesh_vertices: NDArray[np.float64] | None
    mesh_faces: NDArray[np.int64] | None
    source: str

    @property
    def is_mesh(self) -> bool:
        return self.mesh_faces is not None


def read_object(path: str | Path, num_points: int = DEFAULT_MESH_SAMPLES, seed: int = 0) -> ObjectInput:
    """An object file -> ObjectInput (see the module docstring for the formats).

    num_points: surface samples drawn from a mesh (default 4096: several per square
        centimetre on a hand-sized object, more than the encoder's cloud, so that later
        cleaning and resampling still have enough); ignored for clouds.
    seed: of the mesh sampling, so that a mesh reads to the same points every time.
    Raises DataError, naming the file, for a missing file, an unknown suffix, a file that
    does not parse, a mesh without faces, or an array of the wrong shape or dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such object file")
    suffix = path.suffix.lower()
    if suffix not in OBJECT_SUFFIXES:
        raise DataError(f"{path}: unsupported object format '{path.suffix}'; use one of {list(OBJECT_SUFFIXES)}")
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
        raise DataError(f"num_points must be a positive integer, got {num_points!r}")
    if suffix in MESH_SUFFIXES or (suffix == ".ply" and _ply_face_count(path) > 0):
        vertices, faces = read_mesh(path)
        try:
            points, normals = sample_mesh_surface(vertices, faces, num_points, seed)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
        source = f"{path} (mesh: {len(vertices)} vertices, {len(faces)} faces; {num_points} surface samples)"
        return ObjectInput(points, normals, vertices, faces, source)
    cloud_points, cloud_normals = _read_npy(path) if suffix == ".npy" else _read_cloud(path)
    what = "with normals" if cloud_normals is not None else "no normals"
    kind = "point cloud"
    if suffix == ".ply":
        # A PLY is a mesh or a cloud; one without faces is read as a cloud, and said so: a mesh export that
        # lost its faces (or vertices only) gives far fewer points than a mesh's surface samples.
        kind = "PLY without faces, read as a point cloud"
        log.warning(
            "%s: a PLY file without faces (vertices only): read as a point cloud of %d points, %s, not as a mesh; "
            "export the mesh with its faces to sample its surface",
            path,
            len(cloud_points),
            what,
        )
    source = f"{path} ({kind}: {len(cloud_points)} points, {what})"
    return ObjectInput(cloud_points, cloud_normals, None, None, source)


def sample_mesh_surface(
    vertices: ArrayLike, faces: ArrayLike, num: int, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """vertices (V, 3), faces (F, 3) int -> points (num, 3), normals (num, 3) float64, area-weighted.

    Each normal is the normal of the face its sample lies on, so it points the way the face
    is wound (counter-clockwise seen from outside is outward). A closed, consistently wound
    mesh wound inside out (negative volume) has its normals turned outward; an open mesh
    keeps its winding, whatever it is. Deterministic for a seed.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise DataError(f"mesh vertices must be finite (V, 3), got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"mesh faces must be a non-empty integer (F, 3) array, got {f.dtype} shape {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise DataError(f"mesh faces index vertices {f.min()}..{f.max()} but there are only {len(v)}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise DataError(f"the number of surface samples must be a positive integer, got {num!r}")
    # The face geometry once, in numpy: trimesh's cached properties (area, is_watertight, volume) hash
    # the arrays and build edge graphs, about 4 s of a 1.3 M-face mesh's reading; this is 0.4 s.
    triangles = v[f]
    crosses = trimesh.triangles.cross(triangles)
    areas = trimesh.triangles.area(crosses=crosses)
    if not areas.sum() > 0.0:
        raise DataError("the mesh has zero surface area (every triangle is degenerate); it cannot be sampled")
    mesh = trimesh.Trimesh(vertices=v, faces=f.astype(np.int64), process=False)
    points, face_index = trimesh.sample.sample_surface(mesh, num, face_weight=areas, seed=seed)
    unit, valid = trimesh.triangles.normals(crosses=crosses[face_index])
    normals = np.zeros((len(face_index), 3))
    normals[valid] = unit  # a degenerate face's samples (weight 0: none are drawn) would get a zero normal
    if _closed_and_consistent(f, len(v)) and np.einsum("ij,ij->", triangles[:, 0], crosses) < 0.0:
        normals = -normals  # six times the signed volume is negative: wound inside out
    return np.asarray(points, dtype=np.float64), normals


def _closed_and_consistent(faces: NDArray[np.integer], num_vertices: int) -> bool:
    """faces (F, 3) -> every edge is shared by exactly two faces that run it in opposite directions
    (watertight and consistently wound: trimesh's is_watertight and is_winding_consistent, by two sorts)."""
    start = faces.astype(np.int64).reshape(-1)
    end = np.roll(faces.astype(np.int64), -1, axis=1).reshape(-1)
    forward = np.sort(start * num_vertices + end)  # each directed edge as one number
    backward = np.sort(end * num_vertices + start)
    return bool(np.all(forward[1:] != forward[:-1]) and np.array_equal(forward, backward))


def _ply_face_count(path: Path) -> int:
    # open3d reads a mesh PLY's vertices as a cloud without complaint, so the header
    # decides which reader a PLY goes to.
    with path.open("rb") as file:
        head = file.read(_PLY_HEADER_LIMIT)
    if not head.startswith(b"ply"):
        raise DataError(f"{path}: not a PLY file (it does not start with 'ply'); re-export it or use another format")
    end = head.find(b"end_header")
    if end < 0:
        raise DataError(f"{path}: the PLY header has no end_header; the file is truncated or not PLY")
    for line in head[:end].decode("ascii", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "element" and parts[1] == "face":
            try:
                return int(parts[2])
            except ValueError:
                raise DataError(f"{path}: malformed PLY header line '{line.strip()}'") from None
    return 0


def _read_cloud(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    o3d = import_open3d()
    # open3d logs a warning and returns an empty cloud for a file it cannot parse; the
    # emptiness check below turns that into the error, so its own warning is noise.
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        try:
            cloud = o3d.io.read_point_cloud(str(path))
        except RuntimeError as err:
            reason = str(err).splitlines()[0] if str(err) else "unknown error"
            raise DataError(f"{path}: open3d cannot read it ({reason})") from err
    points = np.asarray(cloud.points, dtype=np.float64)
    if len(points) == 0:
        raise DataError(f"{path}: no points could be read (not a valid {path.suffix} point cloud, or an empty one)")
    normals = None
    if cloud.has_normals():
        normals = _unit_rows(np.asarray(cloud.normals, dtype=np.float64))
    return points, normals


def _read_npy(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    array = read_npy(path, "object file")
    if array.ndim != 2 or array.shape[1] not in (3, 6) or array.shape[0] == 0:
        raise DataError(f"{path}: array of shape {array.shape}; expected (P, 3) xyz or (P, 6) xyz + normal, P >= 1")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{path}: array of dtype {array.dtype}; expected floats (metres)")
    array = array.astype(np.float64)
    normals = _unit_rows(array[:, 3:]) if array.shape[1] == 6 else None
    return np.ascontiguousarray(array[:, :3]), normals


def _unit_rows(normals: NDArray[np.float64]) -> NDArray[np.float64]:
    # Zero and NaN rows stay as they are: they mark points whose normal is unknown.
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(length > 0.0, normals / length, normals)
