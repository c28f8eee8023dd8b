"""PNG preview of retargeting: human hands and robot hands side by side, as skeletons (matplotlib, Agg).

human_left, human_right: (N, 21, 3) metres, input frame (keypoints, README order; NaN: missing);
robot_left, robot_right: (N, P, 3) metres, input frame, with robot_edges (E, 2) into P. One row per
frame (N at most 6), two panels per row: the human hands, the robot hands, drawn from the same
view and with the same axis limits, so that where each robot hand stands can be compared with its
human hand. Left hands light blue, right hands salmon, an object's points grey (visualization/preview.py's
colours).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D
from numpy.typing import ArrayLike, NDArray

from interhandgen_core.errors import DataError
from interhandgen_core.hands.keypoints import KEYPOINT_PARENTS
from interhandgen_core.visualization.preview import BACKGROUND, LEFT_COLOR, OBJECT_COLOR, RIGHT_COLOR

MAX_ROWS = 6
MAX_OBJECT_POINTS = 600  # of an object's cloud drawn per panel
_PANEL_PX = 360
_DPI = 100
HUMAN_EDGES = np.asarray([(k, p) for k, p in enumerate(KEYPOINT_PARENTS) if p >= 0], dtype=np.int64)


def render_retargeting_preview(
    path: str | Path,
    human_left: ArrayLike,
    human_right: ArrayLike,
    robot_left: ArrayLike,
    robot_right: ArrayLike,
    robot_edges: ArrayLike,
    titles: Sequence[str] = (),
    robot_name: str = "robot",
    view: tuple[float, float] = (20.0, -60.0),
    object_points: ArrayLike | None = None,
) -> None:
    """Write the preview (module docstring) to ``path``; ``titles``: one per row (e.g. the frame number);
    ``object_points``: (P, 3) metres, the object of grasp rows, drawn grey in every panel."""
    arrays = [
        _points(name, a)
        for name, a in zip(
            ("human_left", "human_right", "robot_left", "robot_right"),
            (human_left, human_right, robot_left, robot_right),
            strict=True,
        )
    ]
    rows = arrays[0].shape[0]
    if not 1 <= rows <= MAX_ROWS or any(a.shape[0] != rows for a in arrays):
        raise DataError(f"the preview draws 1 to {MAX_ROWS} frames, the same number for every hand")
    edges = np.asarray(robot_edges, dtype=np.int64).reshape(-1, 2)
    cloud = None
    if object_points is not None:
        cloud = _points("object_points", np.asarray(object_points, dtype=np.float64)[None])[0]
        cloud = cloud[np.linspace(0, len(cloud) - 1, min(len(cloud), MAX_OBJECT_POINTS)).astype(int)]
    fig = Figure(figsize=(2 * _PANEL_PX / _DPI, rows * _PANEL_PX / _DPI), dpi=_DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.0, right=1.0, top=1.0 - 0.06 / rows, bottom=0.04 / rows, wspace=0.0, hspace=0.12)
    for row in range(rows):
        everything = np.concatenate([a[row] for a in arrays])
        everything = everything[np.isfinite(everything).all(axis=1)]
        centre = everything.mean(axis=0) if len(everything) else np.zeros(3)
        half = max(float(np.abs(everything - centre).max()) if len(everything) else 0.1, 0.05)
        for column, (name, (left, right), hand_edges) in enumerate(
            (("human hands", arrays[:2], HUMAN_EDGES), (f"{robot_name} hands", arrays[2:], edges))
        ):
            ax = cast(Axes3D, fig.add_subplot(rows, 2, 2 * row + column + 1, projection="3d"))
            if cloud is not None and len(cloud):
                ax.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], color=OBJECT_COLOR, s=3, alpha=0.6)
            for points, color in ((left[row], LEFT_COLOR), (right[row], RIGHT_COLOR)):
                _draw_skeleton(ax, points, hand_edges, color)
            ax.set_xlim(centre[0] - half, centre[0] + half)
            ax.set_ylim(centre[1] - half, centre[1] + half)
            ax.set_zlim(centre[2] - half, centre[2] + half)
            ax.set_box_aspect((1.0, 1.0, 1.0))
            ax.view_init(elev=view[0], azim=view[1])
            ax.set_proj_type("ortho")
            ax.tick_params(labelsize=6)
            title = f"{titles[row]}: {name}" if row < len(titles) else name
            ax.set_title(title, fontsize=9)
    legend = "left hands light blue, right hands salmon" + (", object grey" if cloud is not None else "")
    fig.text(0.5, 0.005, legend, ha="center", va="bottom", fontsize=8)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    fig.savefig(path, format="png", dpi=_DPI, facecolor=BACKGROUND)


def _draw_skeleton(ax: Axes3D, points: NDArray[np.float64], edges: NDArray[np.int64], color: tuple[float, ...]) -> None:
    for a, b in edges:
        segment = points[[a, b]]
        if np.isfinite(segment).all():
            ax.plot(segment[:, 0], segment[:, 1], segment[:, 2], color=color, linewidth=2.0)
    finite = points[np.isfinite(points).all(axis=1)]
    if len(finite):
        ax.scatter(finite[:, 0], finite[:, 1], finite[:, 2], color=color, s=6, edgecolors="black", linewidths=0.3)


def _points(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 3:
        raise DataError(f"{name} must be (N, P, 3) metres, got shape {array.shape}")
    return array
