"""PNG previews: size, both hand colours present, optional object, the legend, no pyplot side effects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import trimesh

from interhandgen_core.errors import DataError
from interhandgen_core.visualization.preview import (
    LEGEND_PX,
    render_grasp_sheet,
    render_twohand_grid,
    render_views,
)


def _pair(num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two flat ellipsoids, (num, V, 3) each, crossed and touching: a stand-in for two hands."""
    mesh = trimesh.creation.icosphere(subdivisions=2)
    left = np.asarray(mesh.vertices) * [0.09, 0.045, 0.015]
    right = left[:, [1, 0, 2]] + [0.0, 0.0, 0.02]
    faces = np.asarray(mesh.faces)
    shifts = np.linspace(0.0, 0.01, num)[:, None, None] * [0.0, 0.0, 1.0]
    return left[None] + 0 * shifts, faces, right[None] - shifts, faces[:, ::-1].copy()


def _pixel_counts(path: Path, rows: slice = slice(None)) -> tuple[tuple[int, int], int, int, int]:
    """-> ((height, width), bluish pixels, reddish pixels, grey non-white pixels), counted over ``rows``."""
    image = (matplotlib.image.imread(path)[rows, :, :3] * 255).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    bluish = int(((b - r) > 40).sum())
    reddish = int(((r - b) > 40).sum())
    grey = int(((np.abs(r - b) < 8) & (np.abs(r - g) < 8) & (r > 60) & (r < 200)).sum())
    return image.shape[:2], bluish, reddish, grey


def test_grid_size_and_both_colours(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(6)
    path = tmp_path / "grid.png"
    render_twohand_grid(path, lv, lf, rv, rf, ncols=4, panel_size=100, titles=[f"{i} mm" for i in range(6)])
    assert path.stat().st_size > 0
    shape, bluish, reddish, _ = _pixel_counts(path)
    assert shape == (200 + LEGEND_PX, 400)
    assert bluish > 500 and reddish > 500


def test_grid_with_object_points_and_missing_hand(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(2)
    rv[1] = np.nan  # a missing right hand is left out, not an error
    points = np.random.default_rng(0).normal(scale=0.01, size=(200, 3)) + np.array([0.1, 0.0, 0.0])
    path = tmp_path / "grid.png"
    render_twohand_grid(path, lv, lf, rv, rf, object_points=points, panel_size=120, elev=60, azim=10)
    shape, bluish, reddish, grey = _pixel_counts(path)
    assert shape == (120 + LEGEND_PX, 240)
    assert bluish > 300 and reddish > 300 and grey > 20


def test_views_size_and_colours(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(1)
    path = tmp_path / "views.png"
    views = ((20.0, -60.0), (90.0, 0.0), (0.0, 0.0))
    render_views(path, lv[0], lf, rv[0], rf, views=views, panel_size=90, title="grasp 0")
    shape, bluish, reddish, _ = _pixel_counts(path)
    assert shape == (90 + LEGEND_PX, 270)
    assert bluish > 300 and reddish > 300


def test_bad_inputs_raise_data_error(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(2)
    with pytest.raises(DataError, match="left_vertices has 2 samples but right_vertices has 1"):
        render_twohand_grid(tmp_path / "a.png", lv, lf, rv[:1], rf)
    with pytest.raises(DataError, match="titles has 1 entries"):
        render_twohand_grid(tmp_path / "a.png", lv, lf, rv, rf, titles=["x"])
    with pytest.raises(DataError, match="left_faces index vertices"):
        render_twohand_grid(tmp_path / "a.png", lv, lf + 10_000, rv, rf)
    with pytest.raises(DataError, match="object_points must be"):
        render_twohand_grid(tmp_path / "a.png", lv, lf, rv, rf, object_points=np.zeros((3, 4, 3)))
    assert not (tmp_path / "a.png").exists()


def test_rendering_does_not_import_pyplot(tmp_path: Path) -> None:
    # A fresh interpreter, because this test session may already have imported pyplot.
    script = (
        "import sys, numpy as np\n"
        "from interhandgen_core.visualization.preview import render_views\n"
        "v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]]); f = np.array([[0, 1, 2]])\n"
        f"render_views({str(tmp_path / 'x.png')!r}, v, f, v + 1, f)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    assert (tmp_path / "x.png").stat().st_size > 0


def test_grasp_sheet_rows_of_views_with_the_object(tmp_path: Path) -> None:
    lv, lf, rv, rf = _pair(2)
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(5000, 3))
    cloud = 0.06 * cloud / np.linalg.norm(cloud, axis=1, keepdims=True) + [0.0, 0.0, -0.1]
    path = tmp_path / "sheet.png"
    render_grasp_sheet(
        path, lv, lf, rv, rf, cloud, views=((20, 0), (20, 90), (60, 45)), titles=["a", "b"], panel_size=100
    )
    shape, bluish, reddish, grey = _pixel_counts(path)
    assert shape == (200 + LEGEND_PX, 300)
    assert bluish > 0 and reddish > 0 and grey > 0
    with pytest.raises(DataError, match="titles"):
        render_grasp_sheet(tmp_path / "x.png", lv, lf, rv, rf, cloud, titles=["only one"])
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("with_object", [False, True])
def test_a_legend_under_the_panels_names_each_colour(tmp_path: Path, with_object: bool) -> None:
    """The strip below the panels holds a swatch of each colour (left hand, right hand, and the object when drawn)."""
    lv, lf, rv, rf = _pair(2)
    points = np.random.default_rng(0).normal(scale=0.01, size=(200, 3)) if with_object else None
    path = tmp_path / "grid.png"
    render_twohand_grid(path, lv, lf, rv, rf, object_points=points, panel_size=160)
    _, bluish, reddish, _ = _pixel_counts(path, slice(-LEGEND_PX, None))
    assert bluish > 40 and reddish > 40  # the two hand swatches
    strip = (matplotlib.image.imread(path)[-LEGEND_PX:, :, :3] * 255).astype(int)
    swatch_grey = int((np.abs(strip - 128) <= 2).all(axis=2).sum())  # OBJECT_COLOR, flat (the text is anti-aliased)
    assert (swatch_grey > 60) == with_object, swatch_grey  # the object's swatch only where there is an object
    # The legend's labels: dark text on white in the strip.
    image = matplotlib.image.imread(path)[-LEGEND_PX:, :, :3]
    assert (image.mean(axis=2) < 0.3).sum() > 20


def _greenish(path: Path, rows: slice = slice(None)) -> int:
    """Pixels of INFERRED_COLOR's hue (green above red and blue) over ``rows``."""
    image = (matplotlib.image.imread(path)[rows, :, :3] * 255).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return int((((g - r) > 40) & ((g - b) > 40)).sum())


def test_inferred_object_points_are_drawn_in_their_own_colour_and_named(tmp_path: Path) -> None:
    """A completed cloud's inferred half is green (with a legend swatch), its seen half grey; without inferred
    points there is no green anywhere."""
    lv, lf, rv, rf = _pair(1)
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(3000, 3))
    cloud = 0.06 * cloud / np.linalg.norm(cloud, axis=1, keepdims=True) + [0.0, 0.0, -0.1]
    seen, inferred = cloud[cloud[:, 0] > 0], cloud[cloud[:, 0] <= 0]
    with_inferred, plain = tmp_path / "inferred.png", tmp_path / "plain.png"
    render_grasp_sheet(with_inferred, lv, lf, rv, rf, seen, views=((20, 0), (20, 90)), inferred_points=inferred)
    render_grasp_sheet(plain, lv, lf, rv, rf, seen, views=((20, 0), (20, 90)))
    assert _greenish(with_inferred, slice(None, -LEGEND_PX)) > 200
    assert _greenish(with_inferred, slice(-LEGEND_PX, None)) > 60  # the swatch
    assert _greenish(plain) == 0
    assert _pixel_counts(with_inferred)[3] > 0  # the seen points stay grey
