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


def test_the_cpu_tree_search_measures_what_the_all_pairs_search_does() -> None:
    from interhandgen_core.contact.interaction import interpenetration
    from interhandgen_core.geometry.tree_nearest import all_pairs_search

    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    v = torch.tensor(mesh.vertices, dtype=torch.float32)
    f = torch.tensor(mesh.faces, dtype=torch.long)
    offsets = torch.tensor([[0.08, 0.0, 0.0], [0.0, 0.095, 0.01], [0.2, 0.0, 0.0]])  # 2 cm, 5 mm deep, 10 cm apart
    left = v.expand(3, -1, -1)
    right = v[None] + offsets[:, None]
    trees = interpenetration(left, f, right, f)
    with all_pairs_search():
        reference = interpenetration(left, f, right, f)
    assert float(trees.depth[0]) > 0.015 and float(trees.depth[2]) == 0.0
    for mine, theirs in ((trees.depth, reference.depth), (trees.min_distance, reference.min_distance)):
        assert torch.allclose(mine, theirs)
    assert torch.equal(trees.inside_box, reference.inside_box)
