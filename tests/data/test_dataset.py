from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interhandgen_core.data.dataset import TwoHandPairs, load_twohand_params
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import ROOT, HandParams
from interhandgen_core.prior.representation import Normalizer, scene_to_training_pairs


def random_hands(n: int, seed: int) -> HandParams:
    g = torch.Generator().manual_seed(seed)
    return HandParams(
        pose=0.3 * torch.randn(n, 45, generator=g),
        betas=torch.randn(n, 10, generator=g),
        rotation=axis_angle_to_matrix(torch.randn(n, 3, generator=g)),
        translation=0.1 * torch.randn(n, 3, generator=g),
    )


def hands_arrays(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for side, hand in (("left", random_hands(n, seed)), ("right", random_hands(n, seed + 1))):
        arrays[f"{side}_pose"] = hand.pose.numpy()
        arrays[f"{side}_betas"] = hand.betas.numpy()
        arrays[f"{side}_rotation"] = hand.rotation.numpy()
        arrays[f"{side}_translation"] = hand.translation.numpy()
    return arrays


def write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def test_load_round_trip_ignores_extra_keys(tmp_path: Path) -> None:
    arrays = hands_arrays(6)
    arrays["left_vertices"] = np.zeros((6, 10, 3), np.float32)
    arrays["left_faces"] = np.zeros((4, 3), np.int64)
    left, right = load_twohand_params(write(tmp_path / "h.npz", arrays))
    assert left.batch_size == right.batch_size == 6
    assert left.pose.dtype == torch.float32
    np.testing.assert_allclose(right.rotation.numpy(), arrays["right_rotation"])
    np.testing.assert_allclose(left.translation.numpy(), arrays["left_translation"])


def test_float64_input_becomes_float32(tmp_path: Path) -> None:
    arrays = {k: v.astype(np.float64) for k, v in hands_arrays(3).items()}
    left, _ = load_twohand_params(write(tmp_path / "h.npz", arrays))
    assert left.betas.dtype == torch.float32


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.npz: hands file not found"):
        load_twohand_params(tmp_path / "nope.npz")


def test_missing_key(tmp_path: Path) -> None:
    arrays = hands_arrays(3)
    del arrays["right_betas"]
    with pytest.raises(DataError, match=r"h\.npz: missing key 'right_betas'"):
        load_twohand_params(write(tmp_path / "h.npz", arrays))


def test_bad_shape(tmp_path: Path) -> None:
    arrays = hands_arrays(3)
    arrays["left_rotation"] = np.zeros((3, 9), np.float32)
    with pytest.raises(DataError, match=r"h\.npz: 'left_rotation' has shape \(3, 9\), expected \(3, 3, 3\)"):
        load_twohand_params(write(tmp_path / "h.npz", arrays))
    arrays = hands_arrays(3)
    arrays["right_pose"] = arrays["right_pose"][:2]
    with pytest.raises(DataError, match="right_pose"):
        load_twohand_params(write(tmp_path / "h2.npz", arrays))


def test_nan_rows_are_counted(tmp_path: Path) -> None:
    arrays = hands_arrays(5)
    arrays["left_pose"][1, 3] = np.nan
    arrays["right_translation"][3, 0] = np.inf
    with pytest.raises(DataError, match=r"h\.npz: 2 of 5 rows contain NaN or Inf \(first: row 1\)"):
        load_twohand_params(write(tmp_path / "h.npz", arrays))


def test_mirrored_rotation_rejected(tmp_path: Path) -> None:
    arrays = hands_arrays(4)
    arrays["left_rotation"][2] = arrays["left_rotation"][2] @ np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
    with pytest.raises(DataError, match="1 of 4 rows of 'left_rotation'"):
        load_twohand_params(write(tmp_path / "h.npz", arrays))


def test_not_an_npz_and_pickled_objects(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match=r"junk\.npz"):
        load_twohand_params(junk)
    arrays: dict[str, np.ndarray] = dict(hands_arrays(2))
    arrays["left_pose"] = np.array([object(), object()], dtype=object)
    with pytest.raises(DataError, match=r"obj\.npz"):
        load_twohand_params(write(tmp_path / "obj.npz", arrays))


def test_pairs_hold_both_views_normalised() -> None:
    left, right = random_hands(50, 0), random_hands(50, 1)
    data = TwoHandPairs(left, right)
    assert len(data) == 100
    target, cond = scene_to_training_pairs(left, right)
    torch.testing.assert_close(data.normalizer.denormalize(data.target), target, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(data.normalizer.denormalize(data.cond), cond, rtol=1e-5, atol=1e-5)
    # Fitted on the targets: zero mean, unit std there.
    torch.testing.assert_close(data.target.mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    x, c = data[3]
    assert x.shape == c.shape == (64,)
    xb, cb = data[[0, 5, 99]]
    assert xb.shape == cb.shape == (3, 64)
    torch.testing.assert_close(xb[1], data[5][0])


def test_given_views_hold_each_scene_once_normalised_over_targets_and_anchors() -> None:
    left, right = random_hands(50, 0), random_hands(50, 1)
    data = TwoHandPairs(left, right, views="given")
    assert len(data) == 50
    target, cond = scene_to_training_pairs(left, right, "given")
    torch.testing.assert_close(target, scene_to_training_pairs(left, right)[0][:50])  # the scenes' own view
    torch.testing.assert_close(data.normalizer.denormalize(data.target), target, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(data.normalizer.denormalize(data.cond), cond, rtol=1e-5, atol=1e-5)
    # Pose and shape standardised over targets and anchors together; the root over the targets alone
    # (the anchors' root is the canonical frame: constant).
    both = torch.cat([data.target, data.cond])
    torch.testing.assert_close(both[:, : ROOT.start].mean(0), torch.zeros(ROOT.start), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.target[:, ROOT].mean(0), torch.zeros(9), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.target[:, ROOT].std(0), torch.ones(9), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="views must be"):
        scene_to_training_pairs(left, right, "swapped")


def test_validation_set_uses_the_training_normaliser() -> None:
    train = TwoHandPairs(random_hands(40, 0), random_hands(40, 1))
    val = TwoHandPairs(random_hands(10, 5), random_hands(10, 6), normalizer=train.normalizer)
    assert val.normalizer is train.normalizer
    fresh = Normalizer.fit(scene_to_training_pairs(random_hands(10, 5), random_hands(10, 6))[0])
    assert not torch.allclose(fresh.mean, train.normalizer.mean)


def test_from_file(tmp_path: Path) -> None:
    path = write(tmp_path / "h.npz", hands_arrays(8))
    assert len(TwoHandPairs.from_file(path)) == 16
