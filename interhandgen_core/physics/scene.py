"""The MuJoCo model of one grasp: the object as a free body, each hand a kinematic (mocap) body.

Frame: MuJoCo's world frame is the object frame (metres); the object's body frame starts there,
so its free joint's qpos starts at (0, 0, 0, 1, 0, 0, 0). Bodies: 0 world, 1 the object, then
the hands in the order given. Options (configuration.py's docstring for the sources): implicit-fast
integrator, gravity off (the pushes are explicit forces), elliptic friction cones, impratio and
no-slip iterations from the configuration. Contacts between a hand and the object use the hand
geom's parameters (priority 1): friction (sliding, torsional, 0.0001 rolling), solref (time
constant, damping ratio 1), solimp (0.5, 0.99, 0.1 mm: DexGraspBench's stiff hand contacts).
The hands do not collide with each other (both are kinematic).
"""

from __future__ import annotations

import mujoco
import numpy as np
from numpy.typing import NDArray

from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.hand_bodies import add_hand_body
from interhandgen_core.physics.object_body import ObjectBody

OBJECT_BODY_ID = 1
ROLLING_FRICTION = 0.0001
HAND_SOLIMP = (0.5, 0.99, 0.0001, 0.5, 2.0)


def grasp_model(
    object_body: ObjectBody, hand_parts: list[list[NDArray[np.float64]]], config: GraspPhysicsConfig
) -> mujoco.MjModel:
    """object_body and, per hand, its parts' vertices (K_p, 3) posed and pressed, object frame -> compiled MjModel."""
    spec = object_scene_spec(object_body, config)
    friction = (config.friction, config.torsional_friction, ROLLING_FRICTION)
    solref = (config.contact_time_constant, 1.0)
    for h, parts in enumerate(hand_parts):
        add_hand_body(spec, f"hand{h}", parts, friction, solref, HAND_SOLIMP)
    return spec.compile()


def object_scene_spec(object_body: ObjectBody, config: GraspPhysicsConfig) -> mujoco.MjSpec:
    """The options of the module docstring and the object as body 1 (a free joint, its convex parts) -> an
    uncompiled MjSpec for the hands to be added to (grasp_model; retargeting/robot_grasp_physics.py)."""
    spec = mujoco.MjSpec()
    spec.option.timestep = config.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.disableflags = int(mujoco.mjtDisableBit.mjDSBL_GRAVITY)
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = config.impratio
    spec.option.noslip_iterations = config.noslip_iterations
    friction = (config.friction, config.torsional_friction, ROLLING_FRICTION)

    body = spec.worldbody.add_body(name="object")
    body.add_freejoint(name="object")
    for p, vertices in enumerate(object_body.parts):
        spec.add_mesh(name=f"object_part{p}", uservert=vertices.ravel().tolist())
        body.add_geom(
            name=f"object_part{p}",
            type=mujoco.mjtGeom.mjGEOM_MESH,
            meshname=f"object_part{p}",
            density=object_body.density,
            contype=1,
            conaffinity=2,
            condim=4,
            friction=list(friction),
        )
    return spec
