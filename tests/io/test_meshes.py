"""PLY writing and mesh reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh

from interhandgen_core.errors import DataError
from interhandgen_core.io.meshes import (
    LEFT_COLOR_RGBA,
    OBJECT_COLOR_RGBA,
    RIGHT_COLOR_RGBA,
    read_mesh,
    write_ply,
    write_twohand_ply,
    write_twohand_plys,
)


def _sphere(subdivisions: int = 2, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.04)
    return np.asarray(mesh.vertices) + np.array([offset, 0.0, 0.0]), np.asarray(mesh.faces)


def test_write_ply_round_trip(tmp_path: Path) -> None:
    vertices, faces = _sphere()
    write_ply(tmp_path / "hand.ply", vertices, faces)
    assert (tmp_path / "hand.ply").read_bytes().startswith(b"ply\nformat binary_little_endian")
    back_v, back_f = read_mesh(tmp_path / "hand.ply")
    assert back_v.shape == vertices.shape and back_f.shape == faces.shape
    np.testing.assert_array_equal(back_f, faces)
    np.testing.assert_allclose(back_v, vertices, atol=1e-7)  # PLY stores float32


def test_write_ply_with_colours(tmp_path: Path) -> None:
    vertices, faces = _sphere(1)
    write_ply(tmp_path / "one.ply", vertices, faces, colors=(1.0, 0.0, 0.0))
    loaded: Any = trimesh.load(tmp_path / "one.ply", process=False)
    assert (loaded.visual.vertex_colors == [255, 0, 0, 255]).all()
    per_vertex = np.zeros((len(vertices), 3), dtype=np.uint8)
    per_vertex[:, 2] = 200
    write_ply(tmp_path / "many.ply", vertices, faces, colors=per_vertex)
    loaded = trimesh.load(tmp_path / "many.ply", process=False)
    assert (loaded.visual.vertex_colors == [0, 0, 200, 255]).all()
    with pytest.raises(DataError, match="colors must be"):
        write_ply(tmp_path / "bad.ply", vertices, faces, colors=np.zeros((3, 3)))


def test_twohand_ply_colours_each_hand_and_keeps_object_points(tmp_path: Path) -> None:
    lv, lf = _sphere(2)
    rv, rf = _sphere(1, offset=0.08)
    points = np.random.default_rng(0).normal(size=(25, 3))
    path = tmp_path / "pair.ply"
    write_twohand_ply(path, lv, lf, rv, rf, object_points=points)
    loaded: Any = trimesh.load(path, process=False)
    colors = np.asarray(loaded.visual.vertex_colors)
    assert len(loaded.vertices) == len(lv) + len(rv) + len(points)
    assert (colors[: len(lv)] == LEFT_COLOR_RGBA).all()
    assert (colors[len(lv) : len(lv) + len(rv)] == RIGHT_COLOR_RGBA).all()
    assert (colors[len(lv) + len(rv) :] == OBJECT_COLOR_RGBA).all()
    back_v, back_f = read_mesh(path)
    assert back_v.shape == (len(lv) + len(rv), 3)
    assert back_f.shape == (len(lf) + len(rf), 3)
    np.testing.assert_array_equal(back_f[len(lf) :], rf + len(lv))


def test_read_mesh_obj_and_stl(tmp_path: Path) -> None:
    mesh = trimesh.creation.icosphere(subdivisions=1)
    for suffix in ("obj", "stl"):
        mesh.export(tmp_path / f"sphere.{suffix}")
        vertices, faces = read_mesh(tmp_path / f"sphere.{suffix}")
        assert vertices.shape == mesh.vertices.shape and faces.shape == mesh.faces.shape
        assert vertices.dtype == np.float64 and faces.dtype == np.int64


def test_read_mesh_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.ply: no such mesh file"):
        read_mesh(tmp_path / "absent.ply")
    (tmp_path / "garbage.ply").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"garbage\.ply: cannot read as a mesh"):
        read_mesh(tmp_path / "garbage.ply")
    (tmp_path / "mesh.txt").write_text("v 0 0 0\n")
    with pytest.raises(DataError, match=r"mesh\.txt: unsupported mesh format"):
        read_mesh(tmp_path / "mesh.txt")
    trimesh.PointCloud(np.random.default_rng(0).normal(size=(10, 3))).export(tmp_path / "cloud.ply")
    with pytest.raises(DataError, match=r"cloud\.ply: holds no triangles"):
        read_mesh(tmp_path / "cloud.ply")


def test_write_rejects_bad_meshes(tmp_path: Path) -> None:
    vertices, faces = _sphere(1)
    with pytest.raises(DataError, match=r"vertices must be \(V, 3\)"):
        write_ply(tmp_path / "a.ply", vertices[None], faces)
    with pytest.raises(DataError, match="faces index vertices"):
        write_ply(tmp_path / "a.ply", vertices, faces + len(vertices))
    with pytest.raises(DataError, match="right hand: vertices hold NaN"):
        write_twohand_ply(tmp_path / "a.ply", vertices, faces, np.full_like(vertices, np.nan), faces)
    with pytest.raises(FileNotFoundError, match="create it first"):
        write_ply(tmp_path / "no" / "a.ply", vertices, faces)


def test_write_twohand_plys_one_file_per_sample(tmp_path: Path) -> None:
    left, faces = _sphere()
    right, _ = _sphere(offset=0.1)
    lv = np.stack([left, left + 0.01, left + 0.02])
    rv = np.stack([right, right, right])
    points = np.array([[0.0, 0.2, 0.0], [0.0, 0.3, 0.0]])
    paths = write_twohand_plys(tmp_path, "grasp", lv, faces, rv, faces, object_points=points)
    assert [p.name for p in paths] == ["grasp_0000.ply", "grasp_0001.ply", "grasp_0002.ply"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    vertices, _ = read_mesh(paths[2])
    np.testing.assert_allclose(vertices[: len(left)], left + 0.02, atol=1e-7)  # PLY stores float32
    with pytest.raises(DataError, match="3 samples but right_vertices has 2"):
        write_twohand_plys(tmp_path, "bad", lv, faces, rv[:2], faces)
