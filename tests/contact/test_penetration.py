"""Eq. 7-8 on shapes with known answers: the depth behind the nearest vertex, and the penalties built on it."""

from __future__ import annotations

import pytest
import torch
import trimesh

from interhandgen_core.contact.penetration import (
    capsule_penetration_loss,
    depth_behind_nearest,
    hand_pair_depths,
    hand_pair_indices,
    margin_penetration,
    one_way_penetration,
    penetration_loss,
    searched_pairs,
    translated_pair_penetration,
)
from interhandgen_core.geometry.nearest import nearest_neighbors
from interhandgen_core.geometry.normals import vertex_normals
from interhandgen_core.hands.capsule_proxy import HandCapsules


@pytest.fixture(scope="module")
def ball() -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    return torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces, dtype=torch.long)


def test_depth_is_positive_behind_the_other_surface_only() -> None:
    other = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    normals = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    points = torch.tensor([[[0.0, 0.0, -0.01], [1.0, 0.0, 0.02], [0.1, 0.0, -0.03]]])
    depth, distance = depth_behind_nearest(points, other, normals)
    assert torch.allclose(depth, torch.tensor([[0.01, -0.02, 0.03]]))
    assert torch.allclose(distance, torch.tensor([[0.01, 0.02, (0.1**2 + 0.03**2) ** 0.5]]))
    # Eq. 8: only the vertices behind count, by their distance to the nearest vertex.
    assert torch.allclose(one_way_penetration(points, other, normals), torch.tensor([[0.01, 0.0, distance[0, 2]]]))


def test_a_given_nearest_index_is_used_as_is() -> None:
    other = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    normals = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    points = torch.tensor([[[0.0, 0.0, -0.01]]])
    searched, _ = depth_behind_nearest(points, other, normals)
    stale, _ = depth_behind_nearest(points, other, normals, torch.tensor([[1]]))  # refreshed sparsely
    assert float(searched) == pytest.approx(0.01) and float(stale) == pytest.approx(-0.01)


def test_overlapping_balls(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = ball
    offsets = torch.tensor([0.09, 0.12])  # centre distances of two 5 cm balls: 1 cm overlap, 2 cm apart
    left = v.expand(2, -1, -1)
    right = v[None] + torch.stack([offsets, torch.zeros(2), torch.zeros(2)], -1)[:, None]
    loss = penetration_loss(right, f, left, f)
    assert float(loss[0]) > 0.0 and float(loss[1]) == 0.0
    # Symmetric: both balls' vertices inside the other count; the configuration is symmetric.
    one_way = penetration_loss(right, f, left, f, symmetric=False)
    assert float(loss[0]) == pytest.approx(2 * float(one_way[0]), rel=0.05)
    # Mean per vertex in centimetres.
    expected = 100 * one_way_penetration(right, left, vertex_normals(left, f)).mean(-1)
    assert torch.allclose(one_way, expected)


def test_capsule_penetration_of_two_balls_is_their_analytic_overlap(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Each ball its own proxy (one capsule of zero length, its radius): the depth of each vertex in the other ball."""
    v, _ = ball
    offsets = torch.tensor([0.09, 0.12])  # 1 cm overlap, 2 cm apart
    centres = torch.stack([offsets, torch.zeros(2), torch.zeros(2)], -1)  # (2, 3) the right balls' centres
    left = v.expand(2, -1, -1)
    right = (v[None] + centres[:, None]).requires_grad_(True)
    radius = torch.full((2, 1), 0.05)
    left_proxy = HandCapsules(torch.zeros(2, 1, 3), torch.zeros(2, 1, 3), radius)
    right_proxy = HandCapsules(centres[:, None], centres[:, None], radius)
    loss = capsule_penetration_loss(right, right_proxy, left, left_proxy)
    into_left = torch.relu(0.05 - right.norm(dim=-1)).mean(-1)
    into_right = torch.relu(0.05 - (left - centres[:, None]).norm(dim=-1)).mean(-1)
    assert float(loss[0].detach()) > 0.0 and float(loss[1].detach()) == 0.0
    assert torch.allclose(loss.detach(), 100 * (into_left + into_right).detach(), atol=1e-6)
    # Its gradient moves the right ball's vertices away from the left ball (+x), none of the far pair's.
    (grad,) = torch.autograd.grad(loss.sum(), right)
    assert float(grad[0, :, 0].sum()) < 0.0 and float(grad[1].abs().sum()) == 0.0


def test_hand_pair_depths_and_the_margin_penalty(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    v, f = ball
    left = v[None]
    right = v[None] + torch.tensor([0.095, 0.0, 0.0])
    _, right_to_left = nearest_neighbors(right, left)
    _, left_to_right = nearest_neighbors(left, right)
    depths = hand_pair_depths(left, f, right, f, right_to_left, left_to_right)
    right_depth, right_distance = depth_behind_nearest(right, left, vertex_normals(left, f), right_to_left)
    assert torch.equal(depths.right_depth, right_depth) and torch.equal(depths.right_distance, right_distance)
    assert float(depths.left_depth.max()) == pytest.approx(0.005, abs=1e-3)  # 5 mm overlap
    # sum over vertices of (100 relu(d + margin))^2: the margin counts skin just in front of the other.
    penalty = margin_penetration(depths.left_depth, 0.001)
    assert torch.allclose(penalty, ((depths.left_depth + 0.001).clamp(min=0) * 100).pow(2).sum(-1))
    apart = margin_penetration(torch.full((1, 4), -0.0005), 0.001)
    assert float(apart) == pytest.approx(4 * 0.05**2)


def _reference_penetration_loss(v: torch.Tensor, f: torch.Tensor, o: torch.Tensor, of: torch.Tensor) -> torch.Tensor:
    """Eq. 7 both ways with the all-pairs search (index None: geometry/nearest.py), per sample, cm."""
    forward = one_way_penetration(v, o, vertex_normals(o, of), nearest_neighbors(v, o)[1]).mean(-1)
    backward = one_way_penetration(o, v, vertex_normals(v, f), nearest_neighbors(o, v)[1]).mean(-1)
    return 100 * (forward + backward)


def test_the_cpu_tree_search_matches_the_all_pairs_reference(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    """On the CPU penetration_loss searches by k-d trees and skips points 1 cm outside the other's box."""
    v, f = ball
    g = torch.Generator().manual_seed(0)

    # Deformed balls at overlaps from deep to apart (centres 4-14 cm apart, 5 cm radii), jittered by
    # 0.1 mm: a symmetric mesh has exactly equidistant nearest vertices, where either search may pick
    # either one (the same loss, another gradient).
    def deformed() -> torch.Tensor:
        return v * (1 + 0.2 * torch.rand(6, 1, 3, generator=g)) + 1e-4 * torch.randn(6, *v.shape, generator=g)

    left = deformed().requires_grad_(True)
    shift = torch.stack([torch.linspace(0.04, 0.14, 6), torch.zeros(6), torch.zeros(6)], -1)[:, None]
    right = (deformed() + shift).requires_grad_(True)
    fast = penetration_loss(right, f, left, f)
    reference = _reference_penetration_loss(right, f, left, f)
    assert torch.allclose(fast, reference, atol=1e-5)
    assert float(fast[0].detach()) > 0.1 and float(fast[-1].detach()) == 0.0
    grads = torch.autograd.grad(fast.sum(), [left, right])
    reference_grads = torch.autograd.grad(reference.sum(), [left, right])
    for a, b in zip(grads, reference_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # Normals given by a caller whose meshes only translate: the same loss.
    given = penetration_loss(right, f, left, f, normals=vertex_normals(right, f), other_normals=vertex_normals(left, f))
    assert torch.allclose(given, fast)


def test_object_terms_by_tree_search_equal_the_reference(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    from interhandgen_core.contact.penetration import object_guidance_terms
    from interhandgen_core.geometry.tree_nearest import CloudTree, tree_signed_distance

    v, f = ball
    cloud = v * 1.6  # an 8 cm ball as the object
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    # Two "hands" (5 cm balls): 2 cm into the object, and 1 cm off it.
    hands = v[None] + torch.tensor([[[0.11, 0.0, 0.0]], [[0.0, 0.0, 0.14]]])
    points, point_normals = cloud.expand(2, -1, -1), normals.expand(2, -1, -1)
    reference = object_guidance_terms(hands, f, points, point_normals, float("inf"))
    tree = CloudTree(cloud)
    searched = object_guidance_terms(
        hands, f, points, point_normals, float("inf"), lambda p: tree_signed_distance(tree, p, cloud, normals)
    )
    for a, b in zip(searched, reference, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert float(reference[0][0]) > 0.1 and float(reference[1][1]) > 0.5


def test_object_terms_within_reach_equal_the_full_search(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Guidance's reach (cloud points within it of a hand vertex, searched among the vertices near the cloud)
    leaves the terms of hands into, touching and off an object as the full search gives them."""
    from interhandgen_core.contact.penetration import object_guidance_terms
    from interhandgen_core.geometry.tree_nearest import CloudTree, tree_signed_distance

    v, f = ball
    cloud = v * 1.6
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    # 5 cm balls 1 cm into the object, 1 cm off it, touching it: every cloud point inside lies within 1 cm of a vertex.
    hands = (v[None] + torch.tensor([[[0.12, 0.0, 0.0]], [[0.0, 0.0, 0.14]], [[0.0, 0.13, 0.0]]])).requires_grad_(True)
    points, point_normals = cloud.expand(3, -1, -1), normals.expand(3, -1, -1)
    tree = CloudTree(cloud)

    def distance(p: torch.Tensor) -> torch.Tensor:
        return tree_signed_distance(tree, p, cloud, normals)

    full = object_guidance_terms(hands, f, points, point_normals, float("inf"), distance)
    near = object_guidance_terms(
        hands, f, points, point_normals, float("inf"), distance, normals=vertex_normals(hands, f), reach=0.02
    )
    for a, b in zip(near, full, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert float(full[0][0].detach()) > 0.02
    (grad_near,) = torch.autograd.grad(near[0].sum(), hands)
    (grad_full,) = torch.autograd.grad(full[0].sum(), hands)
    assert torch.allclose(grad_near, grad_full, atol=1e-6)
    # 4 cm in (a hand is not that thick): the cloud points beyond reach of every vertex drop out, nothing more.
    deep = v[None] + torch.tensor([[[0.09, 0.0, 0.0]]])
    full_deep = object_guidance_terms(deep, f, points[:1], point_normals[:1], float("inf"), distance)[0]
    near_deep = object_guidance_terms(deep, f, points[:1], point_normals[:1], float("inf"), distance, reach=0.02)[0]
    assert 0.5 * float(full_deep.detach()) < float(near_deep.detach()) < float(full_deep.detach())


def test_hand_pair_indices_from_trees_built_once(ball: tuple[torch.Tensor, torch.Tensor]) -> None:
    from interhandgen_core.contact.penetration import hand_pair_indices
    from interhandgen_core.geometry.tree_nearest import SampleTrees

    v, _ = ball
    g = torch.Generator().manual_seed(1)
    # Jittered by 0.1 mm: a symmetric mesh has exactly equidistant nearest vertices, either one may be found.
    left = v * (1 + 0.2 * torch.rand(4, 1, 3, generator=g)) + 1e-4 * torch.randn(4, *v.shape, generator=g)
    right = (
        left
        + 1e-4 * torch.randn(4, *v.shape, generator=g)
        + torch.stack([torch.linspace(0.03, 0.2, 4), torch.zeros(4), torch.zeros(4)], -1)[:, None]
    )
    searched = hand_pair_indices(right, left)
    built = hand_pair_indices(right, left, 0.0, SampleTrees(left))
    assert searched is not None and built is not None
    for a, b in zip(built, searched, strict=True):
        assert torch.equal(a, b)


def test_object_terms_with_the_search_beside_the_exact_lookups_equal_the_sequential_ones(
    ball: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """Guidance's screened distance starts the cloud-to-hand search from the grid's values on the search thread
    (geometry/background_search.py): the same terms and gradients as reading the screened distance first."""
    from interhandgen_core.contact.penetration import object_guidance_terms
    from interhandgen_core.geometry.distance_grid import ScreenedSignedDistance
    from interhandgen_core.geometry.tree_nearest import TreeSignedDistance

    v, f = ball
    cloud = v * 1.6
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    exact = TreeSignedDistance(cloud, normals)
    screened = ScreenedSignedDistance(exact.grid(), exact, 0.02)
    offsets = torch.tensor([[[0.12, 0.0, 0.0]], [[0.0, 0.0, 0.14]], [[0.0, 0.13, 0.0]], [[0.0, 0.0, 0.3]]])
    hands = (v[None] + offsets).requires_grad_(True)  # into, off, touching, far from the object
    points, point_normals = cloud.expand(4, -1, -1), normals.expand(4, -1, -1)
    beside = object_guidance_terms(hands, f, points, point_normals, float("inf"), screened, reach=0.02)
    sequential = object_guidance_terms(hands, f, points, point_normals, float("inf"), lambda p: screened(p), reach=0.02)
    for a, b in zip(beside, sequential, strict=True):
        assert torch.equal(a, b)
    assert float(beside[0][0].detach()) > 0.02 and float(beside[1][3].detach()) > 10.0
    (grad_beside,) = torch.autograd.grad(beside[0].sum() + beside[1].sum(), hands)
    (grad_sequential,) = torch.autograd.grad(sequential[0].sum() + sequential[1].sum(), hands)
    assert torch.equal(grad_beside, grad_sequential)


def test_the_pairs_of_translated_meshes_give_eq7_as_the_meshes_themselves(
    ball: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """Two deformed balls overlapping by different amounts, their pairs found once (hand_pair_indices, as settling
    does), then moved by translations: translated_pair_penetration of the untranslated pairs equals penetration_loss
    of the moved meshes with the same index and normals, value and gradient in the translations."""
    v, f = ball
    g = torch.Generator().manual_seed(1)
    left = v * (1 + 0.2 * torch.rand(5, 1, 3, generator=g)) + 1e-4 * torch.randn(5, *v.shape, generator=g)
    right = v * (1 + 0.2 * torch.rand(5, 1, 3, generator=g)) + torch.tensor([[[0.05, 0.01, 0.0]]])
    searched = hand_pair_indices(right, left, 0.01)
    assert searched is not None
    left_normals, right_normals = vertex_normals(left, f), vertex_normals(right, f)
    pairs = (
        searched_pairs(right, left, left_normals, searched[0]),
        searched_pairs(left, right, right_normals, searched[1]),
    )
    assert 0 < pairs[0].rows.shape[0] < right.shape[0] * right.shape[1]  # only the vertices searched
    move_left = (0.004 * torch.randn(5, 3, generator=g)).requires_grad_(True)
    move_right = (0.004 * torch.randn(5, 3, generator=g)).requires_grad_(True)
    fast = translated_pair_penetration(pairs[0], move_right - move_left) + translated_pair_penetration(
        pairs[1], move_left - move_right
    )
    reference = penetration_loss(
        right + move_right[:, None],
        f,
        left + move_left[:, None],
        f,
        normals=right_normals,
        other_normals=left_normals,
        indices=searched,
    )
    assert float(reference.min()) > 0.0
    torch.testing.assert_close(fast, reference, atol=1e-6, rtol=1e-5)
    grads = torch.autograd.grad(fast.sum(), [move_left, move_right])
    reference_grads = torch.autograd.grad(reference.sum(), [move_left, move_right])
    for a, b in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
