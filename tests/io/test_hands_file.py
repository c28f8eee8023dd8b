"""Hands-file schema: round trip, validation messages, keypoints-only refine input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from interhandgen_core.errors import DataError
from interhandgen_core.hands.asset import HandAsset, default_parents
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.io import hands_file
from interhandgen_core.io.hands_file import HandsFile, hands_file_from_params, read_hands_file, write_hands_file

N, V, F = 3, 12, 20


def _side(rng: np.random.Generator, side: str) -> dict[str, np.ndarray]:
    rotation = np.stack([np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(N)])
    return {
        f"{side}_vertices": rng.normal(size=(N, V, 3)).astype(np.float32),
        f"{side}_faces": rng.integers(0, V, size=(F, 3)),
        f"{side}_keypoints": rng.normal(size=(N, 21, 3)).astype(np.float32),
        f"{side}_pose": rng.normal(size=(N, 45)).astype(np.float32),
        f"{side}_betas": rng.normal(size=(N, 10)).astype(np.float32),
        f"{side}_rotation": rotation.astype(np.float32),
        f"{side}_translation": rng.normal(size=(N, 3)).astype(np.float32),
    }


def _full(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    arrays = {**_side(rng, "left"), **_side(rng, "right")}
    arrays["object_points"] = rng.normal(size=(50, 3))
    arrays["scores"] = rng.random(N)
    return arrays


def _assert_same(a: HandsFile, b: HandsFile) -> None:
    arrays_a, arrays_b = a.to_arrays(), b.to_arrays()
    assert arrays_a.keys() == arrays_b.keys()
    for key, value in arrays_a.items():
        assert arrays_b[key].dtype == value.dtype, key
        np.testing.assert_array_equal(arrays_b[key], value, err_msg=key)


def test_round_trip_keeps_every_field_and_dtype(tmp_path: Path) -> None:
    hands = HandsFile(**_full())
    path = tmp_path / "samples.npz"
    write_hands_file(path, hands)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.npz"]
    back = read_hands_file(path)
    _assert_same(hands, back)
    assert back.num_samples == N


def test_write_keeps_the_exact_path_and_needs_the_parent(tmp_path: Path) -> None:
    hands = HandsFile(**_full())
    write_hands_file(tmp_path / "out.hands", hands)
    assert (tmp_path / "out.hands").is_file() and not (tmp_path / "out.hands.npz").exists()
    with pytest.raises(FileNotFoundError, match="create it first"):
        write_hands_file(tmp_path / "missing" / "samples.npz", hands)
    assert not (tmp_path / "missing").exists()


def test_keypoints_only_refine_input_with_missing_hand(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    left = rng.normal(size=(N, 21, 3))
    right = rng.normal(size=(N, 21, 3))
    right[1] = np.nan  # right hand not tracked in frame 1
    hands = HandsFile(
        left_keypoints=left,
        right_keypoints=right,
        left_confidence=np.ones(N),
        right_confidence=np.array([1.0, 0.0, 0.5]),
    )
    write_hands_file(tmp_path / "track.npz", hands)
    back = read_hands_file(tmp_path / "track.npz")
    _assert_same(hands, back)
    assert back.left_pose is None and not back.has_params("left")
    with pytest.raises(DataError, match="no left-hand parameters"):
        back.params("left")


def test_params_converts_back_to_hand_params() -> None:
    hands = HandsFile(**_full())
    params = hands.params("right", dtype=torch.float64)
    assert params.batch_size == N and params.rotation.dtype == torch.float64
    np.testing.assert_allclose(params.translation.numpy(), np.asarray(hands.right_translation))


def _with(**changes: Any) -> dict[str, Any]:
    arrays: dict[str, Any] = dict(_full())
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"left_pose": np.zeros((N + 1, 45), np.float32)}, "'left_pose' has 4 samples"),
        ({"right_betas": np.zeros((N, 11), np.float32)}, r"'right_betas' has shape \(3, 11\), expected \(3, 10\)"),
        ({"left_rotation": np.zeros((N, 3), np.float32)}, "'left_rotation' has shape"),
        ({"right_keypoints": np.zeros((N, 20, 3))}, "'right_keypoints' has shape"),
        ({"left_vertices": np.zeros((N, V, 3), np.int64)}, "'left_vertices' has dtype int64"),
        ({"left_pose": np.zeros((N, 45), np.float16)}, "'left_pose' has dtype float16"),
        ({"right_faces": np.zeros((F, 3), np.float32)}, "'right_faces' has dtype float32, expected an integer"),
        ({"right_faces": np.full((F, 3), V)}, f"'right_faces' indexes vertices .* only {V}"),
        ({"left_faces": -np.ones((F, 3), np.int64)}, "'left_faces' indexes vertices"),
        ({"left_translation": np.full((N, 3), np.nan, np.float32)}, "'left_translation' holds NaN"),
        ({"right_vertices": np.full((N, V, 3), np.inf, np.float32)}, "'right_vertices' holds NaN or inf"),
        ({"left_keypoints": np.full((N, 21, 3), np.inf)}, "'left_keypoints' holds inf"),
        ({"left_betas": None}, r"left-hand parameters are incomplete: \['left_betas'\]"),
        ({"right_faces": None}, "'right_faces' is missing"),
        ({"left_vertices": None}, "'left_vertices' is missing"),
        ({"object_points": np.zeros((5, 2))}, "'object_points' has shape"),
        ({"scores": np.zeros(N + 1)}, "'scores' has 4 samples"),
        ({"scores": np.zeros((N, 2))}, r"'scores' has shape \(3, 2\), expected \(3\)"),
        ({"left_pose": np.zeros((N, 45), np.float32).tolist()}, "'left_pose' is a list"),
    ],
)
def test_validation_names_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        HandsFile(**_with(**changes))


def test_side_needs_keypoints_or_params() -> None:
    arrays = {k: v for k, v in _full().items() if not k.startswith("right_")}
    with pytest.raises(DataError, match="right hand has neither 'right_keypoints' nor parameters"):
        HandsFile(**arrays)
    with pytest.raises(DataError, match="'left_confidence' needs 'left_keypoints'"):
        HandsFile(**_with(left_keypoints=None, left_confidence=np.ones(N)))


def test_read_refuses_unknown_keys_naming_file_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "extra.npz"
    np.savez(path, **_full(), left_velocity=np.zeros((N, 3)), comment=np.zeros(1))
    with pytest.raises(DataError, match=r"extra\.npz: unknown keys \['comment', 'left_velocity'\]"):
        read_hands_file(path)


def test_read_names_the_file_on_a_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    arrays = _full()
    arrays["right_pose"][0, 3] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=r"bad\.npz: field 'right_pose' holds NaN"):
        read_hands_file(path)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing\.npz: no such hands file"):
        read_hands_file(tmp_path / "nothing.npz")
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(DataError, match=r"text\.npz: not a readable \.npz"):
        read_hands_file(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npy: a single \.npy array"):
        read_hands_file(single)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, left_keypoints=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"pickled\.npz: .*without pickle"):
        read_hands_file(pickled)


def _tiny_asset() -> HandAsset:
    """A 40-vertex right hand with random skinning: enough to exercise the layer's plumbing."""
    rng = np.random.default_rng(2)
    v = 40
    regressor = rng.random((16, v))
    weights = rng.random((v, 16))
    return HandAsset(
        name="tiny",
        side="right",
        v_template=rng.normal(scale=0.05, size=(v, 3)),
        faces=rng.integers(0, v, size=(60, 3)),
        shapedirs=rng.normal(scale=0.001, size=(v, 3, 10)),
        posedirs=np.zeros((v, 3, 135)),
        J_regressor=regressor / regressor.sum(axis=1, keepdims=True),
        weights=weights / weights.sum(axis=1, keepdims=True),
        parents=default_parents(),
        tip_vertex_ids=np.arange(5, dtype=np.int64),
        hands_mean=np.zeros(45),
        hands_components=np.eye(45),
    )


def _params(batch: int, shift: float) -> HandParams:
    gen = torch.Generator().manual_seed(int(shift * 100))
    return HandParams(
        pose=0.2 * torch.randn(batch, 45, generator=gen),
        betas=torch.randn(batch, 10, generator=gen),
        rotation=torch.eye(3).expand(batch, 3, 3).clone(),
        translation=torch.tensor([shift, 0.0, 0.0]).expand(batch, 3).clone(),
    )


def test_hands_file_from_params_fills_every_field(tmp_path: Path) -> None:
    asset = _tiny_asset()
    right_layer, left_layer = HandLayer(asset), HandLayer(asset.mirrored())
    left, right = _params(N, 0.0), _params(N, 0.08)
    left.pose.requires_grad_(True)
    hands = hands_file_from_params(
        left_layer, right_layer, left, right, scores=torch.rand(N), object_points=np.zeros((7, 3))
    )
    for field in dataclasses.fields(HandsFile):
        if field.name not in ("left_confidence", "right_confidence"):
            assert getattr(hands, field.name) is not None, field.name
    assert hands.left_vertices is not None and hands.left_vertices.shape == (N, 40, 3)
    assert hands.right_keypoints is not None and hands.right_translation is not None
    # The wrist keypoint sits at the translation.
    np.testing.assert_allclose(hands.right_keypoints[:, 0], hands.right_translation, atol=1e-6)
    np.testing.assert_array_equal(hands.left_faces, asset.faces[:, ::-1])
    write_hands_file(tmp_path / "samples.npz", hands)
    _assert_same(hands, read_hands_file(tmp_path / "samples.npz"))


def test_hands_file_from_params_in_chunks_and_without_meshes(monkeypatch: pytest.MonkeyPatch) -> None:
    asset = _tiny_asset()
    right_layer, left_layer = HandLayer(asset), HandLayer(asset.mirrored())
    left, right = _params(N, 0.0), _params(N, 0.08)
    whole = hands_file_from_params(left_layer, right_layer, left, right)
    monkeypatch.setattr(hands_file, "_LAYER_CHUNK", 2)  # N rows in several layer calls
    chunked = hands_file_from_params(left_layer, right_layer, left, right)
    # Equal up to float32 rounding: a smaller batch may take another BLAS path.
    for key, value in whole.to_arrays().items():
        np.testing.assert_allclose(chunked.to_arrays()[key], value, rtol=0, atol=1e-6, err_msg=key)
    lean = hands_file_from_params(left_layer, right_layer, left, right, meshes=False)
    assert lean.left_vertices is None and lean.right_faces is None
    assert lean.right_keypoints is not None and whole.right_keypoints is not None
    np.testing.assert_allclose(lean.right_keypoints, whole.right_keypoints, rtol=0, atol=1e-6)


def test_hands_file_from_params_checks_sides_and_extras() -> None:
    asset = _tiny_asset()
    right_layer, left_layer = HandLayer(asset), HandLayer(asset.mirrored())
    left, right = _params(N, 0.0), _params(N, 0.08)
    with pytest.raises(ValueError, match=r"left_layer is a right-hand layer.*mirrored"):
        hands_file_from_params(right_layer, right_layer, left, right)
    with pytest.raises(ValueError, match=r"extra fields \['left_pose'\]"):
        hands_file_from_params(left_layer, right_layer, left, right, left_pose=np.zeros((N, 45)))
    with pytest.raises(DataError, match="unknown keys"):
        hands_file_from_params(left_layer, right_layer, left, right, colour=np.zeros(N))
