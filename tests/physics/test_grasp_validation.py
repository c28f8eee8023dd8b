"""The physics validation's controls (issue 19): simple geometry whose outcome is known, and a real hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import trimesh
from physics_scenes import CLAMP_LEFT, CLAMP_RIGHT, NO_HAND, NO_HAND_PARTS, PALM_UNDER, PLATE_PARTS, box_mesh, plate

from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.grasp_validation import DIRECTIONS, PosedHands, validate_grasps
from interhandgen_core.physics.hand_bodies import HandParts
from interhandgen_core.physics.object_body import ObjectBody, object_body_from_mesh

CONFIG = GraspPhysicsConfig(threads=1)


@pytest.fixture(scope="module")
def cube() -> ObjectBody:
    return object_body_from_mesh(*box_mesh(), CONFIG)


def plates(*grasps: tuple[np.ndarray, np.ndarray]) -> list[PosedHands]:
    """Grasps of two plate "hands" each -> the two PosedHands of the batch."""
    return [
        PosedHands(np.stack([g[h] for g in grasps]), PLATE_PARTS if len(grasps[0][h]) == 8 else NO_HAND_PARTS)
        for h in range(2)
    ]


def test_two_plates_clamping_a_cube_hold_it_in_all_six_directions(cube: ObjectBody) -> None:
    result = validate_grasps(cube, plates((CLAMP_LEFT, CLAMP_RIGHT)), CONFIG)
    assert result.held.shape == (1, 6) and result.success.tolist() == [True]
    assert result.displacement_m.max() < 0.001  # pressed 5 mm from both sides: it barely moves
    np.testing.assert_allclose(result.press_direction[0], [[1, 0, 0], [-1, 0, 0]], atol=1e-9)


def test_two_plates_clamping_a_cylinder_hold_it() -> None:
    cylinder = trimesh.creation.cylinder(radius=0.05, height=0.1, sections=32)
    body = object_body_from_mesh(cylinder.vertices, cylinder.faces, CONFIG)
    result = validate_grasps(body, plates((CLAMP_LEFT, CLAMP_RIGHT)), CONFIG)
    assert result.success.tolist() == [True]


def test_one_palm_under_the_object_holds_only_the_push_down(cube: ObjectBody) -> None:
    # The press alone lifts the cube off the palm by about the press depth (it settles: no opposing
    # contact), the push down puts it back; sideways nothing but the palm's friction without load
    # holds it, upwards nothing at all.
    result = validate_grasps(cube, plates((PALM_UNDER, NO_HAND)), CONFIG)
    assert dict(zip(DIRECTIONS, result.held[0].tolist(), strict=True)) == {
        "+x": False, "-x": False, "+y": False, "-y": False, "+z": False, "-z": True,
    }  # fmt: skip
    assert 0.003 < result.settle_displacement_m[0] < 0.02
    assert result.displacement_m[0, :5].min() > 0.5  # gone: it accelerates at 1 g for a second


def test_without_hands_every_direction_fails(cube: ObjectBody) -> None:
    result = validate_grasps(cube, plates((NO_HAND, NO_HAND)), CONFIG)
    assert not result.held.any()
    # Free flight under its own weight for push_time: d = g t^2 / 2.
    np.testing.assert_allclose(result.displacement_m[0], 0.5 * 9.81 * CONFIG.push_time**2, rtol=0.02)


def test_a_clamp_holds_by_friction_from_the_press(cube: ObjectBody) -> None:
    no_press = validate_grasps(cube, plates((CLAMP_LEFT, CLAMP_RIGHT)), GraspPhysicsConfig(press_depth=0.0))
    assert not no_press.held[0, 2:].any()  # touching without force: no friction along y and z
    frictionless = validate_grasps(cube, plates((CLAMP_LEFT, CLAMP_RIGHT)), GraspPhysicsConfig(friction=0.0))
    assert frictionless.held[0].tolist() == [True, True, False, False, False, False]  # only the plates' normals


def test_too_deep_a_start_fails_every_direction(cube: ObjectBody) -> None:
    sunk = plate((0.035, 0.0, 0.0), (0.01, 0.02, 0.02))  # its inner face 2.5 cm inside the cube
    result = validate_grasps(cube, plates((CLAMP_LEFT, sunk)), CONFIG)
    assert result.initial_penetration_m[0] == pytest.approx(0.025)
    assert not result.held.any()
    shallow = validate_grasps(cube, plates((CLAMP_LEFT, sunk)), GraspPhysicsConfig(max_initial_penetration=0.03))
    assert shallow.held.any()  # the same grasp, allowed deeper: the penetration rule made the difference


def test_results_do_not_depend_on_batch_mates_order_or_threads(cube: ObjectBody) -> None:
    grasps = [(CLAMP_LEFT, CLAMP_RIGHT), (PALM_UNDER, CLAMP_RIGHT), (CLAMP_LEFT + np.array([0, 0, 0.03]), CLAMP_RIGHT)]
    hands_of = lambda gs: [PosedHands(np.stack([g[h] for g in gs]), PLATE_PARTS) for h in range(2)]  # noqa: E731
    batch = validate_grasps(cube, hands_of(grasps), CONFIG)
    reordered = validate_grasps(cube, hands_of(grasps[::-1]), GraspPhysicsConfig(threads=2))
    alone = validate_grasps(cube, hands_of(grasps[1:2]), CONFIG)
    np.testing.assert_array_equal(batch.displacement_m, reordered.displacement_m[::-1])
    np.testing.assert_array_equal(batch.rotation_deg, reordered.rotation_deg[::-1])
    np.testing.assert_array_equal(batch.held[1:2], alone.held)
    np.testing.assert_array_equal(batch.displacement_m[1:2], alone.displacement_m)
    assert batch.held[0].all() and not batch.held[1].all()  # the batch holds different outcomes


def test_procedural_hands_around_a_box_give_finite_results_of_the_documented_shapes() -> None:
    box = object_body_from_mesh(*box_mesh((0.12, 0.1, 0.12)), CONFIG)
    right_asset, left_asset = load_hand_pair("procedural")
    hands = []
    for asset, turn, face in ((left_asset, np.pi, -0.05), (right_asset, 0.0, 0.05)):
        layer = HandLayer(asset)
        n = 2
        pose = 0.1 * torch.randn(n, 45, generator=torch.Generator().manual_seed(0))
        rotation = axis_angle_to_matrix(torch.tensor([turn, 0.0, 0.0]).expand(n, 3))
        vertices = layer(HandParams(pose, torch.zeros(n, 10), rotation, torch.zeros(n, 3))).vertices
        # The palm side (the -y side of the right hand, turned for the left) onto the face y = +-5 cm.
        side = vertices[..., 1].min(1).values if face > 0 else vertices[..., 1].max(1).values
        centre = vertices.mean(1)
        shift = torch.stack([-centre[:, 0], face - side, -centre[:, 2]], dim=1)
        hands.append(PosedHands(vertices + shift[:, None], HandParts.from_layer(layer)))
    result = validate_grasps(box, hands, CONFIG)
    assert result.held.shape == result.displacement_m.shape == result.rotation_deg.shape == (2, 6)
    assert result.press_direction.shape == (2, 2, 3) and result.success.shape == (2,)
    assert np.isfinite(result.displacement_m).all() and np.isfinite(result.rotation_deg).all()
    np.testing.assert_allclose(result.press_direction[:, 0, 1], 1.0, atol=0.05)  # left hand pressed towards +y
    np.testing.assert_allclose(result.press_direction[:, 1, 1], -1.0, atol=0.05)
    assert result.grasps_per_second > 0 and "grasps/s" in result.summary()


def test_hands_of_different_batch_sizes_are_refused(cube: ObjectBody) -> None:
    hands = [PosedHands(CLAMP_LEFT[None], PLATE_PARTS), PosedHands(np.stack([CLAMP_RIGHT] * 2), PLATE_PARTS)]
    with pytest.raises(DataError, match="same number of grasps"):
        validate_grasps(cube, hands, CONFIG)


def test_vertices_that_do_not_match_the_parts_are_refused(cube: ObjectBody) -> None:
    with pytest.raises(DataError, match=r"hand 0 vertices must have shape \(\.\.\., 8, 3\)"):
        validate_grasps(cube, [PosedHands(np.zeros((1, 7, 3)), PLATE_PARTS)], CONFIG)


def test_an_outcome_scattered_among_untried_grasps_keeps_its_rows(cube: ObjectBody) -> None:
    """A clamp tried twice, placed at rows 3 and 0 of 5: its rows unchanged there, the other three untried
    (nothing held, NaN figures), and the summary's rates are of the two tried (all held), not of the five."""
    result = validate_grasps(cube, plates((CLAMP_LEFT, CLAMP_RIGHT), (CLAMP_LEFT, CLAMP_RIGHT)), CONFIG)
    spread = result.scattered(np.array([3, 0]), 5)
    assert spread.tried.tolist() == [True, False, False, True, False]
    assert spread.success.tolist() == [True, False, False, True, False]
    assert np.array_equal(spread.held[[3, 0]], result.held)
    np.testing.assert_array_equal(spread.press_direction[[3, 0]], result.press_direction)
    np.testing.assert_array_equal(spread.displacement_m[[3, 0]], result.displacement_m)
    assert np.isnan(spread.displacement_m[[1, 2, 4]]).all() and not spread.held[[1, 2, 4]].any()
    assert spread.summary().startswith("2 of 5 grasps tried: 100.0% of them hold in all six directions")
    assert result.tried.all() and result.summary().startswith("2 grasps: 100.0% hold")
    diverged = dataclasses.replace(result, settle_displacement_m=np.array([np.inf, 0.0]))  # tried, and failed
    assert diverged.tried.all()
