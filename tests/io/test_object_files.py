"""Reading a user's object: meshes sampled on their surface, clouds read as they are, bad files refused."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import open3d as o3d
import pytest
import trimesh

from interhandgen_core.errors import DataError
from interhandgen_core.io.object_files import (
    DEFAULT_MESH_SAMPLES,
    Open3DImportError,
    import_open3d,
    read_object,
    sample_mesh_surface,
)

RADIUS = 0.05


def _export(mesh: trimesh.Trimesh, path: Path) -> Path:
    mesh.export(path)
    return path


def _write_cloud(path: Path, points: np.ndarray, normals: np.ndarray | None = None) -> Path:
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    if normals is not None:
        cloud.normals = o3d.utility.Vector3dVector(normals)
    assert o3d.io.write_point_cloud(path, cloud)
    return path


def _sphere_points(num: int = 500) -> tuple[np.ndarray, np.ndarray]:
    directions = np.random.default_rng(0).normal(size=(num, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * RADIUS, directions


def _raises_data_error(match: str) -> Any:
    return pytest.raises(DataError, match=match)


@pytest.mark.parametrize("suffix", [".obj", ".stl", ".ply"])
def test_mesh_files_read_as_mesh_with_outward_surface_samples(tmp_path: Path, suffix: str) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=RADIUS)
    obj = read_object(_export(sphere, tmp_path / f"sphere{suffix}"), num_points=300)
    assert obj.is_mesh
    assert obj.mesh_vertices is not None and obj.mesh_faces is not None
    assert obj.mesh_vertices.shape == sphere.vertices.shape  # STL's split corners are shared again
    assert obj.mesh_faces.shape == sphere.faces.shape
    assert obj.points.shape == (300, 3) and obj.points.dtype == np.float64
    assert obj.normals is not None and obj.normals.shape == (300, 3)
    np.testing.assert_allclose(np.linalg.norm(obj.normals, axis=1), 1.0, atol=1e-9)
    # Samples lie on the faceted sphere: inside the radius, not far inside.
    radii = np.linalg.norm(obj.points, axis=1)
    assert (radii <= RADIUS + 1e-6).all() and (radii > 0.95 * RADIUS).all()
    assert ((obj.normals * obj.points).sum(axis=1) > 0).all()
    assert suffix in obj.source and "mesh" in obj.source


def test_read_object_samples_the_default_number_deterministically(tmp_path: Path) -> None:
    path = _export(trimesh.creation.box(extents=(0.1, 0.05, 0.2)), tmp_path / "box.obj")
    first, again = read_object(path), read_object(path)
    assert first.points.shape == (DEFAULT_MESH_SAMPLES, 3)
    np.testing.assert_array_equal(first.points, again.points)
    assert not np.array_equal(first.points, read_object(path, seed=1).points)


def test_sample_mesh_surface_is_area_weighted_and_turns_inside_out_meshes_outward() -> None:
    # A 0.2 x 0.1 x 0.1 box: the two 0.1 x 0.1 ends hold 0.02 of its 0.1 m^2.
    box = trimesh.creation.box(extents=(0.2, 0.1, 0.1))
    points, normals = sample_mesh_surface(box.vertices, box.faces, 20000, seed=3)
    on_ends = np.isclose(np.abs(points[:, 0]), 0.1)
    assert abs(on_ends.mean() - 0.2) < 0.015
    assert ((normals * points).sum(axis=1) > 0).all()
    inverted = box.copy()
    inverted.invert()
    _, flipped_normals = sample_mesh_surface(inverted.vertices, inverted.faces, 2000, seed=3)
    points_again, _ = sample_mesh_surface(inverted.vertices, inverted.faces, 2000, seed=3)
    assert ((flipped_normals * points_again).sum(axis=1) > 0).all()


def test_sample_mesh_surface_refuses_bad_meshes() -> None:
    with _raises_data_error("zero surface area"):
        sample_mesh_surface(np.zeros((3, 3)), np.array([[0, 1, 2]]), 10)
    with _raises_data_error("index vertices"):
        sample_mesh_surface(np.eye(3), np.array([[0, 1, 3]]), 10)
    with _raises_data_error("faces must be"):
        sample_mesh_surface(np.eye(3), np.zeros((0, 3), dtype=np.int64), 10)
    with _raises_data_error("positive integer"):
        sample_mesh_surface(np.eye(3), np.array([[0, 1, 2]]), 0)


@pytest.mark.parametrize("suffix", [".ply", ".pcd"])
def test_clouds_keep_their_points_and_normals(tmp_path: Path, suffix: str) -> None:
    points, normals = _sphere_points()
    obj = read_object(_write_cloud(tmp_path / f"cloud{suffix}", points, normals))
    assert not obj.is_mesh and obj.mesh_vertices is None and obj.mesh_faces is None
    np.testing.assert_allclose(obj.points, points, atol=1e-6)
    assert obj.normals is not None
    np.testing.assert_allclose(obj.normals, normals, atol=1e-6)
    without = read_object(_write_cloud(tmp_path / f"bare{suffix}", points))
    assert without.normals is None
    np.testing.assert_allclose(without.points, points, atol=1e-6)


def test_a_ply_without_faces_is_read_as_a_cloud_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    points, _ = _sphere_points(200)
    path = _write_cloud(tmp_path / "vertices_only.ply", points)
    with caplog.at_level("WARNING", logger="interhandgen_core.io.object_files"):
        obj = read_object(path)
    assert not obj.is_mesh and len(obj.points) == 200
    assert "PLY without faces, read as a point cloud: 200 points" in obj.source
    (record,) = caplog.records
    assert "vertices_only.ply: a PLY file without faces (vertices only): read as a point cloud of 200 points" in (
        record.getMessage()
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="interhandgen_core.io.object_files"):
        read_object(_write_cloud(tmp_path / "cloud.pcd", points))
    assert not caplog.records  # a cloud format: nothing to say


def test_xyz_cloud(tmp_path: Path) -> None:
    points, _ = _sphere_points(50)
    np.savetxt(tmp_path / "cloud.xyz", points)
    np.testing.assert_allclose(read_object(tmp_path / "cloud.xyz").points, points, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_npy_xyz_and_xyz_normals(tmp_path: Path, dtype: type) -> None:
    points, normals = _sphere_points(40)
    np.save(tmp_path / "xyz.npy", points.astype(dtype))
    obj = read_object(tmp_path / "xyz.npy")
    assert obj.points.dtype == np.float64 and obj.normals is None
    np.testing.assert_allclose(obj.points, points, atol=1e-4)
    np.save(tmp_path / "xyzn.npy", np.concatenate([points, 2.0 * normals], axis=1).astype(dtype))
    obj = read_object(tmp_path / "xyzn.npy")
    assert obj.normals is not None
    np.testing.assert_allclose(obj.normals, normals, atol=1e-3)  # rescaled to unit length


def test_bad_files_raise_data_error_naming_the_problem(tmp_path: Path) -> None:
    cases: list[tuple[Path, str]] = []

    def case(name: str, match: str, content: bytes | None = None) -> Path:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        cases.append((path, match))
        return path

    case("missing.ply", "no such object file")
    case("cloud.txt", "unsupported object format", b"0 0 0\n")
    case("garbage.pcd", "no points could be read", b"hello world\n")
    case("garbage.ply", "not a PLY file", b"hello world\n")
    case("truncated.ply", "no end_header", b"ply\nformat ascii 1.0\nelement vertex 3\n")
    case("points_only.obj", "no triangles", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    case("garbage.npy", "not a .npy file", b"not numpy at all")
    case("truncated.npy", "not a readable .npy", b"\x93NUMPY\x01\x00")
    for name, array, match in [
        ("four.npy", np.zeros((5, 4)), r"shape \(5, 4\)"),
        ("flat.npy", np.zeros(9), r"shape \(9,\)"),
        ("empty.npy", np.zeros((0, 3)), "P >= 1"),
        ("ints.npy", np.zeros((5, 3), dtype=np.int64), "dtype int64"),
        ("pickled.npy", np.array([{"points": 1}], dtype=object), "pickled"),
    ]:
        np.save(tmp_path / name, array, allow_pickle=True)
        cases.append((tmp_path / name, match))
    for path, match in cases:
        with pytest.raises(DataError, match=match) as info:
            read_object(path)
        assert type(info.value) is DataError
        message = str(info.value)
        assert "\n" not in message and path.name in message


def test_empty_ply_cloud_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.ply"
    path.write_bytes(
        b"ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    )
    with _raises_data_error("no points could be read"):
        read_object(path)


def test_import_open3d_explains_a_missing_libusb(monkeypatch: pytest.MonkeyPatch) -> None:
    assert import_open3d() is o3d
    real_import = builtins.__import__

    def failing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "open3d":
            raise ImportError("libusb-1.0.so.0: cannot open shared object file: No such file or directory")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(Open3DImportError, match=r"apt-get install libusb-1.0-0") as info:
        import_open3d()
    assert isinstance(info.value, ImportError) and "\n" not in str(info.value)
