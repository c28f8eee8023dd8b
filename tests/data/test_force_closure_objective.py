"""The force-closure objective's pieces: contact vertices where the docstring says (tips at the tips,
pads on the palm side), joint limits that hold the procedural articulation and mirror for the left
hand, a differentiable surface normal, and E_fc small for contacts that oppose."""

from __future__ import annotations

import math

import pytest
import torch

from interhandgen_core.data import force_closure_objective as fco
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair


@pytest.fixture(scope="module")
def right_layer() -> HandLayer:
    return HandLayer(load_hand_pair("procedural", None)[0])


def test_contact_vertices_are_tips_pads_and_palm(right_layer: HandLayer) -> None:
    index = fco.contact_vertices(right_layer)
    assert index.shape == (fco.NUM_CONTACTS,) and index.unique().numel() == fco.NUM_CONTACTS
    rest = HandParams(torch.zeros(1, 45), torch.zeros(1, 10), torch.eye(3)[None], torch.zeros(1, 3))
    with torch.no_grad():
        out = right_layer(rest)
    vertices, keypoints = out.vertices[0], out.keypoints[0]
    for f, finger in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        tip = keypoints[KEYPOINT_NAMES.index(f"{finger}_tip")]
        assert (vertices[index[f]] - tip).norm() < 0.012, finger
        if finger == "thumb":
            continue
        # Pads: on the palm side (-y in the rest frame, where palm_vertex_index looks) of their segment.
        for pad, (a, b) in zip(index[5 + 2 * f : 7 + 2 * f], ((2, 3), (1, 2)), strict=True):
            mid = 0.5 * (
                keypoints[KEYPOINT_NAMES.index(f"{finger}{a}")] + keypoints[KEYPOINT_NAMES.index(f"{finger}{b}")]
            )
            assert vertices[pad][1] < mid[1] - 0.003, (finger, a, b)


def test_joint_limits_hold_the_articulation_and_mirror_for_the_left_hand() -> None:
    low, high = fco.joint_limits("right")
    g = torch.Generator().manual_seed(1)
    pose = curl_pose(torch.rand(64, 5, generator=g), -1 + 2 * torch.rand(64, generator=g))
    assert bool(((pose >= low) & (pose <= high)).all())
    assert bool((curl_pose(torch.full((1, 5), 2.0), torch.zeros(1)) > high).any())  # over-curled: outside
    left_low, left_high = fco.joint_limits("left")
    mirrored = HandParams(pose, torch.zeros(64, 10), torch.eye(3).expand(64, 3, 3), torch.zeros(64, 3)).mirrored()
    assert bool(((mirrored.pose >= left_low) & (mirrored.pose <= left_high)).all())


def test_normal_is_the_distance_gradient_and_stays_differentiable() -> None:
    def sphere(p: torch.Tensor) -> torch.Tensor:
        return p.norm(dim=-1) - 0.05

    points = torch.tensor([[[0.06, 0.0, 0.0], [0.0, 0.0, 0.03]]], requires_grad=True)
    distance, normal = fco.differentiable_distance_and_normal(sphere, points)
    torch.testing.assert_close(distance.detach(), torch.tensor([[0.01, -0.02]]))
    torch.testing.assert_close(normal.detach(), torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]))
    (grad,) = torch.autograd.grad(normal[0, 0, 1], points)  # the normal turns as the point moves
    assert grad.abs().sum() > 0


def test_force_closure_terms_are_small_for_opposing_contacts_on_the_surface() -> None:
    def sphere(p: torch.Tensor) -> torch.Tensor:
        return p.norm(dim=-1) - 0.05

    def ring(angles: list[float]) -> torch.Tensor:
        a = torch.tensor(angles)
        return 0.05 * torch.stack([a.cos(), a.sin(), torch.zeros_like(a)], -1)[None]

    ones = torch.ones(1, 2)
    e_fc, e_dis = fco.force_closure_terms(sphere, ring([math.pi, math.pi]), ring([0.0, 0.0]), ones, ones)
    assert e_fc.item() < 1e-5 and e_dis.item() < 1e-4
    e_fc_same, _ = fco.force_closure_terms(sphere, ring([0.1, -0.1]), ring([0.0, 0.0]), ones, ones)
    assert e_fc_same.item() > 3.5


def test_contact_weights_follow_the_placement() -> None:
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [1.0] * 6])
    w = fco.contact_weights(targets, 1.0, torch.Generator().manual_seed(0))
    assert w.shape == (2, fco.NUM_CONTACTS)
    assert w[0].tolist() == [1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]  # pinch: thumb and index, their pads
    assert bool((w[1] == 1).all())
    assert bool((fco.contact_weights(targets, 0.0, torch.Generator())[:, 5:15] == 0).all())
