"""Two-hand training data: hands files (.npz, README "Conventions") -> normalised (target, condition) pairs.

A hands file holds N two-hand scenes, metres and radians, N first:
    left_pose, right_pose               (N, 45)    finger pose, axis-angle relative to the flat hand
    left_betas, right_betas             (N, 10)    shape
    left_rotation, right_rotation       (N, 3, 3)  root rotation (proper rotation matrices)
    left_translation, right_translation (N, 3)     wrist position
Other keys (vertices, keypoints, faces, ...) may be present and are ignored here.

Each scene gives two training pairs (Algorithm 1 step 4): (x_r | x_l) and its Gamma-swapped
view (Gamma(x_l) | Gamma(x_r)); see prior/representation.py for the frames. Training on both views
teaches the prior the scenes' left-right symmetrisation: the distribution of scenes and of their
mirror images with the hands' roles swapped. That is the data's own only where its two hands are
interchangeable. The shipped synthetic set is not (its interaction kinds give each hand a role: the
right fist in the left palm, the right hand holding the left wrist; the right fingers flex about one
standard deviation more than the mirrored left ones, and vary twice as much): there the symmetrised
training set itself scores FHID 9.9 and precision 0.60 against held-out scenes (README "What bounded
fidelity most: the hands' roles"). ``views="given"`` (TrainConfig.scene_views) keeps each scene as it is: one pair
(x_r | x_l) per scene, and the rows without the hand condition learn the anchor Gamma(x_l) itself
(training/loss.py), so that the anchor is drawn from the left hands' distribution and the other hand
from the right hands'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from interhandgen_core.array_files import read_npz
from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import ROOT, HandParams
from interhandgen_core.prior.representation import Normalizer, scene_to_training_pairs

SIDES = ("left", "right")
HAND_FIELDS: dict[str, tuple[int, ...]] = {
    "pose": (45,),
    "betas": (10,),
    "rotation": (3, 3),
    "translation": (3,),
}
# float32 rotation matrices written by other tools are orthonormal to ~1e-6; 1e-3 only
# rejects matrices that are not rotations at all (scaled, sheared, or mirrored).
_ROTATION_TOLERANCE = 1e-3


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: hands file not found")
    keys = [f"{side}_{name}" for side in SIDES for name in HAND_FIELDS]
    arrays = read_npz(path, "hands file", keys)
    for key in keys:
        if key not in arrays:
            raise DataError(f"{path}: missing key '{key}'; a hands file needs " + ", ".join(keys))
    return arrays


def load_twohand_params(path: str | Path) -> tuple[HandParams, HandParams]:
    """Read the (left, right) hand parameters of a hands file. Each HandParams holds N rows, float32.

    Raises DataError naming the file for a missing key, a wrong shape or dtype, rows with
    NaN or Inf, or rotation matrices that are not proper rotations.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    num = arrays["left_pose"].shape[0] if arrays["left_pose"].ndim > 0 else -1
    for key, array in arrays.items():
        expected = (num, *HAND_FIELDS[key.split("_", 1)[1]])
        if array.shape != expected:
            raise DataError(f"{path}: '{key}' has shape {array.shape}, expected {expected} (N = {num} from left_pose)")
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise DataError(f"{path}: '{key}' has dtype {array.dtype}, expected a real number type")
    if num < 1:
        raise DataError(f"{path}: holds no scenes (N = 0)")

    bad = np.zeros(num, dtype=bool)
    for array in arrays.values():
        bad |= ~np.isfinite(array.reshape(num, -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{path}: {rows.size} of {num} rows contain NaN or Inf (first: row {rows[0]}); "
            "remove those scenes (e.g. frames where a hand is missing) before training"
        )

    for side in SIDES:
        rot = arrays[f"{side}_rotation"].astype(np.float64)
        ortho_err = np.abs(rot @ rot.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
        improper = (ortho_err > _ROTATION_TOLERANCE) | (np.linalg.det(rot) < 0)
        if improper.any():
            rows = np.flatnonzero(improper)
            raise DataError(
                f"{path}: {rows.size} of {num} rows of '{side}_rotation' are not rotation matrices "
                f"(orthonormal, det +1; first: row {rows[0]}); left hands are stored as left hands, not mirrored"
            )

    def hand(side: str) -> HandParams:
        return HandParams(
            *(
                torch.from_numpy(np.ascontiguousarray(arrays[f"{side}_{name}"], dtype=np.float32))
                for name in HAND_FIELDS
            )
        )

    return hand("left"), hand("right")


class TwoHandPairs(Dataset):
    """Normalised training pairs of Algorithm 1: 2N rows of (target x_r, condition x_l), each (64,); N rows
    with ``views="given"`` (module docstring).

    ``normalizer``: pass the training set's normaliser for validation / test data; when
    None, one is fitted on this set's targets (do that for the training set only); with
    ``views="given"``, on the targets and the anchors, whose distributions the network both
    learns, the root on the targets only (the anchors' is the canonical frame).
    Indexing with an int gives one pair ((64,), (64,)); with a list or LongTensor of indices
    it gives a batch ((b, 64), (b, 64)) without a Python loop, which the training loop uses.
    """

    def __init__(
        self, left: HandParams, right: HandParams, normalizer: Normalizer | None = None, views: str = "both"
    ) -> None:
        with torch.no_grad():
            target, cond = scene_to_training_pairs(left.to("cpu", torch.float32), right.to("cpu", torch.float32), views)
            if normalizer is None:
                normalizer = Normalizer.fit(target if views == "both" else torch.cat([target, cond]))
                if views == "given":
                    normalizer.mean[ROOT], normalizer.std[ROOT] = _target_root_statistics(target)
            self.normalizer = normalizer.to("cpu")
            self.target = self.normalizer.normalize(target).contiguous()
            self.cond = self.normalizer.normalize(cond).contiguous()

    @classmethod
    def from_file(cls, path: str | Path, normalizer: Normalizer | None = None, views: str = "both") -> TwoHandPairs:
        left, right = load_twohand_params(path)
        return cls(left, right, normalizer, views)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def __getitem__(self, index: int | Sequence[int] | Tensor) -> tuple[Tensor, Tensor]:
        if isinstance(index, list | tuple):
            index = torch.as_tensor(index, dtype=torch.long)
        return self.target[index], self.cond[index]


def _target_root_statistics(target: Tensor) -> tuple[Tensor, Tensor]:
    """target: (N, 64) hand vectors -> (mean, std) of their 9 root numbers, (9,) each, as Normalizer.fit makes them."""
    fitted = Normalizer.fit(target)
    return fitted.mean[ROOT], fitted.std[ROOT]
