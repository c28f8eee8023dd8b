"""Rigid settling of sampled hands onto an object cloud (contact/settling.py)."""

from __future__ import annotations

import math

import torch
import trimesh

from interhandgen_core.contact.settling import settle_translations
from interhandgen_core.geometry.nearest import points_to_cloud_signed_distance


def ball(radius: float, centre: tuple[float, float, float], subdivisions: int) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    vertices = torch.as_tensor(mesh.vertices, dtype=torch.float32) + torch.tensor(centre)
    return vertices, torch.as_tensor(mesh.faces, dtype=torch.long)


def test_hands_sunk_in_or_floating_off_the_object_end_up_touching_it() -> None:
    cloud, _ = ball(0.06, (0.0, 0.0, 0.0), 4)
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    # Two stand-in "hands" (small balls): one 2 cm into the object, one floating 3 cm off it.
    sunk, faces = ball(0.02, (0.06, 0.0, 0.0), 2)
    floating, _ = ball(0.02, (-0.11, 0.0, 0.0), 2)
    left, right = settle_translations(sunk[None], faces, floating[None], faces, cloud, normals, math.inf, 60, 0.002)
    for hand, offset in ((sunk, left), (floating, right)):
        signed = points_to_cloud_signed_distance((hand + offset)[None], cloud[None], normals[None])
        assert float(signed.min()) > -0.002, "no vertex more than 2 mm inside"
        assert float(signed.min()) < 0.005, "touching: closest vertex within 5 mm"


def test_zero_iterations_leave_hands_where_they_are() -> None:
    cloud, _ = ball(0.06, (0.0, 0.0, 0.0), 3)
    hand, faces = ball(0.02, (0.06, 0.0, 0.0), 1)
    left, right = settle_translations(hand[None], faces, hand[None], faces, cloud, cloud / 0.06, math.inf, 0, 0.002)
    assert torch.equal(left, torch.zeros(1, 3)) and torch.equal(right, torch.zeros(1, 3))


def test_searching_the_hands_every_few_iterations_settles_as_a_search_at_every_one(monkeypatch) -> None:
    import interhandgen_core.contact.settling as settling

    cloud, _ = ball(0.06, (0.0, 0.0, 0.0), 4)
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    # Two "hands" overlapping each other and the object: the hand-hand term acts throughout.
    left, faces = ball(0.02, (0.065, 0.0, 0.0), 2)
    right, _ = ball(0.02, (0.07, 0.025, 0.0), 2)
    few = settle_translations(left[None], faces, right[None], faces, cloud, normals, math.inf, 30, 0.002)
    monkeypatch.setattr(settling, "_SEARCH_EVERY", 1)
    every = settle_translations(left[None], faces, right[None], faces, cloud, normals, math.inf, 30, 0.002)
    for a, b in zip(few, every, strict=True):
        assert float((a - b).norm()) < 0.003  # within a step and a half of the reference


def test_the_object_read_by_a_structure_settles_as_the_dense_reference() -> None:
    """With a signed-distance structure (here the cloud's k-d tree, which gives the reference's distances), settling
    reads every vertex once without a gradient and only the contributing ones again with one; the dense path
    (every vertex with its gradient, the all-pairs distance) gives the same translations."""
    from interhandgen_core.geometry.tree_nearest import TreeSignedDistance

    # Jittered by 0.1 mm: on exact icospheres equidistant nearest points tie, and either search may pick either.
    g = torch.Generator().manual_seed(0)
    cloud, _ = ball(0.06, (0.0, 0.0, 0.0), 4)
    cloud = cloud + 1e-4 * torch.randn(cloud.shape, generator=g)
    normals = torch.nn.functional.normalize(cloud, dim=-1)
    hand, faces = ball(0.02, (0.0, 0.0, 0.0), 2)
    tilt = torch.tensor([0.0, 0.013, 0.007])
    left = torch.stack([hand + torch.tensor([0.06 + 0.01 * i, 0.0, 0.0]) + i * tilt for i in range(4)])  # sunk in
    right = torch.stack([hand + torch.tensor([-0.09 - 0.01 * i, 0.01, 0.0]) - i * tilt for i in range(4)])  # floating
    left, right = (h + 1e-4 * torch.randn(h.shape, generator=g) for h in (left, right))
    for band in (math.inf, 0.015):
        dense = settle_translations(left, faces, right, faces, cloud, normals, band, 20, 0.002)
        sparse = settle_translations(
            left,
            faces,
            right,
            faces,
            cloud,
            normals,
            band,
            20,
            0.002,
            signed_distance=TreeSignedDistance(cloud, normals),
        )
        for a, b in zip(dense, sparse, strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0.0)
        assert float(dense[0].norm(dim=-1).min()) > 0.001 and float(dense[1].norm(dim=-1).min()) > 0.001  # all moved
