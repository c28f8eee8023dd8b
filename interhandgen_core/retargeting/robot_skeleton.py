"""A robot hand as a skeleton to draw: its bodies below the root and its mapped sites, input frame.

joint_positions: (B, J) radians, wrist_pose: (B, 4, 4) input frame (RobotHandCommands) ->
points (B, P, 3) metres, input frame, and edges (E, 2) into the points (each body to its parent,
each site to its body). MuJoCo's forward kinematics row by row: for previews of a few frames.
A row whose wrist pose is NaN (a hand never seen) gives NaN points.
"""

from __future__ import annotations

import mujoco
import numpy as np
from numpy.typing import NDArray

from interhandgen_core.io.robot_hand_files import RobotSide
from interhandgen_core.retargeting.hand_frame import mirror_points
from interhandgen_core.retargeting.robot_hand import RobotHand


def robot_skeleton(
    hand: RobotHand, joint_positions: NDArray[np.floating], wrist_pose: NDArray[np.floating], side: RobotSide
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """-> (points (B, P, 3) input frame, edges (E, 2)); the other side than the model's is mirrored (Gamma)."""
    model = hand.model
    bodies = [b for b in range(hand.root_body, model.nbody) if _below(model, b, hand.root_body)]
    slot = {b: i for i, b in enumerate(bodies)}
    sites = [
        s
        for s in (mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name) for name in hand.point_names)
        if s >= 0 and int(model.site_bodyid[s]) in slot
    ]
    edges = [(slot[b], slot[int(model.body_parentid[b])]) for b in bodies if b != hand.root_body]
    edges += [(len(bodies) + i, slot[int(model.site_bodyid[s])]) for i, s in enumerate(sites)]
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    joints = np.asarray(joint_positions, dtype=np.float64)
    poses = np.asarray(wrist_pose, dtype=np.float64)
    points = np.full((joints.shape[0], len(bodies) + len(sites), 3), np.nan)
    for row in range(joints.shape[0]):  # a preview draws a few frames; MuJoCo one at a time
        data.qpos[model.jnt_qposadr[hand.joint_ids]] = joints[row]
        mujoco.mj_kinematics(model, data)
        rotation, origin = data.xmat[hand.root_body].reshape(3, 3), data.xpos[hand.root_body]
        world = np.concatenate([data.xpos[bodies], data.site_xpos[sites]]) if sites else data.xpos[bodies]
        local = (world - origin) @ rotation
        pose = poses[row]
        if side != hand.file.side:  # the pose is the mirrored one: draw the mirror image of the model's hand
            pose = np.diag([-1.0, 1.0, 1.0, 1.0]) @ pose @ np.diag([-1.0, 1.0, 1.0, 1.0])
        placed = local @ pose[:3, :3].T + pose[:3, 3]
        points[row] = mirror_points(placed) if side != hand.file.side else placed
    return points, np.asarray(edges, dtype=np.int64).reshape(-1, 2)


def _below(model: mujoco.MjModel, body: int, root: int) -> bool:
    while body > root:
        body = int(model.body_parentid[body])
    return body == root
