"""The retargeting preview: a PNG of human and robot skeletons side by side; wrong shapes refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interhandgen_core.errors import DataError
from interhandgen_core.visualization.retargeting_preview import render_retargeting_preview


def test_preview_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    human = rng.normal(scale=0.05, size=(2, 21, 3))
    robot = rng.normal(scale=0.05, size=(2, 6, 3))
    robot[1, :, :] = np.nan  # a robot hand never seen: nothing drawn, no error
    edges = np.array([[1, 0], [2, 1], [3, 0], [4, 3], [5, 0]])
    path = tmp_path / "p.png"
    render_retargeting_preview(path, human, human + 0.1, robot, robot + 0.1, edges, titles=["a", "b"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with_object = tmp_path / "o.png"  # a grasp set: the object's points in every panel
    cloud = rng.normal(scale=0.05, size=(2000, 3))
    render_retargeting_preview(with_object, human, human, robot, robot, edges, object_points=cloud)
    assert with_object.stat().st_size > path.stat().st_size


def test_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"human_left must be \(N, P, 3\)"):
        render_retargeting_preview(
            tmp_path / "p.png", np.zeros((2, 21)), np.zeros((2, 21, 3)), np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), []
        )
    with pytest.raises(DataError, match="1 to 6 frames"):
        z = np.zeros((7, 21, 3))
        render_retargeting_preview(tmp_path / "p.png", z, z, z, z, [])
