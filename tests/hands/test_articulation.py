"""curl_pose on the shipped procedural hand: shapes, flat rest, fist, monotonic curl, spread, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.errors import DataError
from interhandgen_core.hands.articulation import curl_pose
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import TIP_ORDER
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.procedural import load_procedural_hand

F64 = torch.float64


@pytest.fixture(scope="module")
def asset() -> HandAsset:
    return load_procedural_hand()


@pytest.fixture(scope="module")
def layer(asset: HandAsset) -> HandLayer:
    return HandLayer(asset, dtype=F64)


def _pose_hand(layer: HandLayer, curl: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """-> (B, V, 3) vertices of the posed hand, mean shape, identity rotation, wrist at the origin."""
    batch = curl.shape[0]
    out = layer(
        HandParams(
            curl_pose(curl, spread),
            torch.zeros(batch, 10, dtype=curl.dtype),
            torch.eye(3, dtype=curl.dtype).expand(batch, 3, 3),
            torch.zeros(batch, 3, dtype=curl.dtype),
        ),
    )
    return out.vertices


def _palm_pad(asset: HandAsset) -> np.ndarray:
    """Indices of the palm's skin on the palm side: driven by the wrist, normal pointing -y."""
    v, f = asset.v_template, asset.faces
    face_normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, f[:, k], face_normals)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return np.flatnonzero((asset.weights[:, 0] > 0.5) & (normals[:, 1] < -0.7))


def _tip_to_palm_distances(
    layer: HandLayer, asset: HandAsset, curl: torch.Tensor, spread: torch.Tensor
) -> torch.Tensor:
    """-> (B, 5) fingertip distances (metres, TIP_ORDER) to the centre of the palm pad."""
    vertices = _pose_hand(layer, curl, spread)
    centre = vertices[:, torch.as_tensor(_palm_pad(asset))].mean(dim=1, keepdim=True)
    return (vertices[:, layer.tip_vertex_ids] - centre).norm(dim=-1)


def test_shape_dtype_and_flat_rest() -> None:
    pose = curl_pose(torch.rand(7, 5), torch.rand(7) * 2 - 1)
    assert pose.shape == (7, 45) and pose.dtype == torch.float32
    assert torch.equal(
        curl_pose(torch.zeros(3, 5, dtype=F64), torch.zeros(3, dtype=F64)), torch.zeros(3, 45, dtype=F64)
    )


def test_batch_entries_are_independent() -> None:
    curl = torch.rand(5, 5, dtype=F64)
    spread = torch.rand(5, dtype=F64) * 2 - 1
    batched = curl_pose(curl, spread)
    single = torch.cat([curl_pose(curl[i : i + 1], spread[i : i + 1]) for i in range(5)])
    assert torch.allclose(batched, single)


def test_wrong_shapes_raise() -> None:
    with pytest.raises(DataError, match=r"curl must be \(B, 5\)"):
        curl_pose(torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(DataError, match=r"spread must be \(B,\)"):
        curl_pose(torch.zeros(2, 5), torch.zeros(2, 1))


def test_fist_brings_fingertips_to_the_palm(layer: HandLayer, asset: HandAsset) -> None:
    curl = torch.stack([torch.zeros(5, dtype=F64), torch.ones(5, dtype=F64)])
    flat, fist = _tip_to_palm_distances(layer, asset, curl, torch.zeros(2, dtype=F64))
    assert torch.all(fist < flat - 0.04)
    fingers = fist[1:]
    assert torch.all(fingers < 0.04), dict(zip(TIP_ORDER, fist.tolist(), strict=True))
    # The thumb closes over the curled fingers, outside them, so it stays a little further.
    assert fist[0] < 0.05


def test_fist_fingertips_do_not_pass_through_the_palm(layer: HandLayer, asset: HandAsset) -> None:
    vertices = _pose_hand(layer, torch.ones(1, 5, dtype=F64), torch.zeros(1, dtype=F64))[0]
    pad = vertices[torch.as_tensor(_palm_pad(asset))]
    tips = vertices[layer.tip_vertex_ids]
    # Palm side is -y: no fingertip ends up more than 5 mm behind the palm's skin, into the palm.
    assert torch.all(tips[:, 1] < pad[:, 1].mean() + 0.005)


def test_curl_is_monotonic(layer: HandLayer, asset: HandAsset) -> None:
    steps = torch.linspace(0.0, 1.0, 11, dtype=F64)
    distances = _tip_to_palm_distances(layer, asset, steps[:, None].expand(11, 5), torch.zeros(11, dtype=F64))
    assert torch.all(distances[1:] <= distances[:-1] + 1e-4)


def test_fingers_curl_towards_the_palm_side(layer: HandLayer) -> None:
    curl = torch.tensor([[0.0] * 5, [0.3] * 5], dtype=F64)
    flat, bent = _pose_hand(layer, curl, torch.zeros(2, dtype=F64))[:, layer.tip_vertex_ids]
    assert torch.all(bent[:, 1] < flat[:, 1] - 0.01)  # every tip moves to -y


def test_curling_one_finger_leaves_the_others(layer: HandLayer) -> None:
    curl = torch.zeros(2, 5, dtype=F64)
    curl[1, 1] = 1.0  # index only
    flat, bent = _pose_hand(layer, curl, torch.zeros(2, dtype=F64))
    moved = (bent - flat).norm(dim=-1)
    tips = layer.tip_vertex_ids
    assert moved[tips[1]] > 0.05
    assert torch.all(moved[tips[torch.tensor([0, 2, 3, 4])]] < 1e-3)


def test_spread_opens_and_closes_the_fingers(layer: HandLayer) -> None:
    spread = torch.tensor([0.0, 1.0, -1.0], dtype=F64)
    tips = _pose_hand(layer, torch.zeros(3, 5, dtype=F64), spread)[:, layer.tip_vertex_ids]
    index_to_pinky = (tips[:, 1] - tips[:, 4]).norm(dim=-1)
    assert index_to_pinky[1] > index_to_pinky[0] + 0.02
    assert index_to_pinky[2] < index_to_pinky[0] - 0.01


@pytest.mark.parametrize("at_rest", [True, False])
def test_gradients_flow(layer: HandLayer, at_rest: bool) -> None:
    curl = (torch.zeros(2, 5, dtype=F64) if at_rest else torch.rand(2, 5, dtype=F64)).requires_grad_()
    spread = (torch.zeros(2, dtype=F64) if at_rest else torch.rand(2, dtype=F64) - 0.5).requires_grad_()
    vertices = _pose_hand(layer, curl, spread)
    vertices[..., 1].sum().backward()
    assert curl.grad is not None and spread.grad is not None
    assert torch.isfinite(curl.grad).all() and torch.isfinite(spread.grad).all()
    assert torch.all(curl.grad.abs() > 0)
    assert torch.autograd.gradcheck(curl_pose, (curl.detach().clone().requires_grad_(), spread.detach() + 0.3))
