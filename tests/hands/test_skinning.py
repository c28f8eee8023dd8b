"""hands/skinning.py against its reference, smplx's lbs."""

from __future__ import annotations

import pytest
import torch
from smplx.lbs import lbs

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.skinning import linear_blend_skinning


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
