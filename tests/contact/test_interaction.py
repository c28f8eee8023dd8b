"""Penetration depth and proximity on overlapping spheres with known answers."""

from __future__ import annotations

import pytest
import torch
import trimesh

from interhandgen_core.contact.interaction import (
    interaction_statistics,
    measure_interaction,
    minimum_distance,
    penetration_depth,
)


@pytest.fixture(scope="module")
def ball() -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces, dtype=torch.long)


def test_depth_of_overlapping_balls(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = ball
    offsets = torch.tensor([0.09, 0.095, 0.1, 0.12])  # centre distances for radius 5 cm balls
    left = v.expand(4, -1, -1)
    right = v[None] + torch.stack([offsets, torch.zeros(4), torch.zeros(4)], -1)[:, None]
    depth = penetration_depth(left, f, right, f)
    assert torch.allclose(depth, torch.tensor([0.01, 0.005, 0.0, 0.0]), atol=5e-4)
    gap = minimum_distance(left, right)
    assert gap[3] == pytest.approx(0.02, abs=1e-3)


def test_statistics_summary(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = ball
    offsets = torch.tensor([0.09, 0.2, 0.11, 0.13])
    right = v[None] + torch.stack([offsets, torch.zeros(4), torch.zeros(4)], -1)[:, None]
    depth, gap = measure_interaction(v.expand(4, -1, -1), f, right, f, chunk=3)
    stats = interaction_statistics(depth, gap)
    assert stats.count == 4
    assert stats.mean_penetration_mm == pytest.approx(2.5, abs=0.2)  # one of four at 10 mm
    assert stats.proximity_ratio == pytest.approx(0.5)  # 0.09 (penetrating) and 0.11 (1 cm gap)
    assert stats.penetrating_ratio == pytest.approx(0.25)


def test_statistics_refuse_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        interaction_statistics(torch.zeros(0), torch.zeros(0))
