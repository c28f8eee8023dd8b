"""Signed distance to a union of capsules: the fast path against the loop over capsules, and known values."""

from __future__ import annotations

import torch

from interhandgen_core.geometry.capsules import (
    nearest_capsule,
    points_to_capsules_depth,
    points_to_capsules_signed_distance,
    points_to_capsules_signed_distance_reference,
    points_to_segment_distance,
)


def random_capsules(seed: int, batch: int = 5, points: int = 300, capsules: int = 7) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    p = 0.05 * torch.randn(batch, points, 3, generator=gen, dtype=torch.float64)
    a = 0.04 * torch.randn(batch, capsules, 3, generator=gen, dtype=torch.float64)
    b = a + 0.03 * torch.randn(batch, capsules, 3, generator=gen, dtype=torch.float64)
    r = 0.005 + 0.01 * torch.rand(batch, capsules, generator=gen, dtype=torch.float64)
    return p, a, b, r


def test_the_signed_distance_and_its_gradients_equal_the_loop_over_capsules() -> None:
    p, a, b, r = random_capsules(0)
    inputs = [t.clone().requires_grad_(True) for t in (p, a, b, r)]
    fast = points_to_capsules_signed_distance(*inputs)
    weights = torch.rand(fast.shape, generator=torch.Generator().manual_seed(1), dtype=fast.dtype)
    fast_grads = torch.autograd.grad((fast * weights).sum(), inputs)
    reference_inputs = [t.clone().requires_grad_(True) for t in (p, a, b, r)]
    slow = points_to_capsules_signed_distance_reference(*reference_inputs)
    slow_grads = torch.autograd.grad((slow * weights).sum(), reference_inputs)
    assert (fast < 0).any() and (fast > 0).any()  # both sides are exercised
    assert torch.allclose(fast, slow, atol=1e-12)
    for mine, theirs in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-9)


def test_the_search_in_float32_finds_the_float64_nearest_capsule() -> None:
    p, a, b, r = random_capsules(2, batch=8, points=2000, capsules=20)
    distance, index = nearest_capsule(*(t.float() for t in (p, a, b, r)))
    reference = points_to_capsules_signed_distance_reference(p, a, b, r)
    # The expanded form's float32 error is about 1e-9 m^2 in the squared distance: 1e-6 m here.
    assert (distance.double() - reference).abs().max() < 2e-6
    rows = torch.arange(8)[:, None]
    chosen = points_to_segment_distance(p, a[rows, index], b[rows, index]) - r[rows, index]  # float64, its capsule
    assert (chosen - reference).abs().max() < 2e-6  # a near-tie may pick the other capsule, never a farther one


def test_the_depth_is_the_clamped_signed_distance_with_the_same_gradients() -> None:
    p, a, b, r = random_capsules(3)
    inputs = [t.clone().requires_grad_(True) for t in (p, a, b, r)]
    depth = points_to_capsules_depth(*inputs)
    depth_grads = torch.autograd.grad(depth.sum(), inputs)
    reference_inputs = [t.clone().requires_grad_(True) for t in (p, a, b, r)]
    reference = torch.relu(-points_to_capsules_signed_distance_reference(*reference_inputs))
    reference_grads = torch.autograd.grad(reference.sum(), reference_inputs)
    assert (depth > 0).sum() > 10
    assert torch.allclose(depth, reference, atol=1e-12)
    for mine, theirs in zip(depth_grads, reference_grads, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-9)


def test_known_distances_to_one_capsule() -> None:
    start = torch.tensor([[[0.0, 0.0, 0.0]]])
    end = torch.tensor([[[0.1, 0.0, 0.0]]])
    radius = torch.tensor([[0.01]])
    points = torch.tensor([[[0.05, 0.0, 0.0], [0.05, 0.03, 0.0], [-0.02, 0.0, 0.0], [0.13, 0.04, 0.0]]])
    signed = points_to_capsules_signed_distance(points, start, end, radius)
    assert torch.allclose(signed, torch.tensor([[-0.01, 0.02, 0.01, 0.04]]), atol=1e-6)
    assert torch.allclose(points_to_capsules_depth(points, start, end, radius), torch.tensor([[0.01, 0.0, 0.0, 0.0]]))


def test_the_unpacked_depth_for_a_device_capture_equals_the_packed_one() -> None:
    p, a, b, r = random_capsules(4)
    results = []
    for packed in (True, False):
        inputs = [t.clone().requires_grad_(True) for t in (p, a, b, r)]
        depth = points_to_capsules_depth(*inputs, packed=packed)
        results.append((depth, torch.autograd.grad(depth.sum(), inputs)))
    (packed_depth, packed_grads), (dense_depth, dense_grads) = results
    assert torch.allclose(packed_depth, dense_depth, atol=1e-12)
    for mine, theirs in zip(packed_grads, dense_grads, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-9)
