"""Column ray parity against the winding-number inside test (the slow reference)."""

from __future__ import annotations

import torch

from interhandgen_core.geometry.voxel_occupancy import grid_inside_mesh
from interhandgen_core.geometry.winding import inside_mesh
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


def test_grid_occupancy_of_a_posed_hand_matches_winding_numbers() -> None:
    right, _ = load_hand_pair("procedural", None)
    layer = HandLayer(right)
    generator = torch.Generator().manual_seed(0)
    pose = 0.3 * torch.randn(2, 45, generator=generator)
    out = layer(HandParams(pose, torch.zeros(2, 10), torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3)))
    lower = out.vertices.min(dim=1).values - 0.002
    voxel, shape = 0.004, (30, 14, 14)
    occupied = grid_inside_mesh(lower, shape, voxel, out.vertices, layer.faces)
    steps = [(torch.arange(n) + 0.5) * voxel for n in shape]
    grid = torch.stack(torch.meshgrid(*steps, indexing="ij"), dim=-1).reshape(-1, 3)
    centres = lower[:, None, :] + grid[None]
    reference = inside_mesh(centres, out.vertices, layer.faces).reshape(2, *shape)
    assert reference.sum() > 100  # the grid does cover the hand
    assert torch.equal(occupied, reference)
