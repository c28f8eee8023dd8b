"""Articulated mesh objects (ARCTIC's): articulation, surface samples, exact signed distance, storage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from interhandgen_core.data.articulated_objects import ArticulatedObjects
from interhandgen_core.data.procedural_objects import ALL_FAMILIES, OBJECT_FAMILIES, generate_objects
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.distance import points_to_surface_distance
from interhandgen_core.geometry.primitives import BOX, points_to_primitive_distance
from interhandgen_core.geometry.winding import winding_numbers

BOX_HALF = (0.10, 0.05, 0.04)  # metres: the "box" template's half extents, centred on the template origin
AXIS = (0.0, 0.0, -1.0)  # ARCTIC's articulation axis


def _box() -> trimesh.Trimesh:
    # Subdivided so that it has faces whose corners all move, none move, and some move.
    return trimesh.creation.box(extents=2 * np.array(BOX_HALF)).subdivide()


def _laptop() -> trimesh.Trimesh:
    """A base slab and, above it, a separate lid (ARCTIC's parts are separate components)."""
    base = trimesh.creation.box(extents=(0.16, 0.12, 0.02))
    base.apply_translation((0.0, 0.0, -0.012))
    lid = trimesh.creation.box(extents=(0.14, 0.10, 0.01))
    lid.apply_translation((0.03, 0.0, 0.008))
    return trimesh.util.concatenate([base, lid])


def _ball() -> trimesh.Trimesh:
    """320 faces: enough for the distance hierarchy to have two levels and far groups."""
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    ball.vertices[:, 0] *= 1.6
    return ball


def make_objects(
    meshes: dict[str, trimesh.Trimesh], family: list[int], articulation: list[float], offset: torch.Tensor | None = None
) -> ArticulatedObjects:
    """Templates padded to the largest, moving part z > 0 (the top), instances as given."""
    v_max = max(len(m.vertices) for m in meshes.values())
    f_max = max(len(m.faces) for m in meshes.values())
    t = len(meshes)
    vertices = torch.zeros(t, v_max, 3)
    faces = torch.zeros(t, f_max, 3, dtype=torch.long)
    moving = torch.zeros(t, v_max, dtype=torch.bool)
    for i, mesh in enumerate(meshes.values()):
        vertices[i, : len(mesh.vertices)] = torch.as_tensor(mesh.vertices, dtype=torch.float32)
        faces[i, : len(mesh.faces)] = torch.as_tensor(mesh.faces)
        moving[i, : len(mesh.vertices)] = torch.as_tensor(mesh.vertices[:, 2] > 1e-6)
    m = len(family)
    return ArticulatedObjects(
        tuple(meshes),
        vertices,
        torch.tensor([len(mesh.vertices) for mesh in meshes.values()]),
        faces,
        torch.tensor([len(mesh.faces) for mesh in meshes.values()]),
        moving,
        torch.tensor(AXIS).expand(t, 3).clone(),
        torch.tensor(family),
        torch.tensor(articulation),
        torch.zeros(m, 3) if offset is None else offset,
    )


@pytest.fixture(scope="module")
def objects() -> ArticulatedObjects:
    # box at 0 and 0.7 rad, laptop at 0.4 and -1.1 rad, ball at 0.3 rad; offsets of a few cm.
    offset = torch.tensor([[0.01, -0.02, 0.005], [0.0, 0.0, 0.0], [0.02, 0.01, -0.01], [-0.01, 0.0, 0.02], [0.0] * 3])
    return make_objects(
        {"box": _box(), "laptop": _laptop(), "ball": _ball()}, [0, 0, 1, 1, 2], [0.0, 0.7, 0.4, -1.1, 0.3], offset
    )


def _rotation_about_minus_z(angle: float) -> torch.Tensor:
    """Right-handed rotation by ``angle`` about (0, 0, -1), i.e. by -angle about +z."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _reference_signed_distance(objects: ArticulatedObjects, i: int, points: torch.Tensor) -> torch.Tensor:
    """Brute force on instance i's mesh: every triangle's distance, every triangle's solid angle."""
    v, f = objects.mesh(i)
    vertices, faces = torch.as_tensor(v, dtype=torch.float32)[None], torch.as_tensor(f)
    distance = points_to_surface_distance(points, torch.zeros(len(points), dtype=torch.long), vertices, faces)
    inside = winding_numbers(points[None], vertices, faces)[0] > 0.5
    return torch.where(inside, -distance, distance)


def test_at_angle_zero_the_signed_distance_is_the_exact_box_distance(objects: ArticulatedObjects) -> None:
    gen = torch.Generator().manual_seed(0)
    points = (torch.rand(1, 3000, 3, generator=gen) - 0.5) * 0.3  # inside and around the box
    got = objects.signed_distance(points, torch.tensor([0]))
    # The box in its object frame: centred at -offset.
    half = torch.tensor(BOX_HALF).reshape(1, 1, 3)
    centre = -objects.offset[0].reshape(1, 1, 3)
    exact = points_to_primitive_distance(points, torch.tensor([[BOX]]), half, torch.eye(3)[None, None], centre)[:, 0]
    assert (exact < 0).sum() > 100 and (exact > 0).sum() > 100
    assert torch.allclose(got, exact, atol=1e-5)


def test_articulation_rotates_the_moving_vertices_about_the_axis(objects: ArticulatedObjects) -> None:
    template = _box()
    vertices, faces = objects.mesh(1)  # the box at 0.7 rad, offset 0
    expected = torch.as_tensor(template.vertices, dtype=torch.float32)
    top = expected[:, 2] > 1e-6
    expected[top] = expected[top] @ _rotation_about_minus_z(0.7).T
    assert np.allclose(vertices, expected.numpy(), atol=1e-6)
    assert np.array_equal(faces, template.faces)
    # Static vertices stay; moving ones keep their distance to the axis and their height.
    assert np.allclose(vertices[~top.numpy()], template.vertices[~top.numpy()], atol=1e-7)


def test_batched_instance_vertices_equal_each_instance_mesh(objects: ArticulatedObjects) -> None:
    index = torch.tensor([4, 2, 0, 3, 1, 2])
    batched = objects.instance_vertices(index)
    assert batched.shape == (6, objects.template_vertices.shape[1], 3)
    for row, i in enumerate(index.tolist()):
        vertices, _ = objects.mesh(i)
        assert np.allclose(batched[row, : len(vertices)].numpy(), vertices, atol=1e-7)
        assert (batched[row, len(vertices) :] == 0).all()  # padding


def test_surface_samples_lie_on_each_mesh_with_outward_unit_normals(objects: ArticulatedObjects) -> None:
    points, normals = objects.sample_surface(400, seed=3)
    assert points.shape == normals.shape == (len(objects), 400, 3)
    assert torch.allclose(normals.norm(dim=-1), torch.ones(len(objects), 400), atol=1e-5)
    for i in range(len(objects)):
        v, f = objects.mesh(i)
        vertices, faces = torch.as_tensor(v, dtype=torch.float32)[None], torch.as_tensor(f)
        on_mesh = points_to_surface_distance(points[i], torch.zeros(400, dtype=torch.long), vertices, faces)
        assert float(on_mesh.max()) < 1e-6, i
    # Outward: a step along the normal leaves the solid, a step against it enters. The box at 0 rad
    # and the laptop, whose lid turns rigidly (its side normals turn with it); the twisted box and
    # ball are left out: their sheared middle faces make creases a step can cross.
    rows = torch.tensor([0, 2, 3])
    step = 1e-3 * normals[rows]
    assert (objects.signed_distance(points[rows] + step, rows) > 0).all()
    assert (objects.signed_distance(points[rows] - step, rows) < 0).all()


def test_surface_samples_are_area_uniform_and_repeatable(objects: ArticulatedObjects) -> None:
    points, _ = objects.sample_surface(8000, seed=1)
    box = points[0] + objects.offset[0]  # back to template coordinates
    hx, hy, hz = BOX_HALF
    on_top = (box[:, 2] - hz).abs() < 1e-6
    expected = (hx * hy) / (hx * hy + hx * hz + hy * hz) / 2  # top face's share of the area
    assert abs(float(on_top.float().mean()) - expected) < 0.02
    again, _ = objects.sample_surface(8000, seed=1)
    assert torch.equal(points, again)


def test_signed_distance_matches_brute_force_on_articulated_instances(objects: ArticulatedObjects) -> None:
    gen = torch.Generator().manual_seed(2)
    index = torch.tensor([3, 4, 1, 4, 2, 0])  # repeated instances, three templates
    surface, _ = objects.sample_surface(300, seed=5)
    far = (torch.rand(len(index), 300, 3, generator=gen) - 0.5) * 0.4
    near = surface[index] + 0.004 * torch.randn(len(index), 300, 3, generator=gen)
    points = torch.cat([far, near], dim=1)
    got = objects.signed_distance(points, index)
    for row, i in enumerate(index.tolist()):
        expected = _reference_signed_distance(objects, i, points[row])
        assert torch.allclose(got[row], expected, atol=1e-6), (row, i)
    assert (got < 0).any() and (got > 0).any()
    # index=None means one row per instance.
    assert torch.allclose(objects.signed_distance(points[:5]), objects.signed_distance(points[:5], torch.arange(5)))


def test_a_mesh_with_a_hole_still_tells_inside_from_outside() -> None:
    box = trimesh.creation.box(extents=2 * np.array(BOX_HALF))
    box.update_faces(np.arange(len(box.faces)) != 0)  # drop one triangle: not watertight
    objects = make_objects({"open_box": box}, [0], [0.0])
    deep_inside = torch.tensor([[[0.0, 0.0, 0.0], [0.05, 0.02, -0.01]]])
    outside = torch.tensor([[[0.3, 0.0, 0.0], [0.0, 0.0, 0.2]]])
    assert (objects.signed_distance(deep_inside) < 0).all()
    assert (objects.signed_distance(outside) > 0).all()


def test_select_keeps_the_templates_and_picks_instances(objects: ArticulatedObjects) -> None:
    picked = objects.select(torch.tensor([3, 0]))
    assert len(picked) == 2
    assert picked.family_names == objects.family_names == ("box", "laptop", "ball")
    assert picked.family.tolist() == [1, 0]
    assert np.allclose(picked.mesh(0)[0], objects.mesh(3)[0])
    assert torch.equal(picked.template_vertices, objects.template_vertices)


def test_both_object_kinds_name_their_families() -> None:
    # family indexes every family; the default families come first, with their former indices.
    names = generate_objects(1, seed=0, centring_samples=64).family_names
    assert names == ALL_FAMILIES and names[: len(OBJECT_FAMILIES)] == OBJECT_FAMILIES


def test_array_round_trip_loads_without_pickles(objects: ArticulatedObjects, tmp_path: Path) -> None:
    arrays = objects.to_arrays()
    assert arrays["object_template_names"].dtype.kind == "U"
    np.savez(tmp_path / "objects.npz", **arrays)
    with np.load(tmp_path / "objects.npz", allow_pickle=False) as data:
        back = ArticulatedObjects.from_arrays({k: data[k] for k in data.files})
    assert back.template_names == objects.template_names
    for field in (
        "template_vertices",
        "template_num_vertices",
        "template_faces",
        "template_num_faces",
        "template_moving",
        "template_axis",
        "family",
        "articulation",
        "offset",
    ):
        assert torch.equal(getattr(back, field), getattr(objects, field)), field
        assert getattr(back, field).dtype == getattr(objects, field).dtype, field
    other = ArticulatedObjects.from_arrays(objects.to_arrays(prefix="o_"), prefix="o_")
    assert other.template_names == objects.template_names


def test_from_arrays_names_a_missing_key(objects: ArticulatedObjects) -> None:
    arrays = objects.to_arrays()
    del arrays["object_template_moving"]
    with pytest.raises(DataError, match="object_template_moving"):
        ArticulatedObjects.from_arrays(arrays)
    arrays = objects.to_arrays()
    arrays["object_template_names"] = np.arange(3)
    with pytest.raises(DataError, match="unicode"):
        ArticulatedObjects.from_arrays(arrays)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("family", torch.tensor([0, 0, 1, 1, 3]), "must index the 3 templates"),
        ("template_axis", torch.ones(3, 3), "unit vectors"),
        ("template_names", ("box", "box", "ball"), "unique"),
        ("offset", torch.zeros(5, 2), r"'offset' has shape \(5, 2\)"),
        ("articulation", torch.tensor([0.0, 0.0, math.nan, 0.0, 0.0]), "NaN"),
        ("family", torch.zeros(5, dtype=torch.int32), "dtype"),
        ("template_num_vertices", torch.tensor([2, 8, 8]), "template_num_vertices"),
    ],
)
def test_malformed_fields_are_refused(objects: ArticulatedObjects, field: str, value: object, message: str) -> None:
    arrays = {name: getattr(objects, name) for name in ArticulatedObjects.__dataclass_fields__ if name[0] != "_"}
    arrays[field] = value
    with pytest.raises(DataError, match=message):
        ArticulatedObjects(**arrays)


def test_faces_indexing_past_their_template_are_refused(objects: ArticulatedObjects) -> None:
    faces = objects.template_faces.clone()
    faces[0, 0, 0] = int(objects.template_num_vertices[0])
    arrays = {name: getattr(objects, name) for name in ArticulatedObjects.__dataclass_fields__ if name[0] != "_"}
    with pytest.raises(DataError, match="template 'box' has faces indexing outside"):
        ArticulatedObjects(**{**arrays, "template_faces": faces})


def test_signed_distance_needs_one_instance_per_row(objects: ArticulatedObjects) -> None:
    with pytest.raises(DataError, match="one instance index per row"):
        objects.signed_distance(torch.zeros(3, 4, 3), torch.tensor([0, 1]))
    with pytest.raises(DataError, match=r"instances 0\.\.4"):
        objects.signed_distance(torch.zeros(1, 4, 3), torch.tensor([9]))
    with pytest.raises(DataError, match=r"\(B, N, 3\)"):
        objects.signed_distance(torch.zeros(4, 3))
