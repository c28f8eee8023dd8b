"""A robot hand ready for retargeting: its model, joints, limits and the points that stand at human keypoints.

Built from a robot hand file (io/robot_hand_files.py) by :func:`load_robot_hand`: ``"shadow"`` is the
shipped Shadow Dexterous Hand (assets/robots/shadow/, from gymnasium-robotics, MIT / Apache-2.0),
any other name is the path of a YAML. Everything here is in the frame of the hand's ``root`` body
(metres), the frame its wrist pose places in the input frame.

    joints   the hinge and slide joints below the root, in model order: names, limits (J,), rest (J,)
             (the model's reference pose clipped into the limits)
    points   K = 1 + sum over fingers of (2 or 4): the wrist, then per finger base, middle links, tip;
             each a body origin or a site, with the human keypoint it stands at
    frame    the palm's frame of the rest pose (hand_frame.py), from the wrist and the bases of the
             fingers besides the thumb (those fixed to the root, where two or more are: Shadow's
             little finger base moves with LFJ4); the human hand's frame is made the same way
    length   wrist -> base -> middle links -> tip of the middle finger (or the first finger besides the
             thumb) at rest, for the automatic scale; ``hand_length_m`` in the YAML overrides it
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import RobotFingersError, RobotModelError
from interhandgen_core.io.robot_hand_files import RobotHandFile, load_robot_model, read_robot_hand_file
from interhandgen_core.retargeting.hand_frame import hand_frame

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "robots"
SHIPPED_ROBOTS = {"shadow": ASSETS / "shadow" / "shadow_right.yaml"}


@dataclasses.dataclass(frozen=True, eq=False)
class RobotHand:
    """A robot hand's kinematics for retargeting (module docstring); arrays float64, root frame, metres."""

    file: RobotHandFile
    model: mujoco.MjModel
    root_body: int
    joint_names: tuple[str, ...]
    joint_ids: NDArray[np.int64]  # (J,) model joint ids
    lower: NDArray[np.float64]  # (J,) radians (hinge) or metres (slide); -inf where unlimited
    upper: NDArray[np.float64]  # (J,)
    rest: NDArray[np.float64]  # (J,)
    point_names: tuple[str, ...]  # (K,) link names
    point_bodies: NDArray[np.int64]  # (K,) body id of each point
    point_offsets: NDArray[np.float64]  # (K, 3) position in its body's frame (a site's, 0 for a body)
    point_keypoints: NDArray[np.int64]  # (K,) human keypoint index
    finger_names: tuple[str, ...]  # (F,)
    tip_points: NDArray[np.int64]  # (F,) index into the points
    base_points: NDArray[np.int64]  # (F,)
    frame_points: NDArray[np.int64]  # bases of the fingers besides the thumb, index side first
    length_points: NDArray[np.int64]  # the chain whose length is the hand's length
    rest_points: NDArray[np.float64]  # (K, 3) at rest, root frame
    rest_frame: NDArray[np.float64]  # (4, 4) the palm's frame at rest, in the root frame
    length_m: float

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)


def robot_hand_path(robot: str | Path) -> Path:
    """'shadow' (a shipped robot) or a YAML path -> the YAML's path."""
    return SHIPPED_ROBOTS.get(str(robot), Path(robot))


def load_robot_hand(robot: str | Path) -> RobotHand:
    """'shadow' or the path of a robot hand YAML -> RobotHand (errors: io/robot_hand_files.py)."""
    file = read_robot_hand_file(robot_hand_path(robot))
    model = load_robot_model(file)
    return robot_hand_from_model(file, model)


def robot_hand_from_model(file: RobotHandFile, model: mujoco.MjModel) -> RobotHand:
    """The file's links resolved in ``model`` -> RobotHand; RobotFingersError for fingers that are not
    separate chains of joints below the root."""
    root = model.body(file.root).id
    subtree = _subtree(model, root)
    joint_ids = [
        j for j in range(model.njnt) if int(model.jnt_bodyid[j]) in subtree and int(model.jnt_bodyid[j]) != root
    ]
    for j in joint_ids:
        if int(model.jnt_type[j]) not in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            raise RobotModelError(
                f"{file.model_path}: joint '{model.joint(j).name}' below the root is a ball or free joint; "
                "a robot hand's joints must be hinge or slide joints"
            )
    if not joint_ids:
        raise RobotFingersError(f"{file.source}: the model has no hinge or slide joint below root '{file.root}'")
    names, bodies, offsets, keypoints = [file.wrist], [], [], [0]
    for finger in file.fingers:
        names.extend(finger.links)
        keypoints.extend(finger.keypoints)
    for link in names:
        body, offset = _link(model, link)
        if body not in subtree:
            raise RobotFingersError(
                f"{file.source}: '{link}' is not below the root '{file.root}'; every link must move with the hand"
            )
        bodies.append(body)
        offsets.append(offset)
    tip_points, base_points = [], []
    index = 1
    for finger in file.fingers:
        base_points.append(index)
        index += len(finger.links)
        tip_points.append(index - 1)
    body_array = np.asarray(bodies, dtype=np.int64)
    _check_separate_fingers(file, model, root, body_array[tip_points], joint_ids)
    lower = np.where(model.jnt_limited[joint_ids] > 0, model.jnt_range[joint_ids, 0], -np.inf)
    upper = np.where(model.jnt_limited[joint_ids] > 0, model.jnt_range[joint_ids, 1], np.inf)
    rest = np.clip(model.qpos0[model.jnt_qposadr[joint_ids]], lower, upper)
    rest_points = _rest_points(model, root, joint_ids, rest, body_array, np.asarray(offsets))
    others = [k for k, f in enumerate(file.fingers) if f.name != "thumb"]
    # The palm's frame from the bases fixed to the root where two or more are (Shadow's little finger
    # base moves with LFJ4, a human's knuckles do not), else from all of them.
    fixed = [k for k in others if not _moves(model, int(body_array[base_points[k]]), joint_ids)]
    frame_points = np.asarray([base_points[k] for k in (fixed if len(fixed) >= 2 else others)], dtype=np.int64)
    rest_frame = hand_frame(rest_points[None, 0], rest_points[None, frame_points])[0]
    if not np.isfinite(rest_frame).all():
        raise RobotFingersError(
            f"{file.source}: the wrist and the finger bases are in a line at rest; they cannot give the palm's frame"
        )
    chain_finger = next((k for k, f in enumerate(file.fingers) if f.name == "middle"), others[0])
    start = base_points[chain_finger]
    length_points = np.asarray([0, *range(start, tip_points[chain_finger] + 1)], dtype=np.int64)
    chain = rest_points[length_points]
    length = file.hand_length_m or float(np.linalg.norm(np.diff(chain, axis=0), axis=-1).sum())
    return RobotHand(
        file=file,
        model=model,
        root_body=root,
        joint_names=tuple(model.joint(j).name for j in joint_ids),
        joint_ids=np.asarray(joint_ids, dtype=np.int64),
        lower=lower.astype(np.float64),
        upper=upper.astype(np.float64),
        rest=rest.astype(np.float64),
        point_names=tuple(names),
        point_bodies=body_array,
        point_offsets=np.asarray(offsets, dtype=np.float64),
        point_keypoints=np.asarray(keypoints, dtype=np.int64),
        finger_names=tuple(f.name for f in file.fingers),
        tip_points=np.asarray(tip_points, dtype=np.int64),
        base_points=np.asarray(base_points, dtype=np.int64),
        frame_points=frame_points,
        length_points=length_points,
        rest_points=rest_points,
        rest_frame=rest_frame,
        length_m=length,
    )


def _subtree(model: mujoco.MjModel, root: int) -> set[int]:
    """Body ids of ``root`` and its descendants (MuJoCo numbers a parent before its children)."""
    inside = {root}
    for body in range(root + 1, model.nbody):
        if int(model.body_parentid[body]) in inside:
            inside.add(body)
    return inside


def _link(model: mujoco.MjModel, name: str) -> tuple[int, NDArray[np.float64]]:
    """A site (its body, its position there) or a body (itself, its origin)."""
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)
    if site >= 0:
        return int(model.site_bodyid[site]), np.asarray(model.site_pos[site], dtype=np.float64)
    return int(model.body(name).id), np.zeros(3)


def _ancestors(model: mujoco.MjModel, body: int, root: int) -> set[int]:
    chain = {body}
    while body != root and body > 0:
        body = int(model.body_parentid[body])
        chain.add(body)
    return chain


def _moves(model: mujoco.MjModel, body: int, joint_ids: list[int]) -> bool:
    """Some retargeted joint moves the origin of ``body`` (MuJoCo's Jacobian at the reference pose)."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    jac = np.zeros((3, model.nv))
    mujoco.mj_jac(model, data, jac, None, data.xpos[body], body)
    return bool(np.abs(jac[:, model.jnt_dofadr[joint_ids]]).max() > 1e-9)


def _check_separate_fingers(
    file: RobotHandFile, model: mujoco.MjModel, root: int, tip_bodies: NDArray[np.int64], joint_ids: list[int]
) -> None:
    moving: list[frozenset[int]] = []
    for finger, body in zip(file.fingers, tip_bodies, strict=True):
        chain = _ancestors(model, int(body), root)
        joints = frozenset(j for j in joint_ids if int(model.jnt_bodyid[j]) in chain)
        if not joints:
            raise RobotFingersError(
                f"{file.source}: fingers.{finger.name}.tip '{finger.tip}' has no joint between it and the root; "
                "a finger must have joints of its own"
            )
        moving.append(joints)
    for a in range(len(moving)):
        for b in range(a + 1, len(moving)):
            if moving[a] <= moving[b] or moving[b] <= moving[a]:
                first, second = file.fingers[a], file.fingers[b]
                raise RobotFingersError(
                    f"{file.source}: fingers.{first.name} and fingers.{second.name} are on one chain of joints "
                    f"('{first.tip}', '{second.tip}'); the model has fewer separate fingers than the mapping "
                    "names: map each finger to its own chain, or leave one out"
                )


def _rest_points(
    model: mujoco.MjModel,
    root: int,
    joint_ids: list[int],
    rest: NDArray[np.float64],
    bodies: NDArray[np.int64],
    offsets: NDArray[np.float64],
) -> NDArray[np.float64]:
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    data.qpos[model.jnt_qposadr[joint_ids]] = rest
    mujoco.mj_kinematics(model, data)
    world = data.xpos[bodies] + np.einsum("kij,kj->ki", data.xmat[bodies].reshape(-1, 3, 3), offsets)
    rotation = data.xmat[root].reshape(3, 3)
    return np.asarray((world - data.xpos[root]) @ rotation, dtype=np.float64)
