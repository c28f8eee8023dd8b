"""Triangle meshes on disk: binary PLY out (one hand, or both hands in one file), OBJ/PLY/STL in.

Vertices are (V, 3) metres in whatever frame the caller uses; faces are (F, 3) integer
indices, counter-clockwise seen from outside. Colours are RGB or RGBA, either uint8
0..255 or float 0..1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from numpy.typing import ArrayLike, NDArray

from interhandgen_core.errors import DataError

# Per-vertex colours of the two-hand PLY (RGBA, uint8), matching the PNG previews.
LEFT_COLOR_RGBA = np.array([140, 190, 240, 255], dtype=np.uint8)  # light blue
RIGHT_COLOR_RGBA = np.array([250, 128, 114, 255], dtype=np.uint8)  # salmon
OBJECT_COLOR_RGBA = np.array([128, 128, 128, 255], dtype=np.uint8)  # grey

_MESH_SUFFIXES = (".obj", ".ply", ".stl")


def write_ply(path: str | Path, vertices: ArrayLike, faces: ArrayLike, colors: ArrayLike | None = None) -> None:
    """vertices (V, 3) metres, faces (F, 3) int, colors None, one colour (3|4,) or per vertex (V, 3|4) -> binary PLY.

    Writes exactly ``path``; its parent directory must exist.
    """
    vertices_np, faces_np = _check_mesh("mesh", vertices, faces)
    rgba = None if colors is None else _colors_to_rgba(colors, len(vertices_np))
    _export_ply(path, vertices_np, faces_np, rgba)


def write_twohand_ply(
    path: str | Path,
    left_vertices: ArrayLike,
    left_faces: ArrayLike,
    right_vertices: ArrayLike,
    right_faces: ArrayLike,
    object_points: ArrayLike | None = None,
) -> None:
    """Both hands, (V_l, 3) + (F_l, 3) and (V_r, 3) + (F_r, 3), in one binary PLY, one sample.

    The left hand is coloured light blue and the right hand salmon through per-vertex
    colours. ``object_points`` (P, 3), when given, are appended as grey vertices that no
    face uses: mesh viewers show them in point mode (MeshLab: "Points" render), and
    ``read_mesh`` drops them again.
    """
    lv, lf = _check_mesh("left hand", left_vertices, left_faces)
    rv, rf = _check_mesh("right hand", right_vertices, right_faces)
    parts_v = [lv, rv]
    parts_c = [np.tile(LEFT_COLOR_RGBA, (len(lv), 1)), np.tile(RIGHT_COLOR_RGBA, (len(rv), 1))]
    if object_points is not None:
        points = np.asarray(object_points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3 or not np.isfinite(points).all():
            raise DataError(f"object_points must be finite (P, 3), got shape {points.shape}")
        parts_v.append(points)
        parts_c.append(np.tile(OBJECT_COLOR_RGBA, (len(points), 1)))
    faces = np.concatenate([lf, rf + len(lv)])
    _export_ply(path, np.concatenate(parts_v), faces, np.concatenate(parts_c))


def write_twohand_plys(
    folder: str | Path,
    stem: str,
    left_vertices: ArrayLike,
    left_faces: ArrayLike,
    right_vertices: ArrayLike,
    right_faces: ArrayLike,
    object_points: ArrayLike | None = None,
) -> list[Path]:
    """N two-hand samples, (N, V_l, 3) + (F_l, 3) and (N, V_r, 3) + (F_r, 3), as one PLY each -> their paths.

    The files are ``folder/{stem}_0000.ply``, ``{stem}_0001.ply``, ... (write_twohand_ply, with
    ``object_points`` (P, 3), shared by all samples, in each); ``folder`` must exist.
    """
    left, right = np.asarray(left_vertices), np.asarray(right_vertices)
    if len(left) != len(right):
        raise DataError(f"left_vertices has {len(left)} samples but right_vertices has {len(right)}")
    paths = [Path(folder) / f"{stem}_{i:04d}.ply" for i in range(len(left))]
    for path, lv, rv in zip(paths, left, right, strict=True):  # one file per sample
        write_twohand_ply(path, lv, left_faces, rv, right_faces, object_points=object_points)
    return paths


def read_mesh(path: str | Path) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """An OBJ, PLY or STL file -> vertices (V, 3) float64 in the file's units, faces (F, 3) int64.

    Vertices no face uses (such as the object points of :func:`write_twohand_ply`) are
    dropped; the order of the others is kept. Anything else raises DataError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such mesh file")
    if path.suffix.lower() not in _MESH_SUFFIXES:
        raise DataError(f"{path}: unsupported mesh format '{path.suffix}'; use one of {list(_MESH_SUFFIXES)}")
    try:
        loaded: Any = trimesh.load(path, force="mesh", process=False)
    except Exception as err:  # trimesh raises many unrelated types for a malformed file
        raise DataError(f"{path}: cannot read as a mesh ({type(err).__name__}: {err})") from err
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise DataError(f"{path}: holds no triangles (a point cloud or an empty scene?)")
    if path.suffix.lower() == ".stl":
        # STL stores each triangle's corners separately; share them again.
        loaded.merge_vertices()
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    if not used.all():
        new_index = np.cumsum(used) - 1
        vertices, faces = vertices[used], new_index[faces]
    if not np.isfinite(vertices).all():
        raise DataError(f"{path}: holds NaN or inf vertex coordinates")
    return vertices, faces


def _check_mesh(what: str, vertices: ArrayLike, faces: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise DataError(f"{what}: vertices must be (V, 3), got shape {v.shape} (write one sample at a time)")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"{what}: faces must be integer (F, 3), got {f.dtype} shape {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise DataError(f"{what}: faces index vertices {f.min()}..{f.max()} but there are only {len(v)}")
    if not np.isfinite(v).all():
        raise DataError(f"{what}: vertices hold NaN or inf (a missing hand cannot be written as a mesh)")
    return v, f.astype(np.int64)


def _colors_to_rgba(colors: ArrayLike, num_vertices: int) -> NDArray[np.uint8]:
    c = np.asarray(colors)
    if c.ndim == 1:
        c = np.broadcast_to(c, (num_vertices, c.shape[0]))
    if c.ndim != 2 or c.shape[0] != num_vertices or c.shape[1] not in (3, 4):
        raise DataError(f"colors must be (3|4,) or ({num_vertices}, 3|4), got shape {np.asarray(colors).shape}")
    if np.issubdtype(c.dtype, np.floating):
        # Floats are read as 0..1, the matplotlib convention.
        c = np.round(np.clip(c, 0.0, 1.0) * 255.0)
    c = np.clip(c, 0, 255).astype(np.uint8)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.full((num_vertices, 1), 255, dtype=np.uint8)], axis=1)
    return c


def _export_ply(
    path: str | Path, vertices: NDArray[np.float64], faces: NDArray[np.int64], rgba: NDArray[np.uint8] | None
) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    # process=False keeps the vertex order (and unreferenced object points) as given.
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=rgba, process=False)
    data = mesh.export(file_type="ply", encoding="binary")
    if not isinstance(data, bytes):
        raise TypeError(f"trimesh's binary PLY exporter returned {type(data).__name__}, expected bytes")
    path.write_bytes(data)
