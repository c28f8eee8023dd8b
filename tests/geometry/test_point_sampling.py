"""Farthest point sampling, ball query and gathering against slow per-sample, per-point references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.geometry.point_sampling import (
    ball_query,
    ball_query_torch,
    farthest_point_sample,
    farthest_point_sample_torch,
    gather_points,
)


def _squared_distance(a: np.ndarray, b: np.ndarray) -> np.float32:
    # The same float32 operations, in the same order, as the library: (dx^2 + dy^2) + dz^2.
    dx, dy, dz = (np.float32(a[i]) - np.float32(b[i]) for i in range(3))
    return np.float32(np.float32(dx * dx + dy * dy) + dz * dz)


def reference_fps(cloud: np.ndarray, num: int, start: int = 0) -> list[int]:
    """One cloud (P, 3) float32: the textbook loop, one point at a time."""
    closest = [np.float32(np.inf)] * len(cloud)
    chosen = [start]
    while len(chosen) < num:
        last = cloud[chosen[-1]]
        best, best_distance = 0, np.float32(-1.0)
        for j, point in enumerate(cloud):
            closest[j] = min(closest[j], _squared_distance(point, last))
            if closest[j] > best_distance:  # strict: the lowest index wins a tie
                best, best_distance = j, closest[j]
        chosen.append(best)
    return chosen


def reference_ball_query(cloud: np.ndarray, centres: np.ndarray, radius: float, k: int) -> list[list[int]]:
    """One cloud (P, 3) and its centres (S, 3) float32: scan the points in order, keep the first k inside."""
    radius2 = np.float32(np.float32(radius) * np.float32(radius))
    groups = []
    for centre in centres:
        distances = [_squared_distance(point, centre) for point in cloud]
        inside = [j for j, d in enumerate(distances) if d < radius2][:k]
        if not inside:
            inside = [int(np.argmin(distances))]
        groups.append(inside + [inside[0]] * (k - len(inside)))
    return groups


def random_clouds(batch: int, num_points: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, num_points, 3, generator=gen) * 0.2 - 0.1


@pytest.mark.parametrize("with_start", [False, True])
def test_fps_matches_per_point_reference(with_start: bool) -> None:
    points = random_clouds(3, 97, seed=0)
    start = torch.tensor([5, 0, 96]) if with_start else None
    index = farthest_point_sample(points, 20, start)
    assert index.shape == (3, 20) and index.dtype == torch.long
    for b in range(3):
        expected = reference_fps(points[b].numpy(), 20, int(start[b]) if start is not None else 0)
        assert index[b].tolist() == expected


def test_fps_picks_one_point_per_cluster() -> None:
    gen = torch.Generator().manual_seed(1)
    corners = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) * 0.05
    labels = torch.arange(4).repeat_interleave(50)
    clouds, clusters = [], []
    for _ in range(5):
        order = torch.randperm(200, generator=gen)
        clouds.append((corners[labels] + torch.randn(200, 3, generator=gen) * 1e-3)[order])
        clusters.append(labels[order])
    points = torch.stack(clouds)
    index = farthest_point_sample(points, 4)
    picked = torch.gather(torch.stack(clusters), 1, index)
    assert all(sorted(row) == [0, 1, 2, 3] for row in picked.tolist())


def test_fps_is_a_permutation_when_all_points_are_taken() -> None:
    points = random_clouds(2, 30, seed=2)
    index = farthest_point_sample(points, 30)
    assert torch.equal(index.sort(dim=1).values, torch.arange(30).expand(2, -1))
    assert torch.equal(index[:, 0], torch.zeros(2, dtype=torch.long))


def test_fps_prefix_property() -> None:
    # Fewer picks give the first picks of a longer run: the sequence does not depend on num.
    points = random_clouds(2, 64, seed=3)
    assert torch.equal(farthest_point_sample(points, 10), farthest_point_sample(points, 25)[:, :10])


def test_fps_rejects_bad_input() -> None:
    points = random_clouds(2, 10, seed=0)
    for num in (0, 11, 2.0, True):
        with pytest.raises(ValueError, match="num"):
            farthest_point_sample_torch(points, num)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        farthest_point_sample(points[..., :2], 3)
    with pytest.raises(ValueError, match="start"):
        farthest_point_sample(points, 3, torch.tensor([0]))
    with pytest.raises(ValueError, match="start"):
        farthest_point_sample(points, 3, torch.tensor([0, 10]))


def test_ball_query_matches_per_point_reference() -> None:
    points = random_clouds(2, 120, seed=4)
    centres = gather_points(points, farthest_point_sample(points, 15))
    # Two centres away from the cloud: their balls are empty and fall back to the nearest point.
    centres = torch.cat([centres, torch.tensor([[0.5, 0.0, 0.0], [0.0, -0.4, 0.1]]).expand(2, -1, -1)], dim=1)
    for radius, k in ((0.05, 8), (0.08, 16), (0.3, 150)):  # the last one: K > P, every ball padded
        groups = ball_query(points, centres, radius, k)
        assert groups.shape == (2, 17, k) and groups.dtype == torch.long
        for b in range(2):
            assert groups[b].tolist() == reference_ball_query(points[b].numpy(), centres[b].numpy(), radius, k)


def test_ball_query_respects_radius_and_padding() -> None:
    points = random_clouds(3, 200, seed=5)
    centres = gather_points(points, farthest_point_sample(points, 20))
    radius, k = 0.05, 12
    groups = ball_query(points, centres, radius, k)
    distance = (gather_points(points, groups) - centres[:, :, None]).norm(dim=-1)
    assert (distance < radius).all()
    all_inside = (torch.cdist(centres, points) < radius).sum(-1)  # (B, S)
    found = all_inside.clamp_max(k)
    for row, count in zip(groups.reshape(-1, k).tolist(), found.reshape(-1).tolist(), strict=True):
        assert row[:count] == sorted(set(row[:count])) and len(set(row[:count])) == count
        assert row[count:] == [row[0]] * (k - count)
    assert (found < k).any() and (all_inside > k).any()  # both padded and truncated balls were checked


def test_centre_is_in_its_own_ball_and_empty_ball_falls_back_to_nearest() -> None:
    points = random_clouds(1, 50, seed=6)
    centres = torch.cat([points[:, 7:8], points[:, 7:8] + torch.tensor([0.0, 0.0, 1.0])], dim=1)
    groups = ball_query(points, centres, 1e-6, 4)
    nearest = int(torch.cdist(centres[:, 1:], points).argmin())
    assert groups.tolist() == [[[7] * 4, [nearest] * 4]]


def test_torch_reference_paths_agree_with_dispatchers() -> None:
    # Without pytorch3d the dispatchers are the torch paths; with it, this checks the pytorch3d branch.
    points = random_clouds(2, 80, seed=7)
    index = farthest_point_sample(points, 16)
    assert torch.equal(index, farthest_point_sample_torch(points, 16))
    centres = gather_points(points, index)
    assert torch.equal(ball_query(points, centres, 0.06, 10), ball_query_torch(points, centres, 0.06, 10))


def test_ball_query_rejects_bad_input() -> None:
    points = random_clouds(2, 10, seed=0)
    with pytest.raises(ValueError, match="batch size"):
        ball_query(points, points[:1], 0.1, 4)
    for radius in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="radius"):
            ball_query(points, points, radius, 4)
    with pytest.raises(ValueError, match="num_neighbors"):
        ball_query(points, points, 0.1, 0)
    with pytest.raises(ValueError, match="centres"):
        ball_query(points, points[..., :2], 0.1, 4)


def test_gather_points_any_index_shape_and_gradient() -> None:
    points = torch.randn(2, 9, 5, requires_grad=True)
    index = torch.randint(0, 9, (2, 4, 3))
    out = gather_points(points, index)
    assert out.shape == (2, 4, 3, 5)
    assert torch.equal(out, points[torch.arange(2)[:, None, None], index])
    assert gather_points(points, index[:, 0, 0]).shape == (2, 5)
    out.sum().backward()
    assert points.grad is not None
    counts = torch.stack([torch.bincount(index[b].reshape(-1), minlength=9) for b in range(2)])
    assert torch.equal(points.grad, counts[..., None].float().expand(-1, -1, 5))
    with pytest.raises(ValueError, match="batch size"):
        gather_points(points, index[:1])
    with pytest.raises(ValueError, match="integer"):
        gather_points(points, index.float())


def test_empty_batch() -> None:
    points = torch.zeros(0, 10, 3)
    index = farthest_point_sample(points, 4)
    assert index.shape == (0, 4)
    assert ball_query(points, gather_points(points, index), 0.1, 5).shape == (0, 4, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    points = random_clouds(4, 300, seed=8)
    index = farthest_point_sample(points, 40)
    assert torch.equal(farthest_point_sample(points.cuda(), 40).cpu(), index)
    centres = gather_points(points, index)
    expected = ball_query(points, centres, 0.05, 16)
    assert torch.equal(ball_query(points.cuda(), centres.cuda(), 0.05, 16).cpu(), expected)
