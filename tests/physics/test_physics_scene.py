from __future__ import annotations

import mujoco
import numpy as np
import pytest
from physics_scenes import CLAMP_LEFT, CLAMP_RIGHT, box_mesh

from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.object_body import object_body_from_mesh
from interhandgen_core.physics.scene import OBJECT_BODY_ID, grasp_model


def test_the_model_holds_the_object_free_and_the_hands_kinematic() -> None:
    config = GraspPhysicsConfig(object_mass=0.25, friction=0.8, timestep=0.002)
    body = object_body_from_mesh(*box_mesh((0.1, 0.2, 0.1)), config)
    model = grasp_model(body, [[CLAMP_LEFT + np.array([0.001, 0, 0])], [CLAMP_RIGHT - np.array([0.001, 0, 0])]], config)
    assert model.nq == 7 and model.nv == 6 and model.nmocap == 2 and model.nbody == 4
    assert model.body_mass[OBJECT_BODY_ID] == pytest.approx(0.25, rel=1e-6)
    assert model.opt.timestep == 0.002 and model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    hand_geoms = model.geom_bodyid > OBJECT_BODY_ID
    np.testing.assert_allclose(model.geom_friction[hand_geoms, 0], 0.8)
    assert (model.geom_priority[hand_geoms] == 1).all()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    # The plates' hulls sit where their vertices were: 1 mm into the faces x = +-5 cm, on both sides.
    assert data.ncon >= 2
    np.testing.assert_allclose([c.dist for c in data.contact[: data.ncon]], -0.001, atol=1e-6)
    assert {int(model.geom_bodyid[c.geom[i]]) for c in data.contact[: data.ncon] for i in range(2)} == {1, 2, 3}
