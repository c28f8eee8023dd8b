"""The shipped procedural hand (hands/procedural/__init__.py): a closed, outward-wound, hand-sized mesh.

Every test reads the shipped ``procedural_hand.npz``. Its rig is tested per part
(test_procedural_joints.py, test_procedural_skinning.py, test_procedural_shape.py); the
generator is run by test_procedural_command.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import PARENTS, TIP_ORDER
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.procedural import ASSET_NAME, load_procedural_hand, shipped_asset_path
from interhandgen_core.hands.procedural.design import designs_to_skeleton


@pytest.fixture(scope="module")
def asset() -> HandAsset:
    return load_procedural_hand()


def _manifold_problems(faces: np.ndarray, num_vertices: int) -> list[str]:
    """Every edge in exactly two faces with opposite orientation, one component, Euler characteristic 2."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    problems = []
    _, counts = np.unique(directed, axis=0, return_counts=True)
    if np.any(counts > 1):
        problems.append("a directed edge occurs twice (inconsistent winding or non-manifold edge)")
    halfedges = {(int(a), int(b)) for a, b in directed}
    if any((b, a) not in halfedges for a, b in halfedges):
        problems.append("an edge has no opposite half-edge (hole)")
    if np.unique(faces).size != num_vertices:
        problems.append("unused vertices")
    euler = num_vertices - len(halfedges) // 2 + faces.shape[0]
    if euler != 2:
        problems.append(f"Euler characteristic {euler}")
    # One connected component: flood fill over edges.
    neighbours: list[list[int]] = [[] for _ in range(num_vertices)]
    for a, b in halfedges:
        neighbours[a].append(b)
    seen, stack = {0}, [0]
    while stack:
        for n in neighbours[stack.pop()]:
            if n not in seen:
                seen.add(n)
                stack.append(n)
    if len(seen) != num_vertices:
        problems.append("more than one connected component")
    return problems


def _volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """points (P, 3) -> (P,) generalised winding numbers: 1 inside a closed outward mesh, 0 outside."""
    tri = vertices[faces][None] - points[:, None, None, :]
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    dot = lambda x, y: np.einsum("pfi,pfi->pf", x, y)  # noqa: E731
    numerator = dot(a, np.cross(b, c))
    denominator = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
    return np.arctan2(numerator, denominator).sum(-1) / (2.0 * np.pi)


def test_file_and_fixed_arrays(asset: HandAsset) -> None:
    assert shipped_asset_path().stat().st_size < 1_000_000
    assert asset.name == ASSET_NAME and asset.side == "right"
    assert 700 <= asset.num_vertices <= 900
    assert asset.faces.shape == (2 * asset.num_vertices - 4, 3)
    assert np.array_equal(asset.parents, np.array(PARENTS))
    assert not asset.posedirs.any()
    assert not asset.hands_mean.any()
    assert np.array_equal(asset.hands_components, np.eye(45))


def test_mesh_is_one_closed_outward_surface(asset: HandAsset) -> None:
    assert _manifold_problems(asset.faces, asset.num_vertices) == []
    volume_cm3 = _volume(asset.v_template, asset.faces) * 1e6
    assert 200.0 < volume_cm3 < 500.0
    # Outward normals: a point just outside along a face normal is outside, just inside is inside.
    tri = asset.v_template[asset.faces[::97]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    centre = tri.mean(axis=1)
    assert np.all(_winding_numbers(centre + 5e-4 * normal, asset.v_template, asset.faces) < 0.5)
    assert np.all(_winding_numbers(centre - 5e-4 * normal, asset.v_template, asset.faces) > 0.5)


def test_dimensions_and_axes(asset: HandAsset) -> None:
    v = asset.v_template
    joints = asset.J_regressor @ v
    tips = dict(zip(TIP_ORDER, v[asset.tip_vertex_ids], strict=True))
    assert np.allclose(joints[0], 0.0, atol=1e-9)
    length = np.ptp(v[:, 0])
    assert 0.17 < length < 0.21
    assert 0.17 < np.linalg.norm(tips["middle"] - joints[0]) < 0.19
    # Fingers along -x, the middle finger longest and the pinky shortest, thumb towards +z.
    assert tips["middle"][0] == v[:, 0].min()
    assert tips["middle"][0] < tips["ring"][0] and tips["middle"][0] < tips["index"][0] < tips["pinky"][0]
    assert tips["thumb"][2] == pytest.approx(v[:, 2].max(), abs=0.005)
    # Palm about 8-9 cm wide across the knuckles and 2.5-3 cm thick in its middle.
    knuckles = v[(np.abs(v[:, 0] + 0.075) < 0.005) & (v[:, 2] < 0.05)]
    assert 0.08 < np.ptp(knuckles[:, 2]) < 0.095
    middle_of_palm = v[(np.abs(v[:, 0] + 0.04) < 0.005) & (np.abs(v[:, 2]) < 0.01)]
    assert 0.025 < np.ptp(middle_of_palm[:, 1]) < 0.03
    # Palm facing -y: the thumb (which sits in front of the palm) and the palm pad lie below y = 0.
    assert tips["thumb"][1] < -0.01
    assert v[:, 1].min() < -v[:, 1].max() + 0.01


@pytest.mark.parametrize("side", ["right", "left"])
def test_joints_stay_inside_for_betas(asset: HandAsset, side: str) -> None:
    hand = asset if side == "right" else asset.mirrored()
    layer = HandLayer(hand, dtype=torch.float64)
    betas = [np.zeros(10)]
    for k in range(10):
        for value in (-2.0, 2.0):
            beta = np.zeros(10)
            beta[k] = value
            betas.append(beta)
    betas += list(np.random.default_rng(0).uniform(-2.0, 2.0, size=(6, 10)))
    beta_t = torch.tensor(np.array(betas))
    shaped = (layer.v_template + torch.einsum("bl,vkl->bvk", beta_t, layer.shapedirs)).numpy()
    joints = layer.rest_joints(beta_t).numpy()
    for vertices, joint in zip(shaped, joints, strict=True):
        assert _volume(vertices, hand.faces) > 0.0
        assert _winding_numbers(joint, vertices, hand.faces).min() > 0.99


def test_mirrored_left_hand_is_closed_and_outward(asset: HandAsset) -> None:
    left = asset.mirrored()
    assert _manifold_problems(left.faces, left.num_vertices) == []
    assert _volume(left.v_template, left.faces) == pytest.approx(_volume(asset.v_template, asset.faces))
    # Gamma mirrors x: the left hand's fingers point along +x.
    assert left.v_template[left.tip_vertex_ids[2], 0] == left.v_template[:, 0].max() > 0.15


def test_layer_rest_pose_is_the_template(asset: HandAsset) -> None:
    layer = HandLayer(asset, dtype=torch.float64)
    zeros = torch.zeros(1, 45, dtype=torch.float64)
    out = layer(
        HandParams(
            zeros,
            torch.zeros(1, 10, dtype=torch.float64),
            torch.eye(3, dtype=torch.float64)[None],
            torch.zeros(1, 3, dtype=torch.float64),
        ),
    )
    assert torch.allclose(out.vertices[0], torch.as_tensor(asset.v_template), atol=1e-12)
    assert torch.allclose(out.joints[0], torch.as_tensor(designs_to_skeleton().joints), atol=1e-9)
