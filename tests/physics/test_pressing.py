from __future__ import annotations

import numpy as np
import pytest
from physics_scenes import CLAMP_LEFT, PALM_UNDER, box_mesh, plate

from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.object_body import object_body_from_mesh
from interhandgen_core.physics.pressing import press_directions


@pytest.fixture(scope="module")
def cube():  # type: ignore[no-untyped-def]
    return object_body_from_mesh(*box_mesh(), GraspPhysicsConfig())


def test_a_hand_on_a_face_presses_along_the_face_normal(cube) -> None:  # type: ignore[no-untyped-def]
    tilted = PALM_UNDER + [0.0, 0.0, -0.004] + PALM_UNDER[:, :1] * [0.0, 0.0, 0.05]  # 4 mm away, slightly tilted
    press = press_directions(cube, [CLAMP_LEFT[None], tilted[None]], contact_band=0.01)
    np.testing.assert_allclose(press.direction[0], [[1, 0, 0], [0, 0, 1]], atol=1e-9)
    assert press.gap[0, 0] == pytest.approx(0.0) and press.gap[0, 1] == pytest.approx(0.002)
    assert press.penetration[0] == pytest.approx(0.0, abs=1e-12)


def test_a_hand_wrapped_round_presses_towards_the_centre(cube) -> None:  # type: ignore[no-untyped-def]
    # One "hand" touching two opposite faces (normals cancel) and the top: its region's centroid
    # lies above the cube, so it presses down towards the centre.
    wrap = np.concatenate([plate((-0.06, 0, 0.03), (0.01, 0.01, 0.01)), plate((0.06, 0, 0.03), (0.01, 0.01, 0.01))])
    press = press_directions(cube, [wrap[None]], contact_band=0.01)
    np.testing.assert_allclose(press.direction[0, 0], [0, 0, -1], atol=1e-9)


def test_penetration_is_the_deepest_vertex_inside(cube) -> None:  # type: ignore[no-untyped-def]
    press = press_directions(cube, [(CLAMP_LEFT + np.array([0.003, 0, 0]))[None]], contact_band=0.01)
    assert press.penetration[0] == pytest.approx(0.003)  # the inner face 3 mm in
    np.testing.assert_allclose(press.direction[0, 0], [1, 0, 0], atol=1e-9)
