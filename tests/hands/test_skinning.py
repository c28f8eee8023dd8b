"""hands/skinning.py against its reference, smplx's lbs."""

from __future__ import annotations

import pytest
import torch
from smplx.lbs import lbs

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.skinning import kinematic_chain, kinematic_chain_reference, linear_blend_skinning


@pytest.mark.parametrize("side", [0, 1])
def test_matches_smplx_lbs(side: int) -> None:
    layer = HandLayer(load_hand_pair("procedural")[side]).double()
    generator = torch.Generator().manual_seed(side)
    batch = 6
    betas = torch.randn(batch, 10, generator=generator, dtype=torch.float64)
    rot_mats = axis_angle_to_matrix(0.6 * torch.randn(batch, 16, 3, generator=generator, dtype=torch.float64))
    args = (layer.v_template, layer.shapedirs, layer.posedirs, layer.J_regressor)
    vertices, joints = linear_blend_skinning(betas, rot_mats, *args, layer.parent_indices, layer.lbs_weights)
    ref_vertices, ref_joints = lbs(
        betas, rot_mats.reshape(batch, -1, 9), *args, layer.parents, layer.lbs_weights, pose2rot=False
    )
    torch.testing.assert_close(vertices, ref_vertices, rtol=0, atol=1e-12)
    torch.testing.assert_close(joints, ref_joints, rtol=0, atol=1e-12)


def test_level_by_level_chain_matches_the_joint_by_joint_reference() -> None:
    """kinematic_chain (the chains one depth at a time) against kinematic_chain_reference (one joint at a time),
    values and gradients: on MANO's tree, on two chains of two, and on an unbalanced tree (which takes the
    reference path)."""
    generator = torch.Generator().manual_seed(3)
    mano = HandLayer(load_hand_pair("procedural")[1]).parent_indices
    for parents in (mano, (-1, 0, 1, 0, 3), (-1, 0, 1, 2, 3, 0, 5, 1)):
        num = len(parents)
        rot = axis_angle_to_matrix(0.6 * torch.randn(4, num, 3, generator=generator, dtype=torch.float64))
        rest = torch.randn(4, num, 3, generator=generator, dtype=torch.float64).requires_grad_(True)
        fast, slow = kinematic_chain(rot, rest, parents), kinematic_chain_reference(rot, rest, parents)
        for a, b in zip(fast, slow, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        weights = torch.randn(4, num, 3, generator=generator, dtype=torch.float64)
        (fast_grad,) = torch.autograd.grad((fast[1] * weights).sum(), rest)
        (slow_grad,) = torch.autograd.grad((slow[1] * weights).sum(), rest)
        torch.testing.assert_close(fast_grad, slow_grad, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="after its parent"):
        kinematic_chain(rot[:, :3], rest[:, :3], (-1, 2, 0))
