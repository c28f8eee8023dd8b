"""Shared fixtures: a small synthetic MANO-format hand and the shipped procedural hand.

``make_synthetic_asset(seed, posedirs_scale)`` builds a closed, outward-wound ellipsoid
mesh (162 vertices) with random skinning weights, shape directions, joint regressor and,
when ``posedirs_scale`` > 0, random pose correctives, so that hand-layer tests do not need
any model file. ``hand_asset`` runs a test on both the synthetic and the procedural hand
(the latter skipped only while ``interhandgen_core/assets/procedural_hand.npz`` is absent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tiny_prior import write_tiny_object_prior, write_tiny_prior

from interhandgen_core.cli import main
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_JOINTS, PARENTS

PROCEDURAL_NPZ = Path(__file__).resolve().parents[1] / "interhandgen_core" / "assets" / "procedural_hand.npz"


def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    golden = (1.0 + 5.0**0.5) / 2.0
    vertices = [
        [-1, golden, 0], [1, golden, 0], [-1, -golden, 0], [1, -golden, 0],
        [0, -1, golden], [0, 1, golden], [0, -1, -golden], [0, 1, -golden],
        [golden, 0, -1], [golden, 0, 1], [-golden, 0, -1], [-golden, 0, 1],
    ]  # fmt: skip
    faces = [
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
        [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
        [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
        [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ]  # fmt: skip
    verts = [np.array(v, dtype=np.float64) / np.linalg.norm(v) for v in vertices]

    def mid(a: int, b: int, midpoint: dict[tuple[int, int], int]) -> int:
        key = (min(a, b), max(a, b))
        if key not in midpoint:
            m = verts[a] + verts[b]
            verts.append(m / np.linalg.norm(m))
            midpoint[key] = len(verts) - 1
        return midpoint[key]

    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}
        new_faces = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b, cache), mid(b, c, cache), mid(c, a, cache)
            new_faces += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        faces = new_faces
    v = np.stack(verts)
    f = np.array(faces, dtype=np.int64)
    # Wind every face counter-clockwise seen from outside (the sphere is centred at 0).
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    inward = (normals * v[f].mean(axis=1)).sum(-1) < 0
    f[inward] = f[inward][:, ::-1]
    return v, f


def build_synthetic_asset(seed: int = 0, posedirs_scale: float = 0.0) -> HandAsset:
    """A random MANO-format right hand on an ellipsoid (about 18 x 8 x 10 cm, fingers along -x)."""
    rng = np.random.default_rng(seed)
    sphere, faces = _icosphere(2)
    v_template = sphere * np.array([0.09, 0.04, 0.05])
    num_vertices = v_template.shape[0]
    # Each joint regressed from a few vertices near a point spread along the hand.
    anchors = np.linspace(0.08, -0.08, NUM_JOINTS)[:, None] * np.array([1.0, 0.0, 0.0])
    anchors[:, 2] += rng.uniform(-0.02, 0.02, NUM_JOINTS)
    j_regressor = np.zeros((NUM_JOINTS, num_vertices))
    for j, anchor in enumerate(anchors):
        nearest = np.argsort(np.linalg.norm(v_template - anchor, axis=1))[:6]
        w = rng.uniform(0.5, 1.0, nearest.size)
        j_regressor[j, nearest] = w / w.sum()
    logits = -np.linalg.norm(v_template[:, None] - anchors[None], axis=-1) / 0.02 + rng.normal(
        0, 0.5, (num_vertices, NUM_JOINTS)
    )
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return HandAsset(
        name="synthetic",
        side="right",
        v_template=v_template,
        faces=faces,
        shapedirs=rng.normal(0.0, 0.002, (num_vertices, 3, NUM_BETAS)),
        posedirs=rng.normal(0.0, posedirs_scale, (num_vertices, 3, (NUM_JOINTS - 1) * 9)),
        J_regressor=j_regressor,
        weights=weights,
        parents=np.array(PARENTS, dtype=np.int64),
        tip_vertex_ids=rng.choice(num_vertices, 5, replace=False).astype(np.int64),
        hands_mean=np.zeros(45),
        hands_components=np.eye(45),
    )


def with_random_posedirs(asset: HandAsset, seed: int = 1, scale: float = 0.003) -> HandAsset:
    """``asset`` with random pose-corrective offsets of about ``scale`` metres per unit of (R - I)."""
    rng = np.random.default_rng(seed)
    return dataclasses.replace(asset, posedirs=rng.normal(0.0, scale, asset.posedirs.shape))


def _load_procedural() -> HandAsset:
    if not PROCEDURAL_NPZ.is_file():
        pytest.skip("procedural asset not generated")
    from interhandgen_core.hands.procedural import load_procedural_hand

    return load_procedural_hand()


@pytest.fixture
def make_synthetic_asset() -> Callable[..., HandAsset]:
    return build_synthetic_asset


@pytest.fixture(params=["synthetic", "procedural"])
def hand_asset(request: pytest.FixtureRequest) -> HandAsset:
    """A right hand: the synthetic ellipsoid or the procedural hand."""
    if request.param == "synthetic":
        return build_synthetic_asset(seed=0)
    return _load_procedural()


@pytest.fixture(params=[False, True], ids=["zero_posedirs", "random_posedirs"])
def hand_asset_posedirs(hand_asset: HandAsset, request: pytest.FixtureRequest) -> HandAsset:
    """``hand_asset`` as is and with random non-zero posedirs (so pose correctives are exercised)."""
    return with_random_posedirs(hand_asset) if request.param else hand_asset


# Command-line tests (tests/cli): tiny random priors, a box mesh and a tracked motion.
@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    return write_tiny_prior(tmp_path / "ckpt")


@pytest.fixture
def tiny_object_checkpoint(tmp_path: Path) -> Path:
    return write_tiny_object_prior(tmp_path / "object_ckpt")


@pytest.fixture
def box_stl(tmp_path: Path) -> Path:
    import trimesh

    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(0.2, 0.1, 0.12)).export(path)
    return path


@pytest.fixture(scope="module")
def motion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`data motion`: one sequence of 12 frames, truth_000.npz and observed_000.npz."""
    out = tmp_path_factory.mktemp("motion")
    code = main(["data", "motion", "--sequences", "1", "--frames", "12", "--keyframes", "4", "--out", str(out)])
    assert code == 0
    return out
