"""What a hand tracker reports, and the checks that make a bad report harmless.

Notation (all world frame, metres unless said otherwise):
    B                 observations (frames of one stream, or independent estimates)
    keypoints         (B, 21, 3) in the order of hands/keypoints.py, NaN where missing
    confidence        (B,) in [0, 1], the tracker's trust in a hand (1 when not given)
    params            HandParams (B,) from a tracker that regresses the hand model

The checks are pure functions on tensors, so that the refiner, the CLI and the ROS node
apply the same rules and tests exercise them without a model:

    keypoint_hand_size   median bone length, the scale that reveals a unit error
    repair_keypoints     unit errors and missing keypoints -> usable keypoints, weights, a note
    labels_swapped       whether the left/right labels of an observation are the other way round
    same_hand_twice      whether both slots hold the same hand (a tracker error)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS, bone_segments
from interhandgen_core.io.hands_file import SIDES, HandsFile, HandSide

PALM_KEYPOINTS: tuple[int, ...] = tuple(
    KEYPOINT_NAMES.index(n) for n in ("wrist", "index1", "middle1", "ring1", "pinky1")
)
MILLIMETRES_PER_METRE = 1000.0


@dataclass
class HandObservation:
    """One side of B observations: keypoints and/or parameters, and a confidence.

    keypoints: (B, 21, 3) metres, NaN where the hand or a keypoint is missing, or None.
    params: HandParams (B,), rows with any non-finite number count as missing, or None.
    confidence: (B,) in [0, 1], or None for 1.
    """

    keypoints: Tensor | None = None
    params: HandParams | None = None
    confidence: Tensor | None = None

    def __post_init__(self) -> None:
        if self.keypoints is None and self.params is None:
            raise DataError("a hand observation needs keypoints (B, 21, 3) or hand parameters")
        num = self.batch_size
        if self.keypoints is not None and tuple(self.keypoints.shape) != (num, NUM_KEYPOINTS, 3):
            raise DataError(f"keypoints must be (B, {NUM_KEYPOINTS}, 3), got {tuple(self.keypoints.shape)}")
        if self.params is not None and self.params.batch_size != num:
            raise DataError(f"keypoints hold {num} observations but params {self.params.batch_size}")
        if self.confidence is not None:
            if tuple(self.confidence.shape) != (num,):
                raise DataError(f"confidence must be ({num},), got {tuple(self.confidence.shape)}")
            if not bool(torch.isfinite(self.confidence).all()):
                raise DataError("confidence holds NaN or inf; use 0 for a lost hand")

    @property
    def batch_size(self) -> int:
        if self.keypoints is not None:
            return int(self.keypoints.shape[0])
        assert self.params is not None  # __post_init__ guarantees one of the two
        return self.params.batch_size

    def confidences(self) -> Tensor:
        """(B,) the given confidence clamped to [0, 1], or ones."""
        like = self.keypoints if self.keypoints is not None else self.params.translation  # type: ignore[union-attr]
        if self.confidence is None:
            return torch.ones(self.batch_size, dtype=like.dtype, device=like.device)
        return self.confidence.to(like).clamp(0.0, 1.0)


@dataclass
class TwoHandObservation:
    """B observations of both hands; a side that the tracker never reports is None."""

    left: HandObservation | None
    right: HandObservation | None

    def __post_init__(self) -> None:
        if self.left is None and self.right is None:
            raise DataError("an observation needs at least one hand")
        if self.left is not None and self.right is not None and self.left.batch_size != self.right.batch_size:
            raise DataError(
                f"the left hand has {self.left.batch_size} observations but the right {self.right.batch_size}"
            )

    @property
    def batch_size(self) -> int:
        side = self.left if self.left is not None else self.right
        assert side is not None
        return side.batch_size

    def side(self, name: HandSide) -> HandObservation | None:
        return self.left if name == "left" else self.right

    @staticmethod
    def from_keypoints(
        left_keypoints: ArrayLike | Tensor | None,
        right_keypoints: ArrayLike | Tensor | None,
        left_confidence: ArrayLike | Tensor | None = None,
        right_confidence: ArrayLike | Tensor | None = None,
    ) -> TwoHandObservation:
        """Keypoints (21, 3) for one frame or (B, 21, 3), metres; None for a hand not reported."""

        def side(keypoints: ArrayLike | Tensor | None, confidence: ArrayLike | Tensor | None) -> HandObservation | None:
            if keypoints is None:
                return None
            kp = _as_float_tensor(keypoints)
            if kp.ndim == 2:
                kp = kp[None]
            conf = None if confidence is None else _as_float_tensor(confidence).reshape(-1)
            return HandObservation(keypoints=kp, confidence=conf)

        return TwoHandObservation(side(left_keypoints, left_confidence), side(right_keypoints, right_confidence))

    @staticmethod
    def from_hands_file(hands: HandsFile) -> TwoHandObservation:
        """A hands file (README "Conventions") -> its N frames; keypoints are preferred over parameters as data."""
        sides: dict[str, HandObservation] = {}
        for name in SIDES:
            keypoints = getattr(hands, f"{name}_keypoints")
            confidence = getattr(hands, f"{name}_confidence")
            params = hands.params(name) if hands.has_params(name) else None
            sides[name] = HandObservation(
                keypoints=None if keypoints is None else torch.as_tensor(keypoints, dtype=torch.float32),
                params=params,
                confidence=None if confidence is None else torch.as_tensor(confidence, dtype=torch.float32),
            )
        return TwoHandObservation(sides["left"], sides["right"])

    def select(self, index: int) -> TwoHandObservation:
        """The observation of row ``index`` as a batch of one."""

        def one(side: HandObservation | None) -> HandObservation | None:
            if side is None:
                return None
            rows = slice(index, index + 1)
            return HandObservation(
                None if side.keypoints is None else side.keypoints[rows],
                None if side.params is None else side.params.select(rows),
                None if side.confidence is None else side.confidence[rows],
            )

        return TwoHandObservation(one(self.left), one(self.right))


def _as_float_tensor(value: ArrayLike | Tensor) -> Tensor:
    """A tensor as it is (detached, float32, on its device), anything else through numpy."""
    if isinstance(value, Tensor):
        return value.detach().to(torch.float32)
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def keypoint_hand_size(keypoints: Tensor) -> Tensor:
    """keypoints (B, 21, 3), NaN where missing -> (B,) median length of the 20 bones in the keypoints' unit.

    The median of all bones, not one distance, so that a single gross keypoint error (which
    touches at most five bones) does not make a good hand look like a unit error; NaN when
    fewer than three bones have both ends.
    """
    start, end = bone_segments(keypoints)
    bones = (end - start).norm(dim=-1)
    size = bones.nanmedian(dim=-1).values
    enough = torch.isfinite(bones).sum(-1) >= 3
    return torch.where(enough, size, torch.full_like(size, torch.nan))


@dataclass
class RepairedKeypoints:
    """keypoints (B, 21, 3) metres with missing entries zeroed; weight (B, 21) 0 or 1; observed (B,);
    repaired (B,) rows that needed a fix; notes: one line per kind of fix (empty when none)."""

    keypoints: Tensor
    weight: Tensor
    observed: Tensor
    repaired: Tensor
    notes: list[str]


def repair_keypoints(
    keypoints: Tensor, side: str, min_keypoints: int, hand_size_range_m: tuple[float, float]
) -> RepairedKeypoints:
    """Make B keypoint observations usable, world frame: keypoints (B, 21, 3) -> RepairedKeypoints.

    - NaN or inf keypoints get weight 0; a hand with fewer than ``min_keypoints`` finite
      keypoints, or without its wrist and middle knuckle, is not observed.
    - A hand whose size is 1000 times the plausible range was given in millimetres: it is
      converted to metres. Any other implausible size is not observed.
    """
    finite = torch.isfinite(keypoints).all(-1)
    clean = torch.where(finite[..., None], keypoints, torch.zeros_like(keypoints))
    size = keypoint_hand_size(torch.where(finite[..., None], keypoints, torch.full_like(keypoints, torch.nan)))
    low, high = hand_size_range_m
    in_metres = (size >= low) & (size <= high)
    in_mm = (size >= low * MILLIMETRES_PER_METRE) & (size <= high * MILLIMETRES_PER_METRE)
    clean = torch.where(in_mm[:, None, None], clean / MILLIMETRES_PER_METRE, clean)
    enough = finite.sum(-1) >= min_keypoints
    observed = enough & (in_metres | in_mm)
    weight = (finite & observed[:, None]).to(keypoints.dtype)
    partial = observed & ~finite.all(-1)
    notes = []
    if bool(in_mm.any()):
        sizes = size[in_mm]
        notes.append(
            f"{side} hand keypoints look like millimetres (median bone {float(sizes.median()):.0f} where "
            f"{1000 * low:.0f}-{1000 * high:.0f} mm is expected); divided by 1000 - send metres"
        )
    odd = enough & ~in_metres & ~in_mm & torch.isfinite(size)
    if bool(odd.any()):
        notes.append(
            f"{side} hand keypoints have an implausible scale (median bone {float(size[odd].median()):.3g}, "
            f"expected {low:g}-{high:g} m); ignored, holding the last good state"
        )
    lost = ~enough & finite.any(-1)
    if bool(lost.any()):
        notes.append(f"{side} hand has fewer than {min_keypoints} finite keypoints (NaN or inf); treated as missing")
    if bool((enough & ~torch.isfinite(size)).any()):
        notes.append(f"{side} hand has too few complete bones to judge its scale; treated as missing")
    if bool(partial.any()):
        notes.append(f"{side} hand has some NaN or inf keypoints; fitted to the others")
    return RepairedKeypoints(clean, weight, observed, in_mm | partial, notes)


def labels_swapped(
    left: Tensor,
    right: Tensor,
    left_weight: Tensor,
    right_weight: Tensor,
    previous_left: Tensor,
    previous_right: Tensor,
    ratio: float,
    min_distance_m: float,
) -> Tensor:
    """Whether each observation's left/right labels are the other way round, judged against the previous state.

    left, right, previous_left, previous_right: (B, 21, 3) metres; left_weight, right_weight: (B, 21)
    0/1 (which keypoints were observed). A hand without keypoints adds nothing to either matching.
    -> (B,) bool: the crossed matching costs less than ``ratio`` times the labelled one, and the
    labelled one is off by more than ``min_distance_m`` (mean keypoint distance).
    """

    def cost(observed: Tensor, weight: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        distance = ((observed - previous).norm(dim=-1) * weight).sum(-1)
        return distance, weight.sum(-1)

    straight_l, count_l = cost(left, left_weight, previous_left)
    straight_r, count_r = cost(right, right_weight, previous_right)
    crossed_l, _ = cost(left, left_weight, previous_right)
    crossed_r, _ = cost(right, right_weight, previous_left)
    count = (count_l + count_r).clamp_min(1.0)
    straight = (straight_l + straight_r) / count
    crossed = (crossed_l + crossed_r) / count
    return (count_l + count_r > 0) & (straight > min_distance_m) & (crossed < ratio * straight)


def same_hand_twice(
    left: Tensor, right: Tensor, left_weight: Tensor, right_weight: Tensor, distance_m: float
) -> Tensor:
    """left, right (B, 21, 3) metres, left_weight, right_weight (B, 21) -> (B,) bool: both slots hold one hand (their
    keypoints seen in both lie closer than ``distance_m``, mean; two real hands cannot share their places)."""
    both = (left_weight > 0) & (right_weight > 0)
    distance = torch.where(both, (left - right).norm(dim=-1), torch.zeros_like(left_weight)).sum(-1)
    count = both.sum(-1)
    return (count >= 3) & (distance < distance_m * count)
