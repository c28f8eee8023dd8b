"""complete_by_point_symmetry: the seen side of known solids, completed against their exact surfaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.geometry.symmetric_completion import complete_by_point_symmetry, image_basis, outer_rim


def _box_surface(half: np.ndarray, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(num, 3) points on the surface of the axis-aligned box [-half, half], area-uniform, with outward normals."""
    rng = np.random.default_rng(seed)
    areas = np.array([half[1] * half[2], half[0] * half[2], half[0] * half[1]]).repeat(2)
    face = rng.choice(6, size=num, p=areas / areas.sum())
    axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
    points = rng.uniform(-half, half, size=(num, 3))
    points[np.arange(num), axis] = sign * half[axis]
    normals = np.zeros((num, 3))
    normals[np.arange(num), axis] = sign
    return points, normals


def _box_distance(points: np.ndarray, half: np.ndarray) -> np.ndarray:
    """|signed distance| of (N, 3) points to the box [-half, half]."""
    q = np.abs(points) - half
    return np.abs(np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0))


def _seen(points: np.ndarray, normals: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    visible = normals @ -direction > 0.0
    return points[visible], normals[visible]


def test_an_oblique_box_is_completed_onto_its_back_faces() -> None:
    half = np.array([0.06, 0.04, 0.025])
    points, normals = _box_surface(half, 6000, seed=0)
    direction = np.array([0.5, 0.8, -0.6])
    direction /= np.linalg.norm(direction)
    seen, seen_normals = _seen(points, normals, direction)
    done = complete_by_point_symmetry(seen, seen_normals, direction, cell_size=0.004)

    assert np.linalg.norm(done.centre) < 0.004  # the box's centre
    added = done.points[len(seen) :]
    assert done.added == len(added) > 0.8 * len(seen)
    assert np.median(_box_distance(added, half)) < 0.003  # on the box's surface
    back = (normals @ -direction) < 0.0  # the faces the camera does not see
    reached = np.linalg.norm(points[back][:, None] - added[None, ::4], axis=2).min(axis=1) < 0.01
    assert reached.mean() > 0.9
    # Reflected normals point outward too: away from the box's centre on the back faces.
    assert (np.einsum("ij,ij->i", done.normals[len(seen) :], added) > 0).mean() > 0.95
    assert np.array_equal(done.points[: len(seen)], seen)  # the seen points first, unchanged


def test_a_hemisphere_gives_the_sphere_and_its_centre() -> None:
    rng = np.random.default_rng(1)
    normals = rng.normal(size=(8000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    centre = np.array([0.3, -0.1, 0.2])
    radius = 0.05
    direction = np.array([0.0, 0.0, -1.0])
    seen_normals = normals[normals @ -direction > 0.0]
    seen = centre + radius * seen_normals
    done = complete_by_point_symmetry(seen, seen_normals, direction, cell_size=0.003)
    # The rim's deepest points lie short of the contour generator; rim_gap adds back about that much.
    assert np.linalg.norm(done.centre[:2] - centre[:2]) < 0.002
    assert abs((done.centre - centre) @ -direction) < 0.0015
    added = done.points[len(seen) :]
    assert np.abs(np.linalg.norm(added - centre, axis=1) - radius).mean() < 0.006


@pytest.mark.parametrize("seed", [6, 7])
def test_a_sparsely_sampled_large_sphere_keeps_its_depth(seed: int) -> None:
    """A 0.1 m sphere at 4,096 points (a sensor cloud of a large object), with 2 mm noise: the former bound,
    a quantile short of the rim, put the centre 9.5-10.9 mm in front (seeds 6-9) and the inferred back 8.5-9.9 mm
    inside the sphere; the rim's mean depth plus one spacing, 2.8-4.3 mm and 2.7-4.1 mm."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(4096, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    direction = np.array([0.3, 0.5, -0.8])
    direction /= np.linalg.norm(direction)
    seen_normals = normals[normals @ -direction > 0.0]
    seen = 0.1 * seen_normals + rng.normal(scale=0.002, size=seen_normals.shape)
    done = complete_by_point_symmetry(seen, seen_normals, direction)
    assert abs(done.centre @ direction) < 0.005
    added = done.points[len(seen) :]
    assert done.added > 0.9 * len(seen)
    assert np.abs(np.linalg.norm(added, axis=1) - 0.1).mean() < 0.005


def test_the_outer_rim_is_the_largest_component_s_outline() -> None:
    """A ring (a handle seen through) and a stray speck: the rim is the ring's outer outline only."""
    yy, xx = np.mgrid[:21, :31]
    radius = np.hypot(yy - 10, xx - 10)
    ring = (radius <= 8) & (radius >= 4)
    image = ring.copy()
    image[10, 27] = True  # a speck, its own component
    rim = outer_rim(image)
    assert rim.any() and not rim[10, 27]
    assert not rim[radius < 6].any()  # not the hole's outline
    outline = ring & (radius > 7)
    assert rim[outline].mean() > 0.9 and not (rim & ~ring).any()
    assert not outer_rim(np.zeros((4, 4), dtype=bool)).any()


def test_what_the_view_contradicts_is_not_added() -> None:
    """A stalk to one side of a hemisphere: its reflection would stand beside the sphere, where the camera saw
    nothing, so it is left out; the sphere's back is added. A speck farther out on the other side puts the
    stalk's reflection inside the image, so that the silhouette, not the image's edge, is what keeps it out."""
    rng = np.random.default_rng(2)
    normals = rng.normal(size=(6000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    direction = np.array([0.0, 0.0, -1.0])
    dome_normals = normals[normals[:, 2] > 0.0]
    dome = 0.05 * dome_normals
    stalk = np.stack([rng.uniform(0.05, 0.12, 400), rng.uniform(-0.005, 0.005, 400), np.full(400, 0.004)], axis=1)
    stalk_normals = np.tile([0.0, 0.0, 1.0], (400, 1))
    speck = np.stack([rng.uniform(-0.15, -0.14, 20), rng.uniform(-0.005, 0.005, 20), np.full(20, 0.004)], axis=1)
    seen = np.concatenate([dome, stalk, speck])
    seen_normals = np.concatenate([dome_normals, stalk_normals, np.tile([0.0, 0.0, 1.0], (20, 1))])
    done = complete_by_point_symmetry(seen, seen_normals, direction, cell_size=0.004)
    added = done.points[len(seen) :]
    assert len(added) > 0.7 * len(dome)
    assert ((added[:, 0] < -0.06) & (added[:, 0] > -0.13)).sum() == 0  # no reflected stalk beside the sphere


def test_a_rigid_motion_of_the_view_moves_the_completion_with_it() -> None:
    objects = generate_objects(1, seed=4)
    points, normals = (x[0].numpy().astype(np.float64) for x in objects.sample_surface(3000, seed=0))
    direction = np.array([0.3, -0.4, -0.85])
    direction /= np.linalg.norm(direction)
    seen, seen_normals = _seen(points, normals, direction)
    done = complete_by_point_symmetry(seen, seen_normals, direction)
    rotation = axis_angle_to_matrix(torch.tensor([0.4, -1.1, 0.7], dtype=torch.float64)).numpy()
    shift = np.array([0.5, -0.2, 1.3])
    moved = complete_by_point_symmetry(seen @ rotation.T + shift, seen_normals @ rotation.T, rotation @ direction)
    # The image grid is laid along the view, so it moves with it; only the cells' origin and rounding differ.
    assert abs(moved.added - done.added) <= 0.02 * done.added
    assert np.linalg.norm(moved.centre - (rotation @ done.centre + shift)) < 0.003


def test_the_image_basis_is_right_handed_and_ends_in_the_view() -> None:
    for direction in (np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]), np.array([0.6, 0.0, -0.8])):
        basis = image_basis(direction)
        assert np.allclose(basis @ basis.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(basis), 1.0) and np.allclose(basis[2], direction)


@pytest.mark.parametrize(
    ("points", "normals", "direction", "message"),
    [
        (np.zeros((0, 3)), np.zeros((0, 3)), np.array([0.0, 0.0, 1.0]), "M >= 1"),
        (np.zeros((4, 3)), np.zeros((3, 3)), np.array([0.0, 0.0, 1.0]), "like points"),
        (np.zeros((4, 3)), np.zeros((4, 3)), np.zeros(3), "non-zero"),
        (np.zeros((4, 3)), np.zeros((4, 3)), np.array([np.nan, 0.0, 1.0]), "finite"),
    ],
)
def test_bad_input_is_refused_in_one_line(
    points: np.ndarray, normals: np.ndarray, direction: np.ndarray, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        complete_by_point_symmetry(points, normals, direction)


def test_a_negative_rim_gap_is_refused() -> None:
    with pytest.raises(DataError, match="rim_gap >= 0"):
        complete_by_point_symmetry(np.zeros((4, 3)), np.zeros((4, 3)), np.array([0.0, 0.0, 1.0]), rim_gap=-1.0)


def test_a_plate_seen_face_on_gets_no_back_of_opposite_normals() -> None:
    """Its rim is the face's edge, so the centre sits just behind the face (one spacing); its reflection would put
    opposite normals on the face itself (inside and outside at once) and is dropped, leaving the cloud as seen."""
    rng = np.random.default_rng(5)
    face = np.concatenate([rng.uniform(-0.1, 0.1, size=(2000, 2)), rng.normal(scale=0.001, size=(2000, 1))], axis=1)
    normals = np.tile([0.0, 0.0, 1.0], (2000, 1))
    done = complete_by_point_symmetry(face, normals, np.array([0.0, 0.0, -1.0]))
    assert done.added == 0 and np.array_equal(done.points, face)
