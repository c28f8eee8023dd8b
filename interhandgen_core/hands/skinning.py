"""Linear blend skinning of a MANO-format hand: shape blend, pose blend, kinematic chain, skinning.

Notation (MANO, Romero et al. 2017 -> code):
    T_bar            v_template   (V, 3)       template vertices, metres, model frame
    B_S(beta)        shapedirs    (V, 3, L)    shape blend shapes
    B_P(theta)       posedirs     (P, V * 3)   pose blend shapes, P = 9 (J - 1), smplx's layout
    J(beta)          j_regressor  (J, V)       joint regressor
    W                weights      (V, J)       skinning weights
    R_j              rot_mats     (B, J, 3, 3) joint rotations relative to the parent; j = 0 the root
    parents          parents      J ints       kinematic tree, parents[0] = -1

The formulas are smplx's ``lbs`` with ``pose2rot=False``; tests/hands/test_skinning.py compares
the two. This implementation exists because smplx walks the kinematic chain by indexing a list
with entries of a parents *tensor*: on a GPU every joint then reads a value back to the host, a
synchronisation per joint that also makes the sampler impossible to capture as a CUDA graph
(runtime/cuda_graph.py). Here ``parents`` is a tuple of Python ints, so the chain is pure kernels.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor


def linear_blend_skinning(
    betas: Tensor,
    rot_mats: Tensor,
    v_template: Tensor,
    shapedirs: Tensor,
    posedirs: Tensor,
    j_regressor: Tensor,
    parents: Sequence[int],
    weights: Tensor,
    rest_joints: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """betas (B, L), rot_mats (B, J, 3, 3) -> (vertices (B, V, 3), joints (B, J, 3)), metres, model frame.

    The root rotates about the rest-pose root joint J_0(beta), which stays where it is.
    ``rest_joints`` (B, J, 3), J(beta) when the caller has it: then v_template, shapedirs, posedirs
    and weights may hold a subset of the vertices (their rows / columns only), and only those are
    skinned (``rest_joints_regressor`` makes J(beta) without the full mesh); j_regressor is unused.
    """
    batch, num_joints = rot_mats.shape[:2]
    v_shaped = v_template + torch.einsum("bl,vkl->bvk", betas, shapedirs)
    rest = torch.einsum("jv,bvk->bjk", j_regressor, v_shaped) if rest_joints is None else rest_joints  # J(beta)
    eye = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
    pose_feature = (rot_mats[:, 1:] - eye).reshape(batch, -1)
    v_posed = v_shaped + (pose_feature @ posedirs).reshape(batch, -1, 3)

    rotations, joints = kinematic_chain(rot_mats, rest, parents)

    # Joint j moves a rest-pose point x to R_j (x - J_j) + joints_j; blend those affine maps per vertex.
    shifts = joints - (rotations @ rest[..., None])[..., 0]
    affine = torch.cat([rotations, shifts[..., None]], dim=-1).reshape(batch, num_joints, 12)
    blended = (weights @ affine).reshape(batch, -1, 3, 4)  # (B, V, 3, 4)
    vertices = (blended[..., :3] @ v_posed[..., None])[..., 0] + blended[..., 3]
    return vertices, joints


def rest_joints_regressor(v_template: Tensor, shapedirs: Tensor, j_regressor: Tensor) -> tuple[Tensor, Tensor]:
    """-> (J_bar (J, 3), J_S (J, 3, L)) with J(beta) = J_bar + J_S beta: the joint regressor applied to the
    template and to the shape blend shapes once, so that J(beta) needs no mesh (it is linear in beta)."""
    return j_regressor @ v_template, torch.einsum("jv,vkl->jkl", j_regressor, shapedirs)


def kinematic_chain(rot_mats: Tensor, rest: Tensor, parents: Sequence[int]) -> tuple[Tensor, Tensor]:
    """rot_mats (B, J, 3, 3) relative rotations, rest (B, J, 3) rest joints, parents J ints (tree, parents[0] = -1)
    -> (world rotations (B, J, 3, 3), world joint positions (B, J, 3)), the root kept at rest[:, 0].

    A hand's tree is C chains of D joints hanging from the root, numbered chain by chain (MANO:
    5 fingers of 3 joints): then the chains go down together, one batched step per depth (3 steps
    for MANO, not 15: far fewer autograd nodes for one hand, which a per-frame fit pays for), by
    slicing and reshaping only (no index tensor made from host data, so nothing to copy to a GPU
    inside a captured graph). Any other tree goes joint by joint (``kinematic_chain_reference``,
    against which tests/hands/test_skinning.py checks this).
    """
    shape = _equal_chains(tuple(parents))
    if shape is None:
        return kinematic_chain_reference(rot_mats, rest, parents)
    chains, depth = shape
    batch = rot_mats.shape[0]
    relative = rot_mats[:, 1:].reshape(batch, chains, depth, 3, 3)
    rest_chains = rest[:, 1:].reshape(batch, chains, depth, 3)
    world_rot = rot_mats[:, :1].expand(batch, chains, 3, 3)
    world_pos = rest[:, :1].expand(batch, chains, 3)
    parent_rest = world_pos
    rotations, positions = [], []
    for d in range(depth):
        offset = (rest_chains[:, :, d] - parent_rest)[..., None]
        world_pos = world_pos + (world_rot @ offset)[..., 0]
        world_rot = world_rot @ relative[:, :, d]
        parent_rest = rest_chains[:, :, d]
        rotations.append(world_rot)
        positions.append(world_pos)
    rotation = torch.stack(rotations, dim=2).reshape(batch, chains * depth, 3, 3)
    position = torch.stack(positions, dim=2).reshape(batch, chains * depth, 3)
    return torch.cat([rot_mats[:, :1], rotation], dim=1), torch.cat([rest[:, :1], position], dim=1)


def kinematic_chain_reference(rot_mats: Tensor, rest: Tensor, parents: Sequence[int]) -> tuple[Tensor, Tensor]:
    """``kinematic_chain`` joint by joint, parents before children (the slow reference)."""
    world_rot = [rot_mats[:, 0]]
    world_pos = [rest[:, 0]]
    for joint in range(1, rot_mats.shape[1]):
        parent = parents[joint]
        offset = (rest[:, joint] - rest[:, parent])[..., None]
        world_pos.append(world_pos[parent] + (world_rot[parent] @ offset)[..., 0])
        world_rot.append(world_rot[parent] @ rot_mats[:, joint])
    return torch.stack(world_rot, dim=1), torch.stack(world_pos, dim=1)


@functools.cache
def _equal_chains(parents: tuple[int, ...]) -> tuple[int, int] | None:
    """(C, D) when joints 1.. form C chains of D joints hanging from joint 0, numbered chain by chain; else None."""
    for joint in range(1, len(parents)):
        if not 0 <= parents[joint] < joint:
            raise ValueError(f"parents must list each joint after its parent; joint {joint} has {parents[joint]}")
    count = len(parents) - 1
    for depth in range(1, count + 1):
        if count % depth == 0 and all(
            parents[1 + c * depth + d] == (0 if d == 0 else c * depth + d)
            for c in range(count // depth)
            for d in range(depth)
        ):
            return count // depth, depth
    return None
