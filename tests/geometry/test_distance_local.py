"""Point-to-surface distance: the local fast path (vertex rings) against the full search, and vertex_faces."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import interhandgen_core
from interhandgen_core.geometry.distance import (
    points_to_surface_distance,
    points_to_surface_distance_local,
    vertex_faces,
)
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"


def test_vertex_faces_lists_each_face_in_the_rings_of_its_vertices_only() -> None:
    # A square pyramid (5 vertices, apex valence 4, base corners valence 3 or 4) plus an isolated vertex 5.
    faces = torch.tensor([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4], [0, 2, 1], [0, 3, 2]])
    ring = vertex_faces(faces, 6)
    assert ring.dtype == torch.long
    assert ring.shape == (6, 4)  # vertices 0, 2 and 4 are in four faces each
    for v in range(6):
        listed = [int(f) for f in ring[v] if f >= 0]
        expected = sorted(f for f in range(faces.shape[0]) if v in faces[f].tolist())
        assert sorted(listed) == expected, v
        assert len(set(listed)) == len(listed)
        # Padding only at the end, and only with -1.
        assert (ring[v, len(listed) :] == -1).all()
        assert (ring[v] >= -1).all()
    assert (ring[5] == -1).all()


def test_vertex_faces_on_a_hand_mesh() -> None:
    if not PROCEDURAL_NPZ.is_file():
        pytest.skip("procedural asset not generated")
    right, _ = load_hand_pair()
    faces = torch.as_tensor(right.faces, dtype=torch.long)
    num_vertices = right.v_template.shape[0]
    ring = vertex_faces(faces, num_vertices)
    # Every face occurs exactly three times in the table: once in the ring of each of its vertices.
    listed = ring[ring >= 0]
    assert torch.equal(torch.bincount(listed, minlength=faces.shape[0]), torch.full((faces.shape[0],), 3))
    rows = torch.arange(num_vertices)[:, None].expand_as(ring)[ring >= 0]
    assert (faces[listed] == rows[:, None]).any(dim=1).all()


@pytest.fixture(scope="module")
def posed_hands() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(right vertices (B, V, 3), right faces, left vertices (B, V, 3)): posed hands pushed into each other."""
    if not PROCEDURAL_NPZ.is_file():
        pytest.skip("procedural asset not generated")
    right_asset, left_asset = load_hand_pair()
    right_layer, left_layer = HandLayer(right_asset), HandLayer(left_asset)
    g = torch.Generator().manual_seed(0)
    batch = 4
    curl = torch.rand(batch, 5, generator=g)
    curl[0] = 0.0  # one flat hand, one fist
    curl[1] = 1.0
    spread = torch.rand(batch, generator=g) * 2 - 1
    betas = torch.randn(batch, 10, generator=g) * 0.8
    identity = torch.eye(3).expand(batch, 3, 3)
    with torch.no_grad():
        right = right_layer(HandParams(curl_pose(curl, spread), betas, identity, torch.zeros(batch, 3))).vertices
        # The left hand: random rotation, its wrist placed at a random point of the right hand's palm and
        # fingers region, so that its vertices lie both inside and just outside the right hand.
        axis = torch.nn.functional.normalize(torch.randn(batch, 3, generator=g), dim=-1)
        angle = torch.rand(batch, 1, generator=g) * math.pi
        rotation = axis_angle_to_matrix(axis * angle)
        target = right[torch.arange(batch), torch.randint(right.shape[1], (batch,), generator=g)]
        left_curl = torch.rand(batch, 5, generator=g)
        left_pose = curl_pose(left_curl, torch.rand(batch, generator=g) * 2 - 1)
        left = left_layer(HandParams(left_pose, torch.randn(batch, 10, generator=g) * 0.8, rotation, target)).vertices
    return right, right_layer.faces, left


def test_local_distance_equals_the_full_search_around_two_posed_hands(
    posed_hands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    right, faces, left = posed_hands
    g = torch.Generator().manual_seed(1)
    batch = left.shape[0]
    # Every other vertex of the left hand, plus copies jittered by a few millimetres.
    left = left[:, ::2]
    num_v = left.shape[1]
    points = torch.cat([left, left + torch.randn(left.shape, generator=g) * 0.003]).reshape(-1, 3)
    batch_index = torch.arange(batch).repeat_interleave(num_v).repeat(2)
    fast = points_to_surface_distance_local(points, batch_index, right, faces)
    full = points_to_surface_distance(points, batch_index, right, faces)
    assert fast.shape == full.shape == (points.shape[0],)
    # The comparison must cover points near the surface and points well away from it (inside or out).
    assert (full < 0.002).sum() > 50
    assert (full > 0.01).sum() > 50
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=0)


def test_local_distance_equals_the_full_search_in_and_around_self_touching_hands(
    posed_hands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    # Random points in each hand's bounding box, inside and outside; sample 1 is a fist, whose curled
    # fingers lie closer to points near the palm than the palm triangles' own vertices do.
    right, faces, _ = posed_hands
    g = torch.Generator().manual_seed(2)
    low, high = right.min(dim=1).values, right.max(dim=1).values
    num = 1000
    points = (low[:, None] + torch.rand(right.shape[0], num, 3, generator=g) * (high - low)[:, None]).reshape(-1, 3)
    batch_index = torch.arange(right.shape[0]).repeat_interleave(num)
    fast = points_to_surface_distance_local(points, batch_index, right, faces)
    full = points_to_surface_distance(points, batch_index, right, faces)
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=0)


def test_local_distance_of_points_on_the_surface_is_zero(
    posed_hands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    right, faces, _ = posed_hands
    # Face centroids and vertices lie on the mesh.
    centroids = right[:, faces].mean(dim=2)  # (B, F, 3)
    points = torch.cat([centroids, right], dim=1)
    batch_index = torch.arange(right.shape[0]).repeat_interleave(points.shape[1])
    d = points_to_surface_distance_local(points.reshape(-1, 3), batch_index, right, faces)
    assert d.abs().max() < 1e-6


def test_local_distance_uses_each_points_own_sample(
    posed_hands: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    right, faces, left = posed_hands
    points = left[0, :200]
    d0 = points_to_surface_distance_local(points, torch.zeros(200, dtype=torch.long), right, faces)
    d1 = points_to_surface_distance_local(points, torch.ones(200, dtype=torch.long), right, faces)
    torch.testing.assert_close(d0, points_to_surface_distance(points, torch.zeros(200, dtype=torch.long), right, faces))
    torch.testing.assert_close(d1, points_to_surface_distance(points, torch.ones(200, dtype=torch.long), right, faces))
    assert (d0 - d1).abs().max() > 1e-3


def test_empty_input_gives_an_empty_tensor() -> None:
    vertices = torch.rand(2, 5, 3)
    faces = torch.tensor([[0, 1, 2], [2, 3, 4]])
    points = torch.zeros(0, 3)
    index = torch.zeros(0, dtype=torch.long)
    for fn in (points_to_surface_distance_local, points_to_surface_distance):
        out = fn(points, index, vertices, faces)
        assert out.shape == (0,)
        assert out.dtype == points.dtype
