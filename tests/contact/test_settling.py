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
