"""PNG previews of two-hand samples for people to look at (matplotlib, no display needed).

Vertices are (V, 3) per hand in metres, in any one frame shared by both hands and the
object; faces are (F, 3) integer indices. The left hand is drawn light blue, the right
hand salmon, the object's points grey; a legend strip of LEGEND_PX pixels along the bottom of
every image says so ("left hand", "right hand", and "object" where one is drawn). Each panel is an orthographic view from
(elev, azim) in degrees, matplotlib's convention: the camera looks at the pair from
direction (cos elev cos azim, cos elev sin azim, sin elev), z up. Faces are flat-shaded
(Lambert) with the light at the camera.

Only ``matplotlib.figure.Figure`` and the Agg canvas are used, never pyplot, so that
importing this module neither needs a display nor changes the backend of a program that
uses pyplot itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from mpl_toolkits.mplot3d import Axes3D
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from numpy.typing import ArrayLike, NDArray

from interhandgen_core.errors import DataError

LEFT_COLOR = (140 / 255, 190 / 255, 240 / 255)  # light blue
RIGHT_COLOR = (250 / 255, 128 / 255, 114 / 255)  # salmon
OBJECT_COLOR = (0.5, 0.5, 0.5)
# Object points that were inferred rather than seen (a one-sided cloud's completion, pipelines/sensor_cloud.py).
INFERRED_COLOR = (0.35, 0.7, 0.45)
BACKGROUND = (1.0, 1.0, 1.0)

_AMBIENT = 0.35
_DPI = 100
# At zoom 1 mplot3d draws the half-width of the (equal-aspect, orthographic) axes cube
# as 0.3 of the panel; 1.4 makes the scene's image-plane extent fill about 85% of it.
_ZOOM = 1.4
_TITLE_PX = 16
# The legend strip under the panels: one line of colour swatches and their names.
LEGEND_PX = 20


def render_twohand_grid(
    path: str | Path,
    left_vertices: ArrayLike,
    left_faces: ArrayLike,
    right_vertices: ArrayLike,
    right_faces: ArrayLike,
    *,
    ncols: int = 4,
    titles: Sequence[str] | None = None,
    object_points: ArrayLike | None = None,
    elev: float = 20.0,
    azim: float = -60.0,
    panel_size: int = 320,
) -> None:
    """N two-hand samples, one panel each, as a grid PNG written to ``path``.

    left_vertices (N, V_l, 3), left_faces (F_l, 3), right_vertices (N, V_r, 3),
    right_faces (F_r, 3), metres, one frame per sample. ``object_points`` is (P, 3) or
    (1, P, 3) for one object shared by all samples, or (N, P, 3). ``titles`` adds one
    short text per sample after its index (e.g. a penetration depth in mm). The image is
    ``ncols * panel_size`` pixels wide (fewer columns when N < ncols) and
    ``ceil(N / ncols) * panel_size + LEGEND_PX`` high. A hand whose vertices are NaN (missing)
    is left out of its panel. Writes exactly ``path``; its directory must exist.
    """
    lv = _as_batch("left_vertices", left_vertices)
    rv = _as_batch("right_vertices", right_vertices)
    if len(lv) != len(rv):
        raise DataError(f"left_vertices has {len(lv)} samples but right_vertices has {len(rv)}")
    num = len(lv)
    if num == 0:
        raise DataError("no samples to render (left_vertices and right_vertices are empty)")
    lf = _as_faces("left_faces", left_faces, lv.shape[1])
    rf = _as_faces("right_faces", right_faces, rv.shape[1])
    points = _as_object_points(object_points, num)
    if titles is not None and len(titles) != num:
        raise DataError(f"titles has {len(titles)} entries for {num} samples")
    if ncols < 1 or panel_size < 32:
        raise DataError(f"ncols must be >= 1 and panel_size >= 32 pixels, got {ncols} and {panel_size}")

    ncols = min(ncols, num)
    nrows = math.ceil(num / ncols)
    fig = _new_figure(ncols * panel_size, nrows * panel_size, with_object=points is not None)
    for i in range(num):
        row, col = divmod(i, ncols)
        title = f"#{i}" if titles is None else f"#{i}  {titles[i]}"
        sample_points = None if points is None else points[0 if len(points) == 1 else i]
        _draw_panel(fig, (row, col, nrows, ncols), lv[i], lf, rv[i], rf, sample_points, elev, azim, title)
    _save(fig, path)


def render_views(
    path: str | Path,
    left_vertices: ArrayLike,
    left_faces: ArrayLike,
    right_vertices: ArrayLike,
    right_faces: ArrayLike,
    views: Sequence[tuple[float, float]] = ((20.0, -60.0), (20.0, 30.0), (20.0, 120.0), (80.0, -90.0)),
    *,
    object_points: ArrayLike | None = None,
    title: str | None = None,
    panel_size: int = 320,
) -> None:
    """One two-hand sample from several (elev, azim) views, side by side, as a PNG at ``path``.

    left_vertices (V_l, 3), left_faces (F_l, 3), right_vertices (V_r, 3), right_faces
    (F_r, 3), object_points (P, 3) or None, metres, one frame. The image is
    ``len(views) * panel_size`` by ``panel_size + LEGEND_PX`` pixels; each panel is titled with
    its view and, on the first, ``title``.
    """
    lv = _as_batch("left_vertices", np.asarray(left_vertices, dtype=np.float64)[None])
    rv = _as_batch("right_vertices", np.asarray(right_vertices, dtype=np.float64)[None])
    lf = _as_faces("left_faces", left_faces, lv.shape[1])
    rf = _as_faces("right_faces", right_faces, rv.shape[1])
    points = _as_object_points(object_points, 1)
    if len(views) == 0 or panel_size < 32:
        raise DataError(f"give at least one (elev, azim) view and panel_size >= 32 pixels, got {views}, {panel_size}")

    fig = _new_figure(len(views) * panel_size, panel_size, with_object=points is not None)
    for col, (elev, azim) in enumerate(views):
        label = f"elev {elev:g}, azim {azim:g}"
        if col == 0 and title:
            label = f"{title}  ({label})"
        _draw_panel(
            fig, (0, col, 1, len(views)), lv[0], lf, rv[0], rf, None if points is None else points[0], elev, azim, label
        )
    _save(fig, path)


def render_grasp_sheet(
    path: str | Path,
    left_vertices: ArrayLike,
    left_faces: ArrayLike,
    right_vertices: ArrayLike,
    right_faces: ArrayLike,
    object_points: ArrayLike,
    views: Sequence[tuple[float, float]] = ((25.0, -60.0), (25.0, 30.0), (25.0, 120.0), (-30.0, -150.0)),
    *,
    titles: Sequence[str] | None = None,
    panel_size: int = 280,
    max_points: int = 1500,
    inferred_points: ArrayLike | None = None,
) -> None:
    """N grasps of one object, one row each, seen from several (elev, azim) views, as a PNG at ``path``.

    left_vertices (N, V_l, 3), right_vertices (N, V_r, 3), faces (F, 3), object_points (P, 3),
    metres, one frame. ``inferred_points`` (Q, 3), the same frame: object points that were not seen
    but inferred, drawn in INFERRED_COLOR. ``titles`` adds one short text per grasp to its row's first panel. The
    image is ``len(views) * panel_size`` wide and ``N * panel_size + LEGEND_PX`` high. At most
    ``max_points`` object points are drawn (an even stride through the cloud), so that a
    dense cloud does not hide the hands.
    """
    lv = _as_batch("left_vertices", left_vertices)
    rv = _as_batch("right_vertices", right_vertices)
    if len(lv) != len(rv) or len(lv) == 0:
        raise DataError(f"need the same, non-zero number of left and right hands, got {len(lv)} and {len(rv)}")
    lf = _as_faces("left_faces", left_faces, lv.shape[1])
    rf = _as_faces("right_faces", right_faces, rv.shape[1])
    points = _as_object_points(object_points, 1)
    inferred = _as_object_points(inferred_points, 1) if points is not None else None
    total = sum(p.shape[1] for p in (points, inferred) if p is not None)
    if points is not None and total > max_points > 0:  # the same stride through both, so their densities compare
        stride = math.ceil(total / max_points)
        points = points[:, ::stride]
        inferred = None if inferred is None else inferred[:, ::stride]
    if titles is not None and len(titles) != len(lv):
        raise DataError(f"titles has {len(titles)} entries for {len(lv)} grasps")
    if len(views) == 0 or panel_size < 32:
        raise DataError(f"give at least one (elev, azim) view and panel_size >= 32 pixels, got {views}, {panel_size}")
    fig = _new_figure(
        len(views) * panel_size,
        len(lv) * panel_size,
        with_object=points is not None,
        with_inferred=inferred is not None,
    )
    for row in range(len(lv)):
        for col, (elev, azim) in enumerate(views):
            label = f"elev {elev:g}, azim {azim:g}"
            if col == 0:
                label = f"#{row}  {titles[row]}" if titles is not None else f"#{row}  ({label})"
            cell = (row, col, len(lv), len(views))
            obj = None if points is None else points[0]
            guessed = None if inferred is None else inferred[0]
            _draw_panel(fig, cell, lv[row], lf, rv[row], rf, obj, elev, azim, label, guessed)
    _save(fig, path)


def view_direction(elev: float, azim: float) -> NDArray[np.float64]:
    """(elev, azim) degrees -> (3,) unit vector from the scene towards the camera (matplotlib's convention)."""
    e, a = math.radians(elev), math.radians(azim)
    return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


def _draw_panel(
    fig: Figure,
    cell: tuple[int, int, int, int],
    left_vertices: NDArray[np.float64],
    left_faces: NDArray[np.int64],
    right_vertices: NDArray[np.float64],
    right_faces: NDArray[np.int64],
    object_points: NDArray[np.float64] | None,
    elev: float,
    azim: float,
    title: str,
    inferred_points: NDArray[np.float64] | None = None,
) -> None:
    row, col, nrows, ncols = cell
    height_px = fig.get_size_inches()[1] * fig.dpi
    legend = LEGEND_PX / height_px  # the strip below the panels
    cell_height = (1.0 - legend) / nrows  # figure fractions
    title_frac = min(_TITLE_PX / (cell_height * height_px), 0.3)
    left = col / ncols
    top = 1.0 - row * cell_height
    bottom = top - cell_height
    ax = cast(Axes3D, fig.add_axes((left, bottom, 1.0 / ncols, (1.0 - title_frac) * cell_height), projection="3d"))
    fig.text(left + 0.5 / ncols, top - 0.5 * title_frac * cell_height, title, ha="center", va="center", fontsize=8)

    to_camera = view_direction(elev, azim)
    triangles, colors = [], []
    for vertices, faces, base in ((left_vertices, left_faces, LEFT_COLOR), (right_vertices, right_faces, RIGHT_COLOR)):
        tri = vertices[faces]  # (F, 3 corners, 3)
        tri = tri[np.isfinite(tri).all(axis=(1, 2))]
        triangles.append(tri)
        colors.append(_lambert(tri, to_camera, base))
    point_sets: list[tuple[NDArray[np.float64], tuple[float, float, float]]] = []
    if object_points is not None:
        point_sets.append((object_points, OBJECT_COLOR))
        if inferred_points is not None:
            point_sets.append((inferred_points, INFERRED_COLOR))
    if point_sets:
        scene = np.concatenate([t.reshape(-1, 3) for t in triangles] + [p for p, _ in point_sets])
    else:
        scene = np.concatenate([t.reshape(-1, 3) for t in triangles])
    ax.set_axis_off()
    ax.set_proj_type("ortho")
    ax.view_init(elev=elev, azim=azim)
    if len(scene) == 0:
        return
    right, up = _image_axes(elev, azim)
    # Frame the scene's extent in the image plane rather than a sphere around it, so that
    # a flat pair seen edge-on still fills the panel.
    x, y, depth = scene @ right, scene @ up, scene @ to_camera
    half = max(float(np.ptp(x)), float(np.ptp(y)), 1e-3) / 2
    centre = (
        0.5 * (x.min() + x.max()) * right
        + 0.5 * (y.min() + y.max()) * up
        + 0.5 * (depth.min() + depth.max()) * to_camera
    )
    # Points become small camera-facing triangles so that the one depth sort below
    # also hides points behind a hand and a hand behind points.
    corners = np.stack([up, -0.866 * right - 0.5 * up, 0.866 * right - 0.5 * up]) * (0.012 * half)
    for points, color in point_sets:
        triangles.append(points[:, None, :] + corners[None])
        colors.append(np.tile(np.array([*color, 1.0]), (len(points), 1)))
    all_triangles = np.concatenate(triangles)
    all_colors = np.concatenate(colors)
    # One collection for the whole scene: mplot3d depth-sorts faces within a collection
    # but orders separate collections as wholes, which is wrong for interlocked hands.
    collection = Poly3DCollection(
        all_triangles, facecolors=all_colors, edgecolors=all_colors, linewidths=0.3, zsort="average"
    )
    ax.add_collection3d(collection)
    for set_lim, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, strict=True):
        set_lim(c - half, c + half)
    ax.set_box_aspect((1.0, 1.0, 1.0), zoom=_ZOOM)


def _lambert(
    triangles: NDArray[np.float64], to_camera: NDArray[np.float64], base: tuple[float, float, float]
) -> NDArray[np.float64]:
    """triangles (F, 3, 3) -> (F, 4) RGBA, flat Lambert shading with the light at the camera."""
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)
    # |cos| rather than max(cos, 0): lit the same whichever way a mesh is wound, and the
    # depth sort hides back faces anyway.
    shade = _AMBIENT + (1.0 - _AMBIENT) * np.abs(normals @ to_camera)
    rgba = np.ones((len(triangles), 4))
    rgba[:, :3] = shade[:, None] * np.asarray(base)[None]
    return rgba


def _image_axes(elev: float, azim: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(elev, azim) degrees -> unit (3,) vectors pointing right and up in the image."""
    e, a = math.radians(elev), math.radians(azim)
    right = np.array([-math.sin(a), math.cos(a), 0.0])
    up = np.array([-math.sin(e) * math.cos(a), -math.sin(e) * math.sin(a), math.cos(e)])
    return right, up


def _as_batch(name: str, vertices: ArrayLike) -> NDArray[np.float64]:
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 3 or v.shape[2] != 3:
        raise DataError(f"{name} must be (N, V, 3), got shape {v.shape}")
    return v


def _as_faces(name: str, faces: ArrayLike, num_vertices: int) -> NDArray[np.int64]:
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise DataError(f"{name} must be integer (F, 3), got {f.dtype} shape {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= num_vertices):
        raise DataError(f"{name} index vertices {f.min()}..{f.max()} but the hand has {num_vertices}")
    return f.astype(np.int64)


def _as_object_points(points: ArrayLike | None, num: int) -> NDArray[np.float64] | None:
    if points is None:
        return None
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[2] != 3 or len(p) not in (1, num):
        raise DataError(
            f"object_points must be (P, 3), (1, P, 3) or ({num}, P, 3), got shape {np.asarray(points).shape}"
        )
    if not np.isfinite(p).all():
        raise DataError("object_points hold NaN or inf")
    return p


def _new_figure(width_px: int, height_px: int, with_object: bool, with_inferred: bool = False) -> Figure:
    """A figure of ``height_px`` for the panels and the legend strip below them (LEGEND_PX more)."""
    total_px = height_px + LEGEND_PX
    fig = Figure(figsize=(width_px / _DPI, total_px / _DPI), dpi=_DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    entries = [Patch(facecolor=LEFT_COLOR, label="left hand"), Patch(facecolor=RIGHT_COLOR, label="right hand")]
    if with_object:
        entries.append(Patch(facecolor=OBJECT_COLOR, label="object"))
    if with_inferred:
        entries.append(Patch(facecolor=INFERRED_COLOR, label="object, inferred (not seen)"))
    fig.legend(
        handles=entries,
        loc="center",
        bbox_to_anchor=(0.5, 0.5 * LEGEND_PX / total_px),
        ncol=len(entries),
        frameon=False,
        fontsize=8,
        handlelength=1.4,
        handleheight=0.9,
        columnspacing=1.5,
        borderaxespad=0.0,
        borderpad=0.0,
    )
    return fig


def _save(fig: Figure, path: str | Path) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    fig.savefig(path, format="png", dpi=_DPI, facecolor=BACKGROUND)
