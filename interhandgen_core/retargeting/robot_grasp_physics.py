"""Physics of retargeted grasps: two robot hands closed onto an object in MuJoCo, then the six pushes.

left/right keypoints: (N, 21, 3) metres, object frame (grasp proposals); object_body: physics/object_body.py's
convex parts, same frame -> RobotGraspPhysicsResult, one row per grasp (held (N, 6) in +x, -x, +y, -y,
+z, -z order, success (N,)). The protocol is physics/grasp_validation.py's for human hands
(GraspPhysicsConfig: contacts, time step, settle, pushes, thresholds), with articulated hands:

    retarget  Retargeter (retargeter.py) onto the robot (``robot``); with ``surface_fit`` each finger
              is then fitted to the object: a fingertip within ``contact_distance`` of the surface is
              asked to stand on it, ``tip_radius`` out along the surface normal, and any other link
              inside the object (or within ``tip_radius`` of it) is pushed out to ``tip_radius`` (one
              damped least-squares solve per hand from the retargeted joints, solver.py). Robot
              fingers are thicker than the human ones they copy (Shadow's distal phalanx: a 7 mm
              capsule) and the hand is scaled up ~1.1x, so retargeted fingers start inside the object.
    scene     the object a free body (physics/scene.object_scene_spec); each robot hand its model's
              bodies, hinge and slide joints and collision geoms, its root a mocap body at the wrist
              pose (the other side the model's mirror image, as retargeter.py); one position actuator
              per joint, gain ``actuator_gain``, force at most ``force_limit``. Hands collide with the
              object only.
    start     the joints at the (fitted) retargeted positions; a hand whose geoms are still more than
              ``max_initial_penetration`` inside fails the grasp; a hand inside by less is backed off
              rigidly along the mean outward normal of its contacts in ``back_off_step`` steps (at most
              ``max_back_off``), then each hand not touching moves in towards the object's centre in 1 mm
              steps (at most ``max_back_off``) until it touches, and is pressed ``press_depth`` on along its
              contacts' inward normal (the human hands' press, physics/pressing.py)
    close     each fingertip's position target is the nearest surface point, ``close_margin`` past it
              (one solve, solver.py): the fingers close until they press, the force limit sets how hard;
              ``close_time`` plus ``settle_time`` with the object's motion damped (grasp_validation's
              settle); a grasp whose object then moved beyond the thresholds fails
    push      from the closed state, the object's weight x ``push_force_factor`` along each of the six
              directions for ``push_time``, undamped, the actuators holding their targets; held while
              the object stays within ``max_displacement`` and ``max_rotation_deg``, at every step

A hand that was not retargeted (``valid`` False) is parked far away (the grasp is then one-handed).

Speed: one MuJoCo model per object (the hands' wrist poses are mocap data, their targets controls);
the start (back-off and approach: kinematics and collision only) is a Python loop over grasps; the
close and the pushes of all grasps run on ``mujoco.rollout``'s thread pool (``threads``), one rollout
each (no solver warm start carried between rollouts). A grasp's result depends on its batch mates only
through the batched joint solves' shared stopping rule (solver.py: joints within 1e-4 rad), which the
contacts amplify to fractions of a millimetre. ``simulate_reference`` steps one grasp with ``mj_step`` in Python: the slow reference
(tests/retargeting/test_robot_grasp_physics.py compares the two).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import mujoco
import numpy as np
from mujoco import rollout
from numpy.typing import NDArray

from interhandgen_core.config import ConfigBase, setting, setting_like
from interhandgen_core.errors import DataError
from interhandgen_core.io.robot_hand_files import RobotSide
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.grasp_validation import (
    DIRECTION_VECTORS,
    GRAVITY_M_S2,
    SETTLE_DAMPING_S,
    PushOutcome,
    available_cores,
    object_motion,
    ran_through,
)
from interhandgen_core.physics.object_body import ObjectBody
from interhandgen_core.physics.scene import HAND_SOLIMP, OBJECT_BODY_ID, ROLLING_FRICTION, object_scene_spec
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.retargeting.hand_frame import invert_poses, mirror_points, mirror_poses
from interhandgen_core.retargeting.kinematics import BatchedKinematics
from interhandgen_core.retargeting.retargeter import SIDES, Retargeter, TwoRobotHands
from interhandgen_core.retargeting.robot_hand import RobotHand, load_robot_hand
from interhandgen_core.retargeting.solver import ResidualWeights, solve_joints

_PARKED_M = 100.0
_APPROACH_STEP_M = 0.001
_TOUCH_TOLERANCE_M = 0.001  # a hand is out of the object when no contact is deeper than this
_FIT_ITERATIONS = 30
_GRASP_CHUNK = 32  # grasps per rollout: 6 x 32 push trajectories of Shadow hands hold about 60 MB
# Control vector: position targets and the wrist poses (mocap), plus the push force on the object.
_CLOSE_CONTROL = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT
_PUSH_CONTROL = _CLOSE_CONTROL | mujoco.mjtState.mjSTATE_XFRC_APPLIED
_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS


@dataclass(frozen=True)
class RobotGraspPhysicsConfig(ConfigBase):
    """The robot's part of the protocol (module docstring); the rest is GraspPhysicsConfig's."""

    robot: str = setting("shadow", help="robot hand: shadow (shipped) or the path of a robot hand YAML")
    surface_fit: bool = setting(
        True, help="fit the retargeted fingers to the object: tips onto its surface, other links out of it"
    )
    tip_radius: float = setting(
        0.008,
        low=0.0,
        high=0.05,
        units="metres",
        help="a fitted fingertip stands this far out of the surface (Shadow's distal capsules: 7-9 mm)",
    )
    contact_distance: float = setting(
        0.02,
        low=0.0,
        high=0.1,
        units="metres",
        help="a retargeted fingertip within this of the surface is fitted onto it",
    )
    max_initial_penetration: float = setting_like(
        GraspPhysicsConfig,
        "max_initial_penetration",
        0.03,
        help="a robot hand that starts deeper than this inside the object (after the fit) fails the grasp",
    )
    max_back_off: float = setting(
        0.03, low=0.0, high=0.2, units="metres", help="a hand is backed off (and moved in) at most this far"
    )
    back_off_step: float = setting(
        0.002, low=0.0001, low_open=False, high=0.02, units="metres", help="step of the rigid back-off"
    )
    press_depth: float = setting(
        0.005,
        low=0.0,
        high=0.02,
        units="metres",
        help="each hand touching the object is then moved this far along its contacts' inward normal (as the human "
        "hands' press_depth)",
    )
    close_margin: float = setting(
        0.01,
        low=0.0,
        high=0.05,
        units="metres",
        help="each fingertip's position target is this far past the nearest surface point",
    )
    close_time: float = setting(0.3, low=0.0, high=5.0, units="seconds", help="time the fingers close (damped)")
    actuator_gain: float = setting(
        2.0, low=0.0, low_open=True, high=1000.0, units="N m/rad", help="position actuators' stiffness"
    )
    force_limit: float = setting(
        1.0,
        low=0.0,
        low_open=True,
        high=100.0,
        units="N m",
        help="position actuators' force limit (of the order of the Shadow Hand's finger actuators)",
    )


@dataclass(frozen=True, kw_only=True)
class RobotGraspPhysicsResult(PushOutcome):
    """physics/'s PushOutcome of N grasps held by the robot hands (inf where not run; the settle is while
    the fingers closed; ``initial_penetration_m``: the deepest robot geom inside the object at the start,
    after the fit; ``seconds``: retargeting, fit, start and simulation), and

    back_off_m            (N, 2) how far each hand (left, right) was backed off (negative: moved in), metres
    started               (N,) bool: not too deep, and the hands were backed off out of the object (simulated)
    joints                (N, 2, J) each hand's joint positions at the start (left, right), model order
    """

    back_off_m: NDArray[np.float64]
    started: NDArray[np.bool_]
    joints: NDArray[np.float64]


def validate_robot_grasps(
    left_keypoints: NDArray[np.floating],
    right_keypoints: NDArray[np.floating],
    object_body: ObjectBody,
    config: RobotGraspPhysicsConfig | None = None,
    physics: GraspPhysicsConfig | None = None,
    hand: RobotHand | None = None,
) -> RobotGraspPhysicsResult:
    """Grasp proposals (N, 21, 3) per hand, object frame, metres -> RobotGraspPhysicsResult (module docstring).

    hand: the robot (default: load_robot_hand(config.robot)); pass it to load it once for many objects.
    """
    config = config or RobotGraspPhysicsConfig()
    hand = hand if hand is not None else load_robot_hand(config.robot)
    start = time.perf_counter()
    if np.shape(left_keypoints)[:1] == (0,) or np.shape(right_keypoints)[:1] == (0,):
        raise DataError("robot grasp physics needs at least one grasp")
    commands = Retargeter(RetargetConfig(robot=config.robot), hand).retarget(left_keypoints, right_keypoints)
    result = validate_robot_commands(hand, commands, object_body, config, physics)
    return replace(result, seconds=time.perf_counter() - start)


def validate_robot_commands(
    hand: RobotHand,
    commands: TwoRobotHands,
    object_body: ObjectBody,
    config: RobotGraspPhysicsConfig | None = None,
    physics: GraspPhysicsConfig | None = None,
) -> RobotGraspPhysicsResult:
    """N grasps' robot commands (TwoRobotHands, object frame) -> RobotGraspPhysicsResult (module docstring)."""
    config = config or RobotGraspPhysicsConfig()
    physics = physics or GraspPhysicsConfig()
    start = time.perf_counter()
    n = commands.left.joint_positions.shape[0]
    wrists = {s: _safe_poses(commands.side(s).wrist_pose) for s in SIDES}
    valid = {s: commands.side(s).valid & np.isfinite(commands.side(s).wrist_pose).all(axis=(1, 2)) for s in SIDES}
    joints = {s: np.asarray(commands.side(s).joint_positions, dtype=np.float64) for s in SIDES}
    if config.surface_fit:
        joints = {s: fit_to_surface(hand, s, joints[s], wrists[s], object_body, config) for s in SIDES}

    model = robot_grasp_model(hand, object_body, physics, config)
    scene = _Scene(model, hand)
    data = mujoco.MjData(model)
    penetration = np.zeros(n)
    back_off = np.zeros((n, 2))
    started = np.zeros(n, dtype=bool)
    states = np.zeros((n, mujoco.mj_stateSize(model, _FULL)))
    poses = {s: wrists[s].copy() for s in SIDES}
    for i in range(n):  # the start: kinematics and collisions only
        scene.pose(data, {s: poses[s][i] if valid[s][i] else None for s in SIDES}, {s: joints[s][i] for s in SIDES})
        penetration[i] = max(scene.depths(data).values())
        if penetration[i] > config.max_initial_penetration:
            continue
        moved = scene.back_off_and_approach(data, object_body.centre, config)
        if moved is None:
            continue
        started[i] = True
        for h, s in enumerate(SIDES):
            back_off[i, h] = moved[s]
            poses[s][i, :3, 3] = data.mocap_pos[scene.mocap[s]]
        mujoco.mj_getState(model, data, states[i], _FULL)

    targets = {s: closing_targets(hand, s, joints[s], poses[s], object_body, config) for s in SIDES}
    rows = np.flatnonzero(started)
    controls = np.zeros((n, mujoco.mj_stateSize(model, _CLOSE_CONTROL)))
    for row in rows.tolist():
        wrists_row = {s: poses[s][row] if valid[s][row] else None for s in SIDES}
        scene.pose(data, wrists_row, {s: targets[s][row] for s in SIDES})
        data.ctrl[:] = np.concatenate([targets[s][row] if valid[s][row] else hand.rest for s in SIDES])
        mujoco.mj_getState(model, data, controls[row], _CLOSE_CONTROL)
    settle_disp, settle_rot = np.full(n, np.inf), np.full(n, np.inf)
    displacement, rotation = np.full((n, 6), np.inf), np.full((n, 6), np.inf)
    for first in range(0, rows.size, _GRASP_CHUNK):  # memory chunks: the trajectories are kept whole
        chunk = rows[first : first + _GRASP_CHUNK]
        simulated = _simulate(model, states[chunk], controls[chunk], physics, config)
        settle_disp[chunk], settle_rot[chunk], displacement[chunk], rotation[chunk] = simulated
    settled = (settle_disp <= physics.max_displacement) & (settle_rot <= physics.max_rotation_deg)
    held = (displacement <= physics.max_displacement) & (rotation <= physics.max_rotation_deg) & settled[:, None]
    return RobotGraspPhysicsResult(
        held=held,
        displacement_m=displacement,
        rotation_deg=rotation,
        settle_displacement_m=settle_disp,
        settle_rotation_deg=settle_rot,
        initial_penetration_m=penetration,
        back_off_m=back_off,
        started=started,
        joints=np.stack([joints[s] for s in SIDES], axis=1),
        seconds=time.perf_counter() - start,
    )


def _safe_poses(poses: NDArray[np.floating]) -> NDArray[np.float64]:
    """(N, 4, 4) with NaN rows (a hand not retargeted) -> the identity there."""
    poses = np.asarray(poses, dtype=np.float64)
    finite = np.isfinite(poses).all(axis=(1, 2))
    return np.where(finite[:, None, None], poses, np.eye(4))


def _model_side_poses(hand: RobotHand, side: RobotSide, wrist: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 4, 4) wrist poses of ``side``'s hand, object frame -> in the model side's (mirrored) frame."""
    return wrist if side == hand.file.side else mirror_poses(wrist)


def link_positions(
    hand: RobotHand, side: RobotSide, joints: NDArray[np.float64], wrist: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """joints (N, J), wrist (N, 4, 4) object frame -> (the mapped links (N, K, 3) object frame, in the root frame)."""
    points, _ = BatchedKinematics(hand).points_and_jacobian(joints)
    pose = _model_side_poses(hand, side, wrist)
    world = np.einsum("bij,bkj->bki", pose[:, :3, :3], points) + pose[:, None, :3, 3]
    return (world if side == hand.file.side else mirror_points(world)), points


def _to_root(
    hand: RobotHand, side: RobotSide, wrist: NDArray[np.float64], points: NDArray[np.float64]
) -> NDArray[np.float64]:
    """points (N, K, 3) object frame -> the root frame of ``side``'s hand (model side)."""
    inverse = invert_poses(_model_side_poses(hand, side, wrist))
    model_side = points if side == hand.file.side else mirror_points(points)
    return np.asarray(np.einsum("bij,bkj->bki", inverse[:, :3, :3], model_side) + inverse[:, None, :3, 3])


def _solve_points(
    hand: RobotHand, joints: NDArray[np.float64], targets: NDArray[np.float64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """From joints (N, J), the joints that bring the links to targets (N, K, 3) root frame, weights (K,)."""
    residual = ResidualWeights(point=weights, vector=0.0, stay=1e-6, damping=1e-6)
    solved, _ = solve_joints(
        BatchedKinematics(hand),
        targets,
        joints,
        joints,
        hand.lower,
        hand.upper,
        hand.tip_points,
        hand.base_points,
        residual,
        _FIT_ITERATIONS,
    )
    return solved


def fit_to_surface(
    hand: RobotHand,
    side: RobotSide,
    joints: NDArray[np.float64],
    wrist: NDArray[np.float64],
    object_body: ObjectBody,
    config: RobotGraspPhysicsConfig,
) -> NDArray[np.float64]:
    """joints (N, J) of ``side``'s hand at wrist poses (N, 4, 4), object frame -> joints (N, J) within the limits
    whose fingertips near the surface stand ``tip_radius`` out of it and whose other links are out of it."""
    links, _ = link_positions(hand, side, joints, wrist)
    n, k, _ = links.shape
    distance, normal = object_body.signed_distance(links.reshape(-1, 3))
    distance, normal = distance.reshape(n, k), normal.reshape(n, k, 3)
    is_tip = np.zeros(k, dtype=bool)
    is_tip[hand.tip_points] = True
    onto = is_tip & (distance < config.contact_distance)  # a fingertip near the surface: onto it
    out = ~is_tip & (distance < config.tip_radius)  # another link inside or too near: out of it
    out[:, 0] = False  # the wrist is the root: it does not move
    shift = np.where(onto | out, config.tip_radius - distance, 0.0)
    targets = links + shift[..., None] * normal
    weights = np.where(is_tip, 1.0, 0.2)
    weights[0] = 0.0
    return _solve_points(hand, joints, _to_root(hand, side, wrist, targets), weights)


def closing_targets(
    hand: RobotHand,
    side: RobotSide,
    joints: NDArray[np.float64],
    wrist: NDArray[np.float64],
    object_body: ObjectBody,
    config: RobotGraspPhysicsConfig,
) -> NDArray[np.float64]:
    """joints (N, J), wrist (N, 4, 4) object frame -> the position targets (N, J) within the limits that move each
    fingertip to its nearest surface point and ``close_margin`` past it (the other links where they are)."""
    links, _ = link_positions(hand, side, joints, wrist)
    n, k, _ = links.shape
    tips = links[:, hand.tip_points]
    distance, normal = object_body.signed_distance(tips.reshape(-1, 3))
    depth = np.maximum(distance.reshape(n, -1), 0.0) + config.close_margin
    targets = links.copy()
    targets[:, hand.tip_points] = tips - depth[..., None] * normal.reshape(n, -1, 3)
    weights = np.full(k, 0.01)
    weights[hand.tip_points] = 1.0
    weights[0] = 0.0
    return _solve_points(hand, joints, _to_root(hand, side, wrist, targets), weights)


def robot_grasp_model(
    hand: RobotHand,
    object_body: ObjectBody,
    physics: GraspPhysicsConfig,
    config: RobotGraspPhysicsConfig | None = None,
) -> mujoco.MjModel:
    """The scene of the module docstring: body 1 the object (physics/scene.py), then the left and the right
    robot hand, their joints and actuators named ``left/NAME`` and ``right/NAME`` (model order)."""
    config = config or RobotGraspPhysicsConfig()
    spec = object_scene_spec(object_body, physics)
    spec.compiler.degree = False  # joint ranges in radians (MjSpec's default is degrees)
    friction = [physics.friction, physics.torsional_friction, ROLLING_FRICTION]
    for side in SIDES:
        _add_robot_hand(spec, hand, side, friction, (physics.contact_time_constant, 1.0), config)
    return spec.compile()


def _add_robot_hand(
    spec: mujoco.MjSpec,
    hand: RobotHand,
    side: RobotSide,
    friction: list[float],
    solref: tuple[float, float],
    config: RobotGraspPhysicsConfig,
) -> None:
    """The hand's bodies below its root (a mocap body), joints, position actuators and collision geoms; the other
    side than the model's is its mirror image through the root's x = 0 plane (Gamma)."""
    model = hand.model
    mirrored = side != hand.file.side

    def point(v: NDArray[np.floating]) -> list[float]:
        return [float(-v[0]), float(v[1]), float(v[2])] if mirrored else [float(x) for x in v]

    def quat(q: NDArray[np.floating]) -> list[float]:  # Gamma R Gamma: (w, x, y, z) -> (w, x, -y, -z)
        return [float(q[0]), float(q[1]), float(-q[2]), float(-q[3])] if mirrored else [float(x) for x in q]

    bodies = {hand.root_body: spec.worldbody.add_body(name=f"{side}/root", mocap=True)}
    for b in range(hand.root_body + 1, model.nbody):
        parent = int(model.body_parentid[b])
        if parent not in bodies:
            continue
        bodies[b] = bodies[parent].add_body(
            name=f"{side}/{model.body(b).name}",
            pos=point(model.body_pos[b]),
            quat=quat(model.body_quat[b]),
            mass=max(float(model.body_mass[b]), 1e-4),
            ipos=point(model.body_ipos[b]),
            iquat=quat(model.body_iquat[b]),
            inertia=[max(float(x), 1e-8) for x in model.body_inertia[b]],
            explicitinertial=True,
        )
    gain = config.actuator_gain
    for c, j in enumerate(int(j) for j in hand.joint_ids):
        hinge = int(model.jnt_type[j]) == mujoco.mjtJoint.mjJNT_HINGE
        axis = np.asarray(model.jnt_axis[j], dtype=np.float64)
        if mirrored:  # a hinge's axis turns as a rotation does, a slide's as a point does
            axis = np.array([axis[0], -axis[1], -axis[2]]) if hinge else np.array([-axis[0], axis[1], axis[2]])
        name = f"{side}/{model.joint(j).name}"
        limited = bool(np.isfinite(hand.lower[c]) and np.isfinite(hand.upper[c]))
        bodies[int(model.jnt_bodyid[j])].add_joint(
            name=name,
            type=mujoco.mjtJoint.mjJNT_HINGE if hinge else mujoco.mjtJoint.mjJNT_SLIDE,
            axis=axis.tolist(),
            pos=point(model.jnt_pos[j]),
            range=[float(hand.lower[c]), float(hand.upper[c])] if limited else [0.0, 0.0],
            limited=mujoco.mjtLimited.mjLIMITED_TRUE if limited else mujoco.mjtLimited.mjLIMITED_FALSE,
            damping=0.1,
            armature=0.001,
            ref=float(model.qpos0[model.jnt_qposadr[j]]),
        )
        actuator = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        actuator.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        actuator.gainprm[0] = gain
        actuator.biasprm[1] = -gain
        actuator.biasprm[2] = -0.05 * gain
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-config.force_limit, config.force_limit]
    for g in range(model.ngeom):
        b = int(model.geom_bodyid[g])
        if b not in bodies or (int(model.geom_contype[g]) == 0 and int(model.geom_conaffinity[g]) == 0):
            continue  # a visual geom
        kind = int(model.geom_type[g])
        extra = {}
        if kind == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = int(model.geom_dataid[g])
            first, count = int(model.mesh_vertadr[mesh]), int(model.mesh_vertnum[mesh])
            vertices = np.asarray(model.mesh_vert[first : first + count], dtype=np.float64)
            if mirrored:
                vertices = vertices * np.array([-1.0, 1.0, 1.0])
            spec.add_mesh(name=f"{side}/mesh{g}", uservert=vertices.ravel().tolist())
            extra["meshname"] = f"{side}/mesh{g}"
        bodies[b].add_geom(
            name=f"{side}/geom{g}",
            type=mujoco.mjtGeom(kind),
            size=[float(x) for x in model.geom_size[g]],
            pos=point(model.geom_pos[g]),
            quat=quat(model.geom_quat[g]),
            contype=2,
            conaffinity=1,
            condim=4,
            priority=1,
            friction=friction,
            solref=list(solref),
            solimp=list(HAND_SOLIMP),
            mass=0.0,
            **extra,
        )


class _Scene:
    """Indices into a robot_grasp_model and the start of a grasp (module docstring) on one MjData."""

    def __init__(self, model: mujoco.MjModel, hand: RobotHand) -> None:
        self.model, self.hand = model, hand
        self.qpos = {
            s: np.asarray([model.jnt_qposadr[model.joint(f"{s}/{name}").id] for name in hand.joint_names])
            for s in SIDES
        }
        self.mocap = {s: int(model.body_mocapid[model.body(f"{s}/root").id]) for s in SIDES}
        self.side_of_geom = np.full(model.ngeom, -1)
        for g in range(model.ngeom):
            name = model.geom(g).name
            for h, s in enumerate(SIDES):
                if name.startswith(f"{s}/"):
                    self.side_of_geom[g] = h
        self.is_object = np.asarray(model.geom_bodyid == OBJECT_BODY_ID)

    def pose(
        self,
        data: mujoco.MjData,
        wrists: Mapping[RobotSide, NDArray[np.float64] | None],
        joints: Mapping[RobotSide, NDArray[np.float64]],
    ) -> None:
        """Reset, then each hand at its wrist pose (4, 4) (None: parked) and joints (J,); forward."""
        mujoco.mj_resetData(self.model, data)
        for h, s in enumerate(SIDES):
            wrist = wrists[s]
            if wrist is None:
                data.mocap_pos[self.mocap[s]] = ((-1) ** h * _PARKED_M, 0.0, 0.0)
                data.qpos[self.qpos[s]] = self.hand.rest
                continue
            data.mocap_pos[self.mocap[s]] = wrist[:3, 3]
            quaternion = np.zeros(4)
            mujoco.mju_mat2Quat(quaternion, np.ascontiguousarray(wrist[:3, :3]).ravel())
            data.mocap_quat[self.mocap[s]] = quaternion
            data.qpos[self.qpos[s]] = joints[s]
        mujoco.mj_forward(self.model, data)

    def contacts(self, data: mujoco.MjData) -> dict[str, tuple[float | None, NDArray[np.float64]]]:
        """Per side: (deepest penetration of a hand-object contact (None: no contact), sum of the contacts'
        normals pointing from the object into the hand, weighted by depth + 1 mm)."""
        out: dict[str, tuple[float | None, NDArray[np.float64]]] = {s: (None, np.zeros(3)) for s in SIDES}
        for c in range(data.ncon):
            contact = data.contact[c]
            g1, g2 = int(contact.geom1), int(contact.geom2)
            if self.is_object[g1] and self.side_of_geom[g2] >= 0:
                side, sign = SIDES[self.side_of_geom[g2]], 1.0  # MuJoCo's normal points from geom1 to geom2
            elif self.is_object[g2] and self.side_of_geom[g1] >= 0:
                side, sign = SIDES[self.side_of_geom[g1]], -1.0
            else:
                continue
            depth = -float(contact.dist)
            deepest, normal = out[side]
            weight = max(depth, 0.0) + 0.001
            out[side] = (depth if deepest is None else max(deepest, depth), normal + sign * weight * contact.frame[:3])
        return out

    def depths(self, data: mujoco.MjData) -> dict[str, float]:
        """Per side, the deepest hand-object contact, metres (0 if none or apart)."""
        return {s: max(depth or 0.0, 0.0) for s, (depth, _) in self.contacts(data).items()}

    def back_off_and_approach(
        self, data: mujoco.MjData, centre: NDArray[np.float64], config: RobotGraspPhysicsConfig
    ) -> dict[RobotSide, float] | None:
        """Back each hand inside the object off along its contacts' normals, then move each hand not touching in
        towards ``centre`` (module docstring) -> per side the distance backed off (negative: moved in), or None
        when a hand stays inside."""
        moved = dict.fromkeys(SIDES, 0.0)
        active = [s for s in SIDES if data.mocap_pos[self.mocap[s]][0] ** 2 < _PARKED_M**2 / 4]
        for _ in range(int(np.ceil(config.max_back_off / config.back_off_step)) + 1):
            contacts = self.contacts(data)
            inside = [s for s in active if (contacts[s][0] or 0.0) > _TOUCH_TOLERANCE_M]
            if not inside:
                break
            for s in inside:
                if moved[s] >= config.max_back_off:
                    return None
                direction = contacts[s][1]
                norm = float(np.linalg.norm(direction))
                if norm < 1e-9:
                    direction, norm = data.mocap_pos[self.mocap[s]] - centre, 1.0
                    norm = max(float(np.linalg.norm(direction)), 1e-9)
                data.mocap_pos[self.mocap[s]] += config.back_off_step * direction / norm
                moved[s] += config.back_off_step
            mujoco.mj_forward(self.model, data)
        else:
            return None
        for _ in range(int(np.ceil(config.max_back_off / _APPROACH_STEP_M))):
            contacts = self.contacts(data)
            moving = [s for s in active if _apart(contacts[s][0])]
            if not moving:
                break
            for s in moving:
                towards = centre - data.mocap_pos[self.mocap[s]]
                data.mocap_pos[self.mocap[s]] += _APPROACH_STEP_M * towards / max(float(np.linalg.norm(towards)), 1e-9)
                moved[s] -= _APPROACH_STEP_M
            mujoco.mj_forward(self.model, data)
        if config.press_depth > 0:
            contacts = self.contacts(data)
            for s in active:
                depth, normal = contacts[s]
                norm = float(np.linalg.norm(normal))
                if depth is not None and norm > 1e-9:  # pressed along its contacts' inward normal
                    data.mocap_pos[self.mocap[s]] -= config.press_depth * normal / norm
                    moved[s] -= config.press_depth
            mujoco.mj_forward(self.model, data)
        return moved


def _apart(depth: float | None) -> bool:
    """A hand's deepest contact (None: none) -> it does not touch the object."""
    return depth is None or depth < -_APPROACH_STEP_M


def _simulate(
    model: mujoco.MjModel,
    states: NDArray[np.float64],
    controls: NDArray[np.float64],
    physics: GraspPhysicsConfig,
    config: RobotGraspPhysicsConfig,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """B start states (B, nstate FULLPHYSICS) and controls (B, n _CLOSE_CONTROL) -> settle displacement (B,),
    settle rotation (B,), push displacement (B, 6), push rotation (B, 6): rollout's thread pool."""
    b = states.shape[0]
    threads = physics.threads or available_cores()
    datas = [mujoco.MjData(model) for _ in range(min(threads, 6 * b))]
    qpos = slice(1, 1 + model.nq)
    com_local = np.asarray(model.body_ipos[OBJECT_BODY_ID])
    close_steps = max(1, round((config.close_time + physics.settle_time) / physics.timestep))
    damping = model.dof_damping[:6].copy()
    model.dof_damping[:3] = model.body_mass[OBJECT_BODY_ID] / SETTLE_DAMPING_S
    model.dof_damping[3:6] = model.body_inertia[OBJECT_BODY_ID] / SETTLE_DAMPING_S
    try:
        closed, _ = rollout.rollout(
            model,
            datas,
            states,
            controls[:, None, :],
            control_spec=int(_CLOSE_CONTROL),
            nstep=close_steps,
            initial_warmstart=np.zeros((b, model.nv)),  # no solver warm start from the thread's last rollout
        )
    finally:
        model.dof_damping[:6] = damping
    settled = closed[:, -1]
    settle_disp, settle_rot = object_motion(states[:, qpos][:, :7], settled[:, qpos][:, :7], com_local)
    settle_disp[~ran_through(closed, close_steps, physics.timestep, states[:, 0])] = np.inf

    push_steps = max(1, round(physics.push_time / physics.timestep))
    push = _push_controls(
        model, controls, float(model.body_mass[OBJECT_BODY_ID]) * GRAVITY_M_S2 * physics.push_force_factor
    )
    pushed, _ = rollout.rollout(
        model,
        datas,
        np.repeat(settled, 6, axis=0),
        push[:, None, :],
        control_spec=int(_PUSH_CONTROL),
        nstep=push_steps,
        initial_warmstart=np.zeros((6 * b, model.nv)),
    )
    poses = pushed[:, :, qpos][:, :, :7].reshape(b, 6, push_steps, 7)
    disp, rot = object_motion(np.repeat(settled[:, None, None, qpos][..., :7], 6, axis=1), poses, com_local)
    disp, rot = disp.max(axis=-1), rot.max(axis=-1)
    ran = ran_through(pushed, push_steps, physics.timestep, settled[:, 0].repeat(6)).reshape(b, 6)
    disp[~ran] = np.inf
    return settle_disp, settle_rot, disp, rot


def _push_controls(model: mujoco.MjModel, controls: NDArray[np.float64], force: float) -> NDArray[np.float64]:
    """(B, n _CLOSE_CONTROL) -> (6 B, n _PUSH_CONTROL): the same targets and poses, the force along each direction."""
    data = mujoco.MjData(model)
    out = np.zeros((controls.shape[0] * 6, mujoco.mj_stateSize(model, _PUSH_CONTROL)))
    for i, control in enumerate(controls):
        mujoco.mj_setState(model, data, control, _CLOSE_CONTROL)
        for d, direction in enumerate(DIRECTION_VECTORS):
            data.xfrc_applied[:] = 0.0
            data.xfrc_applied[OBJECT_BODY_ID, :3] = force * direction
            mujoco.mj_getState(model, data, out[6 * i + d], _PUSH_CONTROL)
    return out


def simulate_reference(
    model: mujoco.MjModel,
    state: NDArray[np.float64],
    control: NDArray[np.float64],
    physics: GraspPhysicsConfig,
    config: RobotGraspPhysicsConfig,
) -> tuple[float, float, NDArray[np.float64], NDArray[np.float64]]:
    """One grasp's start state and control (as _simulate takes them) -> the same four figures, by ``mj_step`` in a
    Python loop: the slow reference of the rollout path."""
    data = mujoco.MjData(model)
    com_local = np.asarray(model.body_ipos[OBJECT_BODY_ID])
    close_steps = max(1, round((config.close_time + physics.settle_time) / physics.timestep))
    damping = model.dof_damping[:6].copy()
    model.dof_damping[:3] = model.body_mass[OBJECT_BODY_ID] / SETTLE_DAMPING_S
    model.dof_damping[3:6] = model.body_inertia[OBJECT_BODY_ID] / SETTLE_DAMPING_S
    try:
        mujoco.mj_resetData(model, data)
        mujoco.mj_setState(model, data, state, _FULL)
        mujoco.mj_setState(model, data, control, _CLOSE_CONTROL)
        for _ in range(close_steps):
            mujoco.mj_step(model, data)
    finally:
        model.dof_damping[:6] = damping
    settled = np.zeros_like(state)
    mujoco.mj_getState(model, data, settled, _FULL)
    start_pose, settled_pose = state[1:8], settled[1:8]
    settle_disp, settle_rot = object_motion(start_pose, settled_pose, com_local)
    push = _push_controls(
        model, control[None], float(model.body_mass[OBJECT_BODY_ID]) * GRAVITY_M_S2 * physics.push_force_factor
    )
    push_steps = max(1, round(physics.push_time / physics.timestep))
    disp, rot = np.zeros(6), np.zeros(6)
    for d in range(6):
        mujoco.mj_resetData(model, data)  # as each rollout starts: no warm start of the contact solver
        mujoco.mj_setState(model, data, settled, _FULL)
        mujoco.mj_setState(model, data, push[d], _PUSH_CONTROL)
        for _ in range(push_steps):
            mujoco.mj_step(model, data)
            step_disp, step_rot = object_motion(settled_pose, data.qpos[:7].copy(), com_local)
            disp[d], rot[d] = max(disp[d], float(step_disp)), max(rot[d], float(step_rot))
    return float(settle_disp), float(settle_rot), disp, rot
