"""The capsule proxy of a posed hand: its bones, its radii, and how well it agrees with the mesh's inside test."""

from __future__ import annotations

import pytest
import torch

from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.geometry.winding import inside_mesh
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.capsule_proxy import CapsuleProxy, bone_labels
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import NUM_BONES, bone_segments
from interhandgen_core.hands.layer import HandLayer, HandOutput
from interhandgen_core.hands.procedural import load_procedural_hand


def posed(layer: HandLayer, gen: torch.Generator, translation: torch.Tensor) -> HandOutput:
    n = translation.shape[0]
    pose = 0.3 * torch.randn(n, 45, generator=gen)
    betas = torch.randn(n, 10, generator=gen)
    rotation = axis_angle_to_matrix(torch.randn(n, 3, generator=gen))
    with torch.no_grad():
        return layer(HandParams(pose, betas, rotation, translation))


def test_every_bone_of_the_hand_model_gets_vertices(hand_asset: HandAsset) -> None:
    layer = HandLayer(hand_asset)
    proxy = CapsuleProxy.of_layer(layer)
    counts = torch.bincount(proxy.labels, minlength=NUM_BONES)
    assert proxy.labels.shape == (layer.num_vertices,)
    assert int(counts.min()) > 0


def test_the_bones_run_from_parent_to_child_keypoint() -> None:
    keypoints = torch.arange(21 * 3, dtype=torch.float32).reshape(1, 21, 3)
    start, end = bone_segments(keypoints)
    assert start.shape == end.shape == (1, 20, 3)
    assert torch.equal(start[0, 0], keypoints[0, 0]) and torch.equal(end[0, 0], keypoints[0, 1])  # wrist -> thumb1
    assert torch.equal(start[0, 1], keypoints[0, 1]) and torch.equal(end[0, 1], keypoints[0, 2])


def test_labels_and_quantiles_are_checked() -> None:
    with pytest.raises(ValueError, match="radius_quantile"):
        CapsuleProxy(torch.arange(40) % NUM_BONES, radius_quantile=0.0)
    with pytest.raises(ValueError, match="every bone needs a vertex"):
        CapsuleProxy(torch.zeros(40, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        CapsuleProxy(torch.full((40,), 20))


def test_the_proxy_agrees_with_the_meshs_inside_test() -> None:
    """Vertices of a right hand placed into a left hand: inside the left capsules where inside its mesh.

    Measured on the procedural hand, 16 random pairs: precision 0.71 and recall 0.96 at the default radius
    (the 0.75 quantile), 0.86 and 0.85 at the median. The vertices the proxy wrongly reads inside lie
    within a few millimetres of the skin, where a push out of the proxy costs little.
    """
    hand_asset = load_procedural_hand()  # the synthetic ellipsoid of the other tests has no fingers
    right, left = HandLayer(hand_asset), HandLayer(hand_asset.mirrored())
    gen = torch.Generator().manual_seed(0)
    anchor = posed(left, gen, torch.zeros(16, 3))
    other = posed(right, gen, anchor.vertices.mean(1) + 0.02 * torch.randn(16, 3, generator=gen))
    capsules = CapsuleProxy.of_layer(left)(anchor.keypoints, anchor.vertices)
    inside = inside_mesh(other.vertices, anchor.vertices, left.faces)
    depth = capsules.depth(other.vertices)
    proxy_inside = depth > 0
    true_positive = int((inside & proxy_inside).sum())
    assert int(inside.sum()) > 100  # the hands do interpenetrate
    assert true_positive / int(proxy_inside.sum()) > 0.65  # precision
    assert true_positive / int(inside.sum()) > 0.9  # recall
    assert float(depth[proxy_inside & ~inside].quantile(0.95)) < 0.005  # false insides are shallow
    # The hand's own skin lies around its capsules: most of it within them at the 0.75 quantile.
    own = capsules.signed_distance(anchor.vertices)
    assert 0.6 < float((own < 0).float().mean()) < 0.9
    assert float(own.abs().quantile(0.95)) < 0.01


def test_the_axes_carry_the_gradient_of_the_keypoints(hand_asset: HandAsset) -> None:
    layer = HandLayer(hand_asset)
    out = posed(layer, torch.Generator().manual_seed(1), torch.zeros(2, 3))
    keypoints = out.keypoints.clone().requires_grad_(True)
    capsules = CapsuleProxy.of_layer(layer)(keypoints, out.vertices)
    assert capsules.start.shape == capsules.end.shape == (2, 20, 3) and capsules.radius.shape == (2, 20)
    assert not capsules.radius.requires_grad
    (grad,) = torch.autograd.grad(capsules.start.sum() + capsules.end.sum(), keypoints)
    assert grad.abs().sum() > 0


def test_bone_labels_of_a_rest_pose_pick_the_nearest_bone() -> None:
    keypoints = torch.zeros(21, 3)
    keypoints[1:, 0] = torch.arange(1, 21, dtype=torch.float32) * 0.01  # every bone on the x axis, in a row
    keypoints[5:, 1] = 0.1  # all bones but the first four (the thumb's) lifted 10 cm along y
    vertices = torch.tensor([[0.015, 0.0, 0.001], [0.1, 0.1, 0.0]])
    labels = bone_labels(vertices, keypoints)
    assert labels[0] == 1  # the thumb's second bone, from 1 to 2 cm
    assert labels[1] >= 4
