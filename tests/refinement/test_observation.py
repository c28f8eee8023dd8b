"""The checks that make a bad tracker report harmless: unit errors, missing keypoints, swapped labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import HandsFile
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import (
    HandObservation,
    TwoHandObservation,
    labels_swapped,
    repair_keypoints,
)

SIZE_RANGE = RefinerConfig().hand_size_range_m
MIN_KEYPOINTS = 6


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural")
    return HandLayer(left), HandLayer(right)


def _keypoints(layer: HandLayer, translation: Tensor, seed: int = 0) -> Tensor:
    """(B, 21, 3) keypoints of a mildly posed hand with its wrist at each row of ``translation``."""
    batch = translation.shape[0]
    generator = torch.Generator().manual_seed(seed)
    pose = 0.2 * torch.randn(batch, 45, generator=generator)
    with torch.no_grad():
        return layer(HandParams(pose, torch.zeros(batch, 10), torch.eye(3).expand(batch, 3, 3), translation)).keypoints


@pytest.fixture(scope="module")
def right_keypoints(layers: tuple[HandLayer, HandLayer]) -> Tensor:
    return _keypoints(layers[1], torch.tensor([[0.1, 0.0, 0.3], [0.12, -0.02, 0.35], [0.0, 0.1, 0.4]]))


# ---------------------------------------------------------------- repair_keypoints


def test_metres_pass_through_untouched(right_keypoints: Tensor) -> None:
    out = repair_keypoints(right_keypoints, "right", MIN_KEYPOINTS, SIZE_RANGE)
    torch.testing.assert_close(out.keypoints, right_keypoints, atol=0, rtol=0)
    assert torch.equal(out.weight, torch.ones(3, 21))
    assert out.observed.tolist() == [True, True, True]
    assert out.repaired.tolist() == [False, False, False]
    assert out.notes == []


def test_millimetres_are_detected_and_converted_per_row(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[1] *= 1000.0  # only the middle row is in millimetres
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    torch.testing.assert_close(out.keypoints, right_keypoints, atol=1e-6, rtol=0)
    assert out.observed.tolist() == [True, True, True]
    assert out.repaired.tolist() == [False, True, False]
    assert torch.equal(out.weight, torch.ones(3, 21))
    assert len(out.notes) == 1
    assert "millimetres" in out.notes[0]
    assert out.notes[0].startswith("right hand")


def test_a_hand_of_nan_keypoints_is_not_observed(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[0] = torch.nan
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [False, True, True]
    assert torch.equal(out.weight[0], torch.zeros(21))
    assert torch.isfinite(out.keypoints).all()  # a missing hand must not put NaN into the objective


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_few_missing_keypoints_get_weight_zero_there(right_keypoints: Tensor, bad: float) -> None:
    missing = [KEYPOINT_NAMES.index(n) for n in ("thumb_tip", "index3", "pinky2")]
    given = right_keypoints.clone()
    given[1, missing] = bad
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [True, True, True]
    assert out.repaired.tolist() == [False, True, False]
    expected = torch.ones(3, 21)
    expected[1, missing] = 0.0
    assert torch.equal(out.weight, expected)
    assert torch.isfinite(out.keypoints).all()
    # The keypoints that were seen are kept as they are.
    seen = expected[1].bool()
    torch.testing.assert_close(out.keypoints[1, seen], right_keypoints[1, seen], atol=0, rtol=0)
    assert len(out.notes) == 1
    assert "NaN or inf" in out.notes[0]


def test_inf_everywhere_is_a_missing_hand(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[2] = torch.inf
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [True, True, False]
    assert torch.equal(out.weight[2], torch.zeros(21))
    assert torch.isfinite(out.keypoints).all()


def test_an_implausible_scale_is_not_observed(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[0] *= 10.0  # centimetres, or garbage: neither metres nor millimetres
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [False, True, True]
    assert torch.equal(out.weight[0], torch.zeros(21))
    assert len(out.notes) == 1
    assert "implausible scale" in out.notes[0]


def test_a_hand_without_its_wrist_is_still_sized_and_fitted(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    wrist = KEYPOINT_NAMES.index("wrist")
    given[0, wrist] = torch.nan
    out = repair_keypoints(given, "left", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [True, True, True]
    assert out.weight[0, wrist] == 0 and out.weight[0].sum() == 20


def test_one_gross_error_does_not_look_like_a_unit_error(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[0, KEYPOINT_NAMES.index("wrist")] += torch.tensor([0.3, 0.0, 0.0])  # the wrist's five bones are wrong
    out = repair_keypoints(given, "left", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [True, True, True]
    assert out.notes == []


def test_too_few_keypoints_is_not_observed(right_keypoints: Tensor) -> None:
    given = right_keypoints.clone()
    given[1, MIN_KEYPOINTS - 1 :] = torch.nan  # one keypoint short
    given[2, MIN_KEYPOINTS:] = torch.nan  # just enough, once the middle knuckle that sizes the hand is back
    given[2, KEYPOINT_NAMES.index("middle1")] = right_keypoints[2, KEYPOINT_NAMES.index("middle1")]
    out = repair_keypoints(given, "right", MIN_KEYPOINTS, SIZE_RANGE)
    assert out.observed.tolist() == [True, False, True]
    assert any(f"fewer than {MIN_KEYPOINTS}" in note for note in out.notes)


# ---------------------------------------------------------------- labels_swapped


@pytest.fixture(scope="module")
def apart(layers: tuple[HandLayer, HandLayer]) -> tuple[Tensor, Tensor]:
    """(left, right) keypoints (1, 21, 3) of two hands 20 cm apart."""
    left = _keypoints(layers[0], torch.tensor([[-0.1, 0.0, 0.4]]), seed=1)
    right = _keypoints(layers[1], torch.tensor([[0.1, 0.0, 0.4]]), seed=2)
    return left, right


def _swapped(
    left: Tensor,
    right: Tensor,
    previous_left: Tensor,
    previous_right: Tensor,
    left_weight: Tensor | None = None,
    right_weight: Tensor | None = None,
    min_distance_m: float = 0.03,
) -> bool:
    ones = torch.ones(left.shape[0], 21)
    result = labels_swapped(
        left,
        right,
        ones if left_weight is None else left_weight,
        ones if right_weight is None else right_weight,
        previous_left,
        previous_right,
        ratio=0.5,
        min_distance_m=min_distance_m,
    )
    assert result.shape == (1,)
    return bool(result[0])


def test_crossed_labels_are_detected(apart: tuple[Tensor, Tensor]) -> None:
    left, right = apart
    noise = 0.003 * torch.randn(2, 1, 21, 3, generator=torch.Generator().manual_seed(0))
    assert _swapped(right + noise[0], left + noise[1], left, right)


def test_straight_labels_are_not_swapped(apart: tuple[Tensor, Tensor]) -> None:
    left, right = apart
    assert not _swapped(left, right, left, right)
    # A hand that moved 5 cm (the other is 20 cm away) is still itself.
    shift = torch.tensor([0.0, 0.05, 0.0])
    assert not _swapped(left + shift, right + shift, left, right)


def test_a_small_mismatch_is_never_called_a_swap(apart: tuple[Tensor, Tensor]) -> None:
    left, _ = apart
    # Two hands 2 cm apart, reported the other way round: the labelled matching is off by
    # less than min_distance_m, too little to tell a swap from noise.
    shift = torch.tensor([0.02, 0.0, 0.0])
    previous_left, previous_right = left, left + shift
    assert not _swapped(previous_right, previous_left, previous_left, previous_right, min_distance_m=0.03)
    assert _swapped(previous_right, previous_left, previous_left, previous_right, min_distance_m=0.01)


def test_a_swap_is_judged_from_the_one_hand_that_was_seen(apart: tuple[Tensor, Tensor]) -> None:
    left, right = apart
    garbage = torch.full_like(left, 5.0)  # a hand with weight 0 must not count, whatever its numbers
    zeros = torch.zeros(1, 21)
    assert _swapped(right, garbage, left, right, right_weight=zeros)
    assert not _swapped(left, garbage, left, right, right_weight=zeros)
    both_missing = _swapped(garbage, garbage, left, right, left_weight=zeros, right_weight=zeros)
    assert not both_missing


# ---------------------------------------------------------------- HandObservation, TwoHandObservation


def test_observation_needs_keypoints_or_params() -> None:
    with pytest.raises(DataError, match="needs keypoints"):
        HandObservation()


def test_observation_refuses_keypoints_of_the_wrong_shape() -> None:
    with pytest.raises(DataError, match=r"keypoints must be \(B, 21, 3\), got \(2, 20, 3\)"):
        HandObservation(keypoints=torch.zeros(2, 20, 3))
    with pytest.raises(DataError, match=r"keypoints must be \(B, 21, 3\), got \(21, 3\)"):
        HandObservation(keypoints=torch.zeros(21, 3))


def test_observation_refuses_keypoints_and_params_of_different_batches() -> None:
    params = HandParams(torch.zeros(3, 45), torch.zeros(3, 10), torch.eye(3).expand(3, 3, 3), torch.zeros(3, 3))
    with pytest.raises(DataError, match="keypoints hold 2 observations but params 3"):
        HandObservation(keypoints=torch.zeros(2, 21, 3), params=params)


def test_observation_refuses_bad_confidence() -> None:
    with pytest.raises(DataError, match=r"confidence must be \(2,\), got \(3,\)"):
        HandObservation(keypoints=torch.zeros(2, 21, 3), confidence=torch.ones(3))
    with pytest.raises(DataError, match="confidence holds NaN or inf"):
        HandObservation(keypoints=torch.zeros(2, 21, 3), confidence=torch.tensor([1.0, float("nan")]))


def test_confidences_default_to_one_and_are_clamped() -> None:
    assert torch.equal(HandObservation(keypoints=torch.zeros(2, 21, 3)).confidences(), torch.ones(2))
    given = HandObservation(keypoints=torch.zeros(3, 21, 3), confidence=torch.tensor([1.5, 0.4, -0.2]))
    torch.testing.assert_close(given.confidences(), torch.tensor([1.0, 0.4, 0.0]))


def test_two_hand_observation_needs_a_hand() -> None:
    with pytest.raises(DataError, match="at least one hand"):
        TwoHandObservation(None, None)


def test_two_hand_observation_refuses_batch_mismatch() -> None:
    with pytest.raises(DataError, match="the left hand has 2 observations but the right 3"):
        TwoHandObservation(HandObservation(torch.zeros(2, 21, 3)), HandObservation(torch.zeros(3, 21, 3)))


def test_from_keypoints_takes_one_frame_or_a_batch_of_numpy(right_keypoints: Tensor) -> None:
    frame = right_keypoints[0].numpy().astype(np.float64)
    one = TwoHandObservation.from_keypoints(None, frame, right_confidence=0.7)
    assert one.left is None
    assert one.right is not None and one.right.keypoints is not None
    assert one.batch_size == 1
    assert one.right.keypoints.dtype == torch.float32
    torch.testing.assert_close(one.right.keypoints[0], right_keypoints[0])
    torch.testing.assert_close(one.right.confidences(), torch.tensor([0.7]))

    batch = right_keypoints.numpy()
    many = TwoHandObservation.from_keypoints(batch, batch, left_confidence=[0.1, 0.2, 0.3])
    assert many.batch_size == 3
    assert many.left is not None and many.right is not None
    torch.testing.assert_close(many.left.confidences(), torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(many.right.confidences(), torch.ones(3))
    row = many.select(2)
    assert row.batch_size == 1
    assert row.left is not None and row.left.keypoints is not None
    torch.testing.assert_close(row.left.keypoints[0], right_keypoints[2])
    torch.testing.assert_close(row.left.confidences(), torch.tensor([0.3]))


def test_from_keypoints_takes_a_tensor_straight_from_a_network(right_keypoints: Tensor) -> None:
    # A tracker's output tensor often still requires grad; the observation only needs its values.
    output = right_keypoints.double().requires_grad_(True)
    batch = TwoHandObservation.from_keypoints(output, output)
    assert batch.left is not None and batch.left.keypoints is not None
    assert batch.batch_size == 3
    assert not batch.left.keypoints.requires_grad
    torch.testing.assert_close(batch.left.keypoints, right_keypoints)
    frame = TwoHandObservation.from_keypoints(None, output[0])
    assert frame.right is not None and frame.right.keypoints is not None
    torch.testing.assert_close(frame.right.keypoints[0], right_keypoints[0])


def test_from_hands_file_with_keypoints_only(right_keypoints: Tensor) -> None:
    left = right_keypoints.numpy().copy()
    left[1] = np.nan  # a lost hand is NaN in the file
    hands = HandsFile(
        left_keypoints=left,
        right_keypoints=right_keypoints.numpy(),
        left_confidence=np.array([0.9, 0.0, 0.5], dtype=np.float32),
        right_confidence=np.array([1.0, 0.8, 0.6], dtype=np.float64),
    )
    obs = TwoHandObservation.from_hands_file(hands)
    assert obs.batch_size == 3
    assert obs.left is not None and obs.right is not None
    assert obs.left.params is None and obs.right.params is None
    assert obs.left.keypoints is not None and obs.right.keypoints is not None
    assert torch.isnan(obs.left.keypoints[1]).all()
    torch.testing.assert_close(obs.left.keypoints[[0, 2]], right_keypoints[[0, 2]])
    torch.testing.assert_close(obs.right.keypoints, right_keypoints)
    torch.testing.assert_close(obs.left.confidences(), torch.tensor([0.9, 0.0, 0.5]))
    torch.testing.assert_close(obs.right.confidences(), torch.tensor([1.0, 0.8, 0.6]))
