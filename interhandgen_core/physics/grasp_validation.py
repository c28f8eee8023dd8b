"""Physics validation of a batch of grasps of one object: which of six pushes does each grasp hold?

Protocol (configuration.py's docstring for the numbers and their sources), per grasp:
    1. press   each hand translated ``press_depth`` onto the object (physics/pressing.py); a grasp
               whose hands start deeper than ``max_initial_penetration`` fails every direction
    2. settle  ``settle_time`` with the object's motion damped (time constant 20 ms) and no force;
               the object must stay within the thresholds of where it started
    3. push    from the settled state, for each of DIRECTIONS in turn, the object's weight x
               ``push_force_factor`` at its centre of mass for ``push_time``, undamped; the push is
               held while the centre of mass stays within ``max_displacement`` and the rotation
               within ``max_rotation_deg`` of the settled pose, at every step
Held per direction = not too deep, settled, and the push held; success = all six held. A
simulation that diverged (MuJoCo reset it) counts as moved infinitely far.

Speed: the object's parts are built once (physics/object_body.py) and shared; each grasp's model
is compiled once (its hands' parts differ; ``threads`` compile at once) and its six pushes start
from one settled state; all grasps' simulations run on ``mujoco.rollout``'s thread pool. A
grasp's results do not depend on the other grasps of the batch nor on the thread count (each
has its own model; tests/physics/test_grasp_validation.py checks it).

Shapes: N grasps, H hands (two for a bimanual grasp), V vertices per hand; object frame, metres.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

import mujoco
import numpy as np
from mujoco import rollout
from numpy.typing import NDArray

from interhandgen_core.errors import DataError
from interhandgen_core.physics.array_input import float_array
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.hand_bodies import HandParts
from interhandgen_core.physics.object_body import ObjectBody
from interhandgen_core.physics.pressing import press_directions
from interhandgen_core.physics.scene import OBJECT_BODY_ID, grasp_model

DIRECTIONS: tuple[str, ...] = ("+x", "-x", "+y", "-y", "+z", "-z")
DIRECTION_VECTORS = np.array(
    [[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [0, 0, -1.0]]
)  # (6, 3), in DIRECTIONS order
GRAVITY_M_S2 = 9.81
# Time constant of the object's damping while it settles (seconds); retargeting/robot_grasp_physics.py reuses it.
SETTLE_DAMPING_S = 0.02
# Grasps simulated per rollout call: bounds the memory of models and trajectories.
_GRASP_CHUNK = 64


@dataclass(frozen=True)
class PosedHands:
    """One hand of every grasp: vertices (N, V, 3) metres, object frame (numpy or torch), and its parts."""

    vertices: Any
    parts: HandParts


_Outcome = TypeVar("_Outcome", bound="PushOutcome")


@dataclass(frozen=True, kw_only=True)
class PushOutcome:
    """What the six pushes did to N grasps, whichever hands held them (this module's rigid hands, or
    retargeting/robot_grasp_physics.py's robot hands, which subclass it); directions in DIRECTIONS order
    (+x, -x, +y, -y, +z, -z).

    held                  (N, 6) bool: the push along that direction was held (module docstring)
    displacement_m        (N, 6) largest displacement of the centre of mass during the push, metres
    rotation_deg          (N, 6) largest rotation during the push, degrees
    settle_displacement_m (N,) displacement while settling (after the press, no push), metres
    settle_rotation_deg   (N,) rotation while settling, degrees
    initial_penetration_m (N,) deepest part of the hands inside the object at the start, metres
    seconds               wall time of the validation (not the object's build)
    """

    DIRECTIONS: ClassVar[tuple[str, ...]] = DIRECTIONS

    held: NDArray[np.bool_]
    displacement_m: NDArray[np.float64]
    rotation_deg: NDArray[np.float64]
    settle_displacement_m: NDArray[np.float64]
    settle_rotation_deg: NDArray[np.float64]
    initial_penetration_m: NDArray[np.float64]
    seconds: float

    @property
    def success(self) -> NDArray[np.bool_]:
        """(N,) bool: all six directions held."""
        return np.asarray(self.held.all(axis=1))

    def select(self: _Outcome, index: NDArray[np.int64]) -> _Outcome:
        """The rows ``index`` (K,), in that order (the same seconds)."""
        rows = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "seconds"}
        return replace(self, **rows)

    def scattered(self: _Outcome, index: NDArray[np.int64], num: int) -> _Outcome:
        """These K rows placed at ``index`` (K,) of ``num`` grasps; the others were not tried: nothing held, their
        figures NaN (``tried`` tells them apart)."""
        rows: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "seconds":
                continue
            values = getattr(self, f.name)
            shape = (num, *values.shape[1:])
            full = np.zeros(shape, dtype=bool) if values.dtype == np.bool_ else np.full(shape, np.nan)
            full[index] = values
            rows[f.name] = full
        return replace(self, **rows)

    @property
    def tried(self) -> NDArray[np.bool_]:
        """(N,) bool: the grasp was simulated. Only ``scattered`` leaves rows untried, NaN; a simulated grasp's
        figures are numbers (inf where the simulation diverged, or the robot hands could not start: failed)."""
        return np.asarray(~np.isnan(self.settle_displacement_m))

    @property
    def num_grasps(self) -> int:
        return int(self.held.shape[0])

    @property
    def grasps_per_second(self) -> float:
        """Grasps simulated per second of ``seconds``."""
        return int(self.tried.sum()) / max(self.seconds, 1e-9)

    def summary(self) -> str:
        """One line: success rate, per-direction rates, speed; of the grasps tried where not all were."""
        tried = self.tried
        per_direction = ", ".join(
            f"{name} {100 * rate:.0f}%" for name, rate in zip(DIRECTIONS, self.held[tried].mean(axis=0), strict=True)
        )
        success = 100 * self.success[tried].mean()
        head = (
            f"{self.num_grasps} grasps: {success:.1f}% hold"
            if tried.all()
            else f"{int(tried.sum())} of {self.num_grasps} grasps tried: {success:.1f}% of them hold"
        )
        return (
            f"{head} in all six directions (held per direction: {per_direction}); {self.grasps_per_second:.1f} grasps/s"
        )


@dataclass(frozen=True, kw_only=True)
class GraspPhysicsResult(PushOutcome):
    """PushOutcome of this module's rigid hands (``initial_penetration_m``: the deepest hand vertex inside
    the object before the press), and

    press_direction       (N, H, 3) unit press direction of each hand (zero: not pressed)
    """

    press_direction: NDArray[np.float64]


def validate_grasps(
    object_body: ObjectBody, hands: Sequence[PosedHands], config: GraspPhysicsConfig | None = None
) -> GraspPhysicsResult:
    """N grasps of one object by the same H hands -> GraspPhysicsResult (module docstring for the protocol).

    object_body: from object_body_from_mesh / object_body_from_points, built once per object.
    hands: H PosedHands (two for a bimanual grasp: left, right), each (N, V_h, 3) in the object frame.
    """
    config = config or GraspPhysicsConfig()
    start = time.perf_counter()
    vertices = [
        float_array(h.vertices, f"hand {i} vertices", (h.parts.num_vertices, 3), 3) for i, h in enumerate(hands)
    ]
    n = vertices[0].shape[0] if vertices else 0
    if any(v.shape[0] != n for v in vertices):
        raise DataError(f"every hand needs the same number of grasps, got {[v.shape[0] for v in vertices]}")
    if n == 0:
        raise DataError("physics validation needs at least one grasp with at least one hand")
    press = press_directions(object_body, vertices, config.contact_band)
    pressed = [v + config.press_depth * press.direction[:, h, None, :] for h, v in enumerate(vertices)]

    def model_of(i: int) -> mujoco.MjModel:
        return grasp_model(
            object_body, [hand.parts.split(p[i]) for hand, p in zip(hands, pressed, strict=True)], config
        )

    threads = config.threads or available_cores()
    settle_disp, settle_rot = np.zeros(n), np.zeros(n)
    push_disp, push_rot = np.zeros((n, 6)), np.zeros((n, 6))
    with ThreadPoolExecutor(threads) as pool:  # MuJoCo's compiler releases the GIL
        for first in range(0, n, _GRASP_CHUNK):  # memory chunks; each chunk runs on the thread pools
            rows = slice(first, min(n, first + _GRASP_CHUNK))
            models = list(pool.map(model_of, range(rows.start, rows.stop)))
            settle_disp[rows], settle_rot[rows], push_disp[rows], push_rot[rows] = _simulate(models, threads, config)

    settled = (settle_disp <= config.max_displacement) & (settle_rot <= config.max_rotation_deg)
    shallow = press.penetration <= config.max_initial_penetration
    held = (
        (push_disp <= config.max_displacement)
        & (push_rot <= config.max_rotation_deg)
        & settled[:, None]
        & shallow[:, None]
    )
    return GraspPhysicsResult(
        held=held,
        displacement_m=push_disp,
        rotation_deg=push_rot,
        settle_displacement_m=settle_disp,
        settle_rotation_deg=settle_rot,
        initial_penetration_m=press.penetration,
        press_direction=press.direction,
        seconds=time.perf_counter() - start,
    )


def _simulate(
    models: list[mujoco.MjModel], threads: int, config: GraspPhysicsConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """B models -> settle displacement (B,), settle rotation (B,), push displacement (B, 6), push rotation (B, 6)."""
    b = len(models)
    model = models[0]
    datas = [mujoco.MjData(model) for _ in range(min(threads, 6 * b))]
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    initial = np.empty(mujoco.mj_stateSize(model, full))
    mujoco.mj_getState(model, datas[0], initial, full)  # time 0, object at rest at the origin
    qpos = slice(1, 1 + model.nq)  # after the time
    com_local = np.stack([m.body_ipos[OBJECT_BODY_ID] for m in models])  # (B, 3)
    start_pose = initial[qpos]

    settle_steps = round(config.settle_time / config.timestep)
    if settle_steps > 0:
        for m in models:
            m.dof_damping[:3] = m.body_mass[OBJECT_BODY_ID] / SETTLE_DAMPING_S
            m.dof_damping[3:6] = m.body_inertia[OBJECT_BODY_ID] / SETTLE_DAMPING_S
        states, _ = rollout.rollout(models, datas, np.tile(initial, (b, 1)), nstep=settle_steps)
        for m in models:
            m.dof_damping[:] = 0.0
        settled = states[:, -1]
        settle_ok = ran_through(states, settle_steps, config.timestep)
    else:
        settled = np.tile(initial, (b, 1))
        settle_ok = np.ones(b, dtype=bool)
    settle_disp, settle_rot = object_motion(start_pose[None], settled[:, qpos], com_local)
    settle_disp[~settle_ok] = np.inf

    push_steps = max(1, round(config.push_time / config.timestep))
    forces = np.zeros((b, 6, model.nbody, 6))
    weight = np.array([m.body_mass[OBJECT_BODY_ID] for m in models]) * GRAVITY_M_S2 * config.push_force_factor
    forces[:, :, OBJECT_BODY_ID, :3] = weight[:, None, None] * DIRECTION_VECTORS[None]
    states, _ = rollout.rollout(
        [m for m in models for _ in DIRECTIONS],
        datas,
        np.repeat(settled, len(DIRECTIONS), axis=0),
        forces.reshape(b * 6, 1, -1),
        control_spec=int(mujoco.mjtState.mjSTATE_XFRC_APPLIED),
        nstep=push_steps,
    )
    poses = states[:, :, qpos].reshape(b, 6, push_steps, -1)
    disp, rot = object_motion(
        np.repeat(settled[:, None, None, qpos], 6, axis=1), poses, com_local[:, None, None, :]
    )  # (B, 6, T)
    disp, rot = disp.max(axis=-1), rot.max(axis=-1)
    ran = ran_through(states, push_steps, config.timestep, settled[:, 0].repeat(6)).reshape(b, 6)
    disp[~ran] = np.inf
    return settle_disp, settle_rot, disp, rot


def ran_through(
    states: NDArray[np.float64], steps: int, timestep: float, start_time: NDArray[np.float64] | float = 0.0
) -> NDArray[np.bool_]:
    """states (B, T, nstate) -> (B,) bool: the simulation's clock ran all its steps.

    MuJoCo resets a simulation that diverges (time and pose back to the start), which would read
    as an object that did not move; a reset shows as a clock that fell back.
    """
    end = states[:, -1, 0]
    return np.asarray(np.abs(end - (start_time + steps * timestep)) < 0.5 * timestep)


def object_motion(
    before: NDArray[np.float64], after: NDArray[np.float64], com_local: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Free-joint poses (..., 7) (position, quaternion w x y z) -> centre-of-mass displacement (m), rotation (deg)."""
    com_before = before[..., :3] + _rotate(before[..., 3:7], com_local)
    com_after = after[..., :3] + _rotate(after[..., 3:7], com_local)
    q0 = before[..., 3:7] / np.linalg.norm(before[..., 3:7], axis=-1, keepdims=True)
    q1 = after[..., 3:7] / np.linalg.norm(after[..., 3:7], axis=-1, keepdims=True)
    cos_half = np.clip(np.abs((q0 * q1).sum(-1)), 0.0, 1.0)
    return np.linalg.norm(com_after - com_before, axis=-1), np.degrees(2.0 * np.arccos(cos_half))


def _rotate(quat: NDArray[np.float64], vector: NDArray[np.float64]) -> NDArray[np.float64]:
    """quat (..., 4) w x y z, vector (..., 3) broadcastable -> the rotated vector."""
    xyz, vector = np.broadcast_arrays(quat[..., 1:], vector)
    t = 2.0 * np.cross(xyz, vector)
    return vector + quat[..., :1] * t + np.cross(xyz, t)


def available_cores() -> int:
    """CPU cores this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
