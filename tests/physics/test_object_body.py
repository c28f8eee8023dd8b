"""Objects as convex parts, and the issue's bad input: open, degenerate and huge meshes."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import trimesh
from physics_scenes import box_mesh

from interhandgen_core.data.procedural_objects import OBJECT_FAMILIES, generate_objects
from interhandgen_core.errors import DataError
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.object_body import SUPPORT_COUNT, object_body_from_mesh, object_body_from_points

CONFIG = GraspPhysicsConfig()


def test_a_convex_mesh_is_its_own_hull_with_mass_from_density() -> None:
    body = object_body_from_mesh(*box_mesh((0.1, 0.2, 0.3)), CONFIG)
    assert body.num_parts == 1 and body.method.startswith("convex")
    assert body.volume == pytest.approx(0.006)
    assert body.mass == pytest.approx(500.0 * 0.006)
    assert object_body_from_mesh(*box_mesh(), GraspPhysicsConfig(object_mass=0.1)).mass == 0.1


def test_signed_distance_of_a_box_is_exact_in_front_of_faces_and_inside() -> None:
    body = object_body_from_mesh(*box_mesh((0.1, 0.1, 0.1)), CONFIG)
    distance, normal = body.signed_distance(np.array([[0.08, 0.0, 0.0], [0.0, 0.0, -0.03], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(distance[:2], [0.03, -0.02], atol=1e-12)
    assert distance[2] == pytest.approx(-0.05)
    np.testing.assert_allclose(normal[:2], [[1, 0, 0], [0, 0, -1]], atol=1e-12)


def test_procedural_objects_split_into_their_convex_primitives() -> None:
    objects = generate_objects(len(OBJECT_FAMILIES), seed=5)
    names = [OBJECT_FAMILIES[int(f)] for f in objects.family]
    i = names.index("box_with_handle")
    body = object_body_from_mesh(*objects.mesh(i), CONFIG)
    assert body.num_parts == int((objects.kind[i] != 0).sum())  # one per primitive, no coacd needed
    assert "coacd" not in body.method and body.build_seconds < 1.0


def test_a_non_convex_piece_is_decomposed_by_coacd() -> None:
    torus = trimesh.creation.torus(0.1, 0.03)
    body = object_body_from_mesh(torus.vertices, torus.faces, CONFIG)
    assert 2 <= body.num_parts <= CONFIG.max_convex_parts and "coacd" in body.method
    assert body.volume == pytest.approx(torus.volume, rel=0.15)  # parts hug the ring, not its hull
    assert body.volume < 0.8 * torus.convex_hull.volume
    assert body.signed_distance(np.zeros((1, 3)))[0][0] > 0.03  # the hole stays a hole


def test_a_cloud_is_meshed_first() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.08)
    points, faces = trimesh.sample.sample_surface(sphere, 3000, seed=0)
    body = object_body_from_points(points, sphere.face_normals[faces], CONFIG)
    assert body.num_parts == 1 and "Poisson" in body.method
    assert body.volume == pytest.approx(4 / 3 * np.pi * 0.08**3, rel=0.1)
    estimated = object_body_from_points(points, None, CONFIG)  # normals estimated and oriented
    assert estimated.volume == pytest.approx(body.volume, rel=0.05)


def test_a_mesh_with_a_hole_is_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    vertices, faces = box_mesh()
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.physics.object_body"):
        body = object_body_from_mesh(vertices, faces[:-2], CONFIG)  # one side of the box missing
    assert caplog.messages == ["object mesh is not watertight (4 open edges): its holes were capped"]
    assert body.num_parts == 1 and body.volume == pytest.approx(0.001)


def test_a_triangle_soup_is_remeshed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    soup = sphere.vertices[sphere.faces].reshape(-1, 3) + np.repeat(np.arange(len(sphere.faces)) % 2, 3)[:, None] * 1e-3
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.physics.object_body"):
        body = object_body_from_mesh(soup, np.arange(len(soup)).reshape(-1, 3), CONFIG)
    assert caplog.messages == [
        "object mesh is not watertight (480 open edges): remeshed by Poisson reconstruction from 8,192 surface samples"
    ]  # half the triangles moved 1 mm off the others: cracks everywhere, capping cannot close it
    assert body.volume == pytest.approx(4 / 3 * np.pi * 0.05**3, rel=0.1)


@pytest.mark.parametrize(
    ("vertices", "faces", "message"),
    [
        (np.zeros((3, 3)), np.array([[0, 1, 2]]), "3 vertices and 1 faces; a solid needs at least 4"),
        (
            np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]]) * 0.1,
            np.array([[0, 1, 2], [1, 3, 2], [0, 2, 1], [1, 2, 3]]),
            "object mesh is flat: 0.000 mm thick",
        ),
        (np.full((8, 3), np.nan), box_mesh()[1], "object mesh vertices has 24 NaN or infinite entries"),
        (box_mesh()[0], box_mesh()[1] + 8, r"object mesh faces index vertices outside \[0, 8\)"),
    ],
    ids=["three_vertices", "flat", "nan", "bad_index"],
)
def test_unusable_meshes_are_refused_in_one_line(vertices: np.ndarray, faces: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message) as error:
        object_body_from_mesh(vertices, faces, CONFIG)
    assert "\n" not in str(error.value)


def test_a_million_face_mesh_is_simplified_quickly_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    huge = trimesh.creation.icosphere(subdivisions=8, radius=0.1)  # 1,310,720 faces
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.physics.object_body"):
        body = object_body_from_mesh(huge.vertices, huge.faces, CONFIG)
    assert time.perf_counter() - start < 20.0
    (line,) = caplog.messages  # one line: what was done, and what the simplified mesh needed
    assert line.startswith("object mesh has 1,310,720 faces (more than 20,000): simplified by vertex clustering")
    assert "object mesh is not watertight" not in line, "the sphere is closed: only its simplification may not be"
    assert body.num_parts == 1 and body.volume == pytest.approx(4 / 3 * np.pi * 0.1**3, rel=0.05)


def test_a_smooth_part_is_cut_to_its_support_points() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.08)  # a hull of 10,242 vertices
    body = object_body_from_mesh(sphere.vertices, sphere.faces, GraspPhysicsConfig(max_object_faces=40_000))
    assert body.num_parts == 1 and len(body.parts[0]) <= SUPPORT_COUNT and "support points" in body.method
    assert body.volume == pytest.approx(sphere.volume, rel=0.01)
    assert body.signed_distance(sphere.vertices)[0].max() < 4e-4  # an inner approximation, about 0.3 mm deep
    disc = trimesh.creation.cylinder(radius=0.1, height=0.003, sections=2000)  # 3 mm thick, 4,000 hull vertices
    thin = object_body_from_mesh(disc.vertices, disc.faces, CONFIG)
    assert len(thin.parts[0]) <= SUPPORT_COUNT and np.ptp(thin.parts[0][:, 2]) == pytest.approx(0.003)
    assert thin.volume == pytest.approx(disc.volume, rel=0.01)


def test_too_small_a_cloud_is_refused() -> None:
    with pytest.raises(DataError, match="object cloud has 10 points; a surface needs at least 32"):
        object_body_from_points(np.random.default_rng(0).normal(size=(10, 3)), None, CONFIG)


def test_a_cloud_seen_from_one_side_is_not_closed_into_a_bubble() -> None:
    """The camera-facing half of a box (pipelines/sensor_cloud.corrupt_like_sensor's kind of view) has no back:
    Poisson closes at best a small bubble of it, which is refused rather than simulated as the object."""
    from interhandgen_core.pipelines.sensor_cloud import corrupt_like_sensor

    box = trimesh.creation.box(extents=(0.2, 0.12, 0.1))
    points, face = trimesh.sample.sample_surface(box, 4096, seed=0)
    view = corrupt_like_sensor(np.asarray(points), np.asarray(box.face_normals)[face], seed=3).points
    with pytest.raises(DataError, match="could not be closed"):
        object_body_from_points(view[:, :3], None, GraspPhysicsConfig())
