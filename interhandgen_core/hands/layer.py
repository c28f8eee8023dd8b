"""The differentiable, batched MANO-format hand layer.

Skinning follows smplx's ``lbs`` (hands/skinning.py, tested against it); this module owns the
project's conventions around it, so that the procedural hand and the official MANO files behave
the same:

Input: HandParams (hands/hand_params.py):
    pose         theta  (B, 45)    finger axis-angle, radians, relative to the flat hand
    betas        beta   (B, 10)    shape coefficients
    rotation     R      (B, 3, 3)  root (global) rotation about the wrist joint
    translation  tau    (B, 3)     wrist joint position, metres, in the output frame

Using the wrist position rather than MANO's ``transl`` makes the translation independent
of the shape: MANO places the wrist at J_0(beta) + transl.

Outputs, in the frame of ``translation``:
    vertices   (B, V, 3)   metres
    joints     (B, 16, 3)  MANO joint order
    keypoints  (B, 21, 3)  the project's keypoint order (see hands/keypoints.py)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.asset import HandAsset, Side
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINTS_FROM_JOINTS_AND_TIPS
from interhandgen_core.hands.skinning import linear_blend_skinning, rest_joints_regressor


@dataclass
class HandOutput:
    vertices: Tensor
    joints: Tensor
    keypoints: Tensor


class HandLayer(nn.Module):
    """One side of a MANO-format hand as a torch module (buffers only, no parameters)."""

    v_template: Tensor
    shapedirs: Tensor
    posedirs: Tensor
    J_regressor: Tensor
    lbs_weights: Tensor
    parents: Tensor
    faces: Tensor
    tip_vertex_ids: Tensor
    keypoint_index: Tensor
    hands_mean: Tensor
    joint_template: Tensor
    joint_shapedirs: Tensor
    tip_template: Tensor
    tip_shapedirs: Tensor
    tip_posedirs: Tensor
    tip_weights: Tensor

    def __init__(self, asset: HandAsset, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.name = asset.name
        self.side: Side = asset.side
        self.register_buffer("v_template", torch.as_tensor(asset.v_template, dtype=dtype))
        self.register_buffer("shapedirs", torch.as_tensor(asset.shapedirs, dtype=dtype))
        # smplx expects posedirs as (P, V * 3).
        posedirs = torch.as_tensor(asset.posedirs, dtype=dtype).reshape(-1, asset.posedirs.shape[-1]).T
        self.register_buffer("posedirs", posedirs.contiguous())
        self.register_buffer("J_regressor", torch.as_tensor(asset.J_regressor, dtype=dtype))
        self.register_buffer("lbs_weights", torch.as_tensor(asset.weights, dtype=dtype))
        self.register_buffer("parents", torch.as_tensor(asset.parents, dtype=torch.long))
        self.parent_indices = tuple(int(p) for p in asset.parents)  # host-side copy for the kinematic chain
        self.register_buffer("faces", torch.as_tensor(asset.faces, dtype=torch.long))
        self.register_buffer("tip_vertex_ids", torch.as_tensor(asset.tip_vertex_ids, dtype=torch.long))
        self.register_buffer("keypoint_index", torch.tensor(KEYPOINTS_FROM_JOINTS_AND_TIPS, dtype=torch.long))
        # MANO's mean finger pose, for converting data that is relative to it (hands/mano_params.py);
        # not part of the state dict, so modules holding a layer keep their checkpoints.
        self.register_buffer("hands_mean", torch.as_tensor(asset.hands_mean, dtype=dtype), persistent=False)
        # The keypoint-only path (``keypoints``): J(beta) without the mesh, and the blend data of the
        # fingertip vertices alone. Derived from the buffers above, so not part of the state dict.
        joint_template, joint_shapedirs = rest_joints_regressor(self.v_template, self.shapedirs, self.J_regressor)
        tips = self.tip_vertex_ids
        tip_posedirs = self.posedirs.reshape(self.posedirs.shape[0], -1, 3)[:, tips].reshape(self.posedirs.shape[0], -1)
        for name, value in (
            ("joint_template", joint_template),
            ("joint_shapedirs", joint_shapedirs),
            ("tip_template", self.v_template[tips]),
            ("tip_shapedirs", self.shapedirs[tips]),
            ("tip_posedirs", tip_posedirs.contiguous()),
            ("tip_weights", self.lbs_weights[tips]),
        ):
            self.register_buffer(name, value.contiguous(), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def rest_joints(self, betas: Tensor) -> Tensor:
        """betas: (B, 10) -> (B, 16, 3) joints of the shaped rest pose, model frame."""
        v_shaped = self.v_template + torch.einsum("bl,vkl->bvk", betas, self.shapedirs)
        return torch.einsum("jv,bvk->bjk", self.J_regressor, v_shaped)

    def keypoints(self, hand: HandParams) -> Tensor:
        """hand: HandParams of B hands -> keypoints (B, 21, 3), metres, the frame of ``translation``.

        The same keypoints as ``forward(hand).keypoints`` (tests/hands/test_layer.py compares them),
        without skinning the mesh: the joints come from J(beta) through the kinematic chain and only
        the five fingertip vertices are skinned. About 5x cheaper with its gradient; what a fit to
        keypoints alone needs (refinement/objective.py).
        """
        batch = hand.batch_size
        finger_rot = axis_angle_to_matrix(hand.pose.reshape(batch, 15, 3))
        rot_mats = torch.cat([hand.rotation[:, None], finger_rot], dim=1)
        rest = self.joint_template + torch.einsum("bl,jkl->bjk", hand.betas, self.joint_shapedirs)
        tips, joints = linear_blend_skinning(
            hand.betas,
            rot_mats,
            self.tip_template,
            self.tip_shapedirs,
            self.tip_posedirs,
            self.J_regressor,
            self.parent_indices,
            self.tip_weights,
            rest_joints=rest,
        )
        offset = (hand.translation - joints[:, 0])[:, None]
        return (torch.cat([joints, tips], dim=1) + offset)[:, self.keypoint_index]

    def keypoints_and_vertices(self, hand: HandParams, vertex_ids: Tensor) -> tuple[Tensor, Tensor]:
        """hand: HandParams of B hands, vertex_ids (K,) long -> keypoints (B, 21, 3) and those K vertices
        (B, K, 3), metres, the frame of ``translation``: ``keypoints`` with K mesh vertices skinned beside the
        fingertips, equal to ``forward(hand)``'s (tests/hands/test_layer.py). For a term on a few vertices
        (the interpenetrating ones of refinement/levenberg_marquardt.py) at the cost of the keypoints."""
        batch = hand.batch_size
        finger_rot = axis_angle_to_matrix(hand.pose.reshape(batch, 15, 3))
        rot_mats = torch.cat([hand.rotation[:, None], finger_rot], dim=1)
        rest = self.joint_template + torch.einsum("bl,jkl->bjk", hand.betas, self.joint_shapedirs)
        ids = torch.cat([self.tip_vertex_ids, vertex_ids])
        posedirs = self.posedirs.reshape(self.posedirs.shape[0], -1, 3)[:, ids].reshape(self.posedirs.shape[0], -1)
        skinned, joints = linear_blend_skinning(
            hand.betas,
            rot_mats,
            self.v_template[ids],
            self.shapedirs[ids],
            posedirs,
            self.J_regressor,
            self.parent_indices,
            self.lbs_weights[ids],
            rest_joints=rest,
        )
        skinned = skinned + (hand.translation - joints[:, 0])[:, None]
        tips = skinned[:, : self.tip_vertex_ids.shape[0]]
        keypoints = torch.cat([joints + (hand.translation - joints[:, 0])[:, None], tips], dim=1)[
            :, self.keypoint_index
        ]
        return keypoints, skinned[:, self.tip_vertex_ids.shape[0] :]

    def forward(self, hand: HandParams) -> HandOutput:
        """hand: HandParams of B hands (pose (B, 45), betas (B, 10), rotation (B, 3, 3), translation (B, 3)) -> HandOutput.

        HandParams checks the shapes when it is made.
        """
        pose, betas, rotation, translation = hand.pose, hand.betas, hand.rotation, hand.translation
        batch = hand.batch_size
        finger_rot = axis_angle_to_matrix(pose.reshape(batch, 15, 3))
        rot_mats = torch.cat([rotation[:, None], finger_rot], dim=1)
        vertices, joints = linear_blend_skinning(
            betas,
            rot_mats,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parent_indices,
            self.lbs_weights,
        )
        # lbs rotates about the wrist and leaves it at J_0(beta); move it to tau.
        offset = (translation - joints[:, 0])[:, None]
        vertices = vertices + offset
        joints = joints + offset
        tips = vertices[:, self.tip_vertex_ids]
        keypoints = torch.cat([joints, tips], dim=1)[:, self.keypoint_index]
        return HandOutput(vertices=vertices, joints=joints, keypoints=keypoints)
