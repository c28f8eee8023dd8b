"""InterHand2.6M (Moon et al., ECCV 2020) -> two-hand hands files, as the paper's section 4.1 uses it.

Input: the dataset's annotation folder, per split (``train``, ``val``, ``test``)::

    <annotations>/<split>/InterHand2.6M_<split>_data.json             images and their hand annotations
    <annotations>/<split>/InterHand2.6M_<split>_MANO_NeuralAnnot.json MANO fits per capture and frame

``data.json`` is COCO-style. The fields read:

    images[i]       id, capture, frame_idx                 which capture and frame an image shows
    annotations[j]  image_id, hand_type, hand_type_valid   "right" | "left" | "interacting"; 0 | 1

The MANO file maps capture id -> frame index (both as strings) -> side -> parameters, with
null for a hand that has no fit::

    {"<capture>": {"<frame>": {"right": {"pose": [48], "shape": [10], "trans": [3]} | null,
                               "left":  {...} | null}}}

    pose   (48,)  axis-angle, radians: the root (global_orient) then the 15 finger joints, relative
                  to MANO's mean pose (the dataset's MANO layer uses flat_hand_mean=False)
    shape  (10,)  betas
    trans  (3,)   MANO transl, metres, world (capture) frame

Selection (paper 4.1, after the reconstruction work it cites): images whose annotation says
"interacting" with a valid hand type, and whose frame has a finite MANO fit of both hands.
Every camera of a capture sees the same frame, and the hands' parameters do not depend on the
camera, so by default each (capture, frame) becomes one scene; ``per_image=True`` keeps one row
per image instead, the way the paper counts its 366K/110K/261K samples.

Output scenes: both hands through the side's MANO layer into the project's parameters
(hands/mano_params.py), then into the left hand's canonical frame (README "Conventions"), the
frame the synthetic generator writes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from interhandgen_core.data.conversion_report import SkipCounter
from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.mano_params import ManoParams, mano_to_hand_params
from interhandgen_core.io.json_file import read_json
from interhandgen_core.io.shard_cache import ShardCache, file_fingerprint, tensor_fingerprint

INTERHAND_SPLITS: tuple[str, ...] = ("train", "val", "test")
INTERHAND_URL = "https://mks0601.github.io/InterHand2.6M/"
HAND_TYPES = ("right", "left", "interacting")
_SIDES = ("left", "right")
_PARAM_SIZES = {"pose": 48, "shape": 10, "trans": 3}
# The frame the converted hands are in (module docstring), as the summary states it.
INTERHAND_FRAME = "left hand canonical (identity rotation, wrist at the origin)"

# Skip reasons, as the summary names them.
NOT_INTERACTING = "annotations of a single hand (not interacting)"
INVALID_HAND_TYPE = "annotations with an invalid hand type"
UNKNOWN_IMAGE = "annotations of an image id not in 'images'"
MALFORMED_ANNOTATION = "malformed annotations"
NO_MANO_FIT = "frames without a MANO fit"
MISSING_HAND = "frames with a hand's MANO fit missing"
MALFORMED_MANO = "frames with malformed MANO parameters"
NON_FINITE_MANO = "frames with NaN or infinite MANO parameters"


def interhand_files(annotations: Path, split: str) -> dict[str, Path]:
    """The split's two annotation files; DataError naming the first one that is missing."""
    if split not in INTERHAND_SPLITS:
        raise DataError(f"unknown InterHand2.6M split {split!r}; choose from {', '.join(INTERHAND_SPLITS)}")
    folder = annotations / split
    files = {
        "data": folder / f"InterHand2.6M_{split}_data.json",
        "mano": folder / f"InterHand2.6M_{split}_MANO_NeuralAnnot.json",
    }
    for path in files.values():
        if not path.is_file():
            raise DataError(
                f"{path}: not found; --annotations must be InterHand2.6M's annotation folder "
                f"(<annotations>/<split>/InterHand2.6M_<split>_data.json and _MANO_NeuralAnnot.json, from {INTERHAND_URL})"
            )
    return files


@dataclass
class FrameSelection:
    """K frames, sorted by (capture, frame): capture (K,), frame (K,), num_images (K,) interacting valid images."""

    capture: NDArray[np.int64]
    frame: NDArray[np.int64]
    num_images: NDArray[np.int64]


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def select_interacting_frames(data: Any, path: Path, skips: SkipCounter) -> FrameSelection:
    """Parsed ``data.json`` -> the frames with at least one interacting, valid image annotation.

    Entries that are not what the format says are counted in ``skips``; a file without the
    top-level 'images' and 'annotations' lists is refused.
    """
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: not an InterHand2.6M data file (no 'images' list at the top level)")
    if not isinstance(data.get("annotations"), list):
        raise DataError(f"{path}: not an InterHand2.6M data file (no 'annotations' list at the top level)")
    frame_of: dict[int, tuple[int, int]] = {}
    for image in data["images"]:
        fields = [
            _as_int(image.get(key)) if isinstance(image, dict) else None for key in ("id", "capture", "frame_idx")
        ]
        if None in fields:
            skips.skip("malformed images", f"{path}: image {image!r:.80}")
            continue
        image_id, capture, frame = fields
        frame_of[image_id] = (capture, frame)  # type: ignore[index,assignment]

    counts: Counter[tuple[int, int]] = Counter()
    for number, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{number}]"
        if not isinstance(ann, dict):
            skips.skip(MALFORMED_ANNOTATION, where)
            continue
        hand_type, valid = ann.get("hand_type"), ann.get("hand_type_valid")
        image_id = _as_int(ann.get("image_id"))
        if hand_type not in HAND_TYPES or valid not in (0, 1) or image_id is None:
            skips.skip(MALFORMED_ANNOTATION, where)
        elif image_id not in frame_of:
            skips.skip(UNKNOWN_IMAGE, where)
        elif hand_type != "interacting":
            skips.skip(NOT_INTERACTING, where)
        elif not valid:
            skips.skip(INVALID_HAND_TYPE, where)
        else:
            counts[frame_of[image_id]] += 1
    keys = sorted(counts)
    return FrameSelection(
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array([counts[k] for k in keys], dtype=np.int64),
    )


def _hand_numbers(entry: Any) -> NDArray[np.float64] | None:
    """One side's {"pose", "shape", "trans"} -> (61,) float64 [pose 48, shape 10, trans 3]; None if malformed."""
    if not isinstance(entry, dict):
        return None
    parts = []
    for key, size in _PARAM_SIZES.items():
        value = entry.get(key)
        if not isinstance(value, list) or len(value) != size:
            return None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return None
        parts.append(np.asarray(value, dtype=np.float64))
    return np.concatenate(parts)


def read_mano_fits(
    mano: Any, path: Path, capture: int, frames: NDArray[np.int64], skips: SkipCounter
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """One capture's selected frames -> (kept rows into ``frames``, (K, 2, 61) [left, right] numbers).

    Frames without a fit, with a hand missing, malformed or non-finite are counted in ``skips``.
    """
    per_frame = mano.get(str(capture)) if isinstance(mano, dict) else None
    kept: list[int] = []
    numbers: list[NDArray[np.float64]] = []
    for row, frame in enumerate(frames.tolist()):
        where = f"{path}: capture {capture} frame {frame}"
        entry = per_frame.get(str(frame)) if isinstance(per_frame, dict) else None
        if not isinstance(entry, dict):
            skips.skip(NO_MANO_FIT, where)
            continue
        if any(entry.get(side) is None for side in _SIDES):
            skips.skip(MISSING_HAND, where)
            continue
        hands = [_hand_numbers(entry[side]) for side in _SIDES]
        if hands[0] is None or hands[1] is None:
            skips.skip(MALFORMED_MANO, where)
            continue
        pair = np.stack([hands[0], hands[1]])
        if not np.isfinite(pair).all():
            skips.skip(NON_FINITE_MANO, where)
            continue
        kept.append(row)
        numbers.append(pair)
    if not numbers:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2, 61))
    return np.asarray(kept, dtype=np.int64), np.stack(numbers)


def scenes_from_mano(
    left_layer: HandLayer, right_layer: HandLayer, left: ManoParams, right: ManoParams
) -> tuple[HandParams, HandParams]:
    """Both hands' MANO parameters (world frame) -> (left, right) in the left hand's canonical frame."""
    left_hand = mano_to_hand_params(left_layer, left)
    right_hand = mano_to_hand_params(right_layer, right)
    return left_hand.canonical(), right_hand.in_frame_of(left_hand)


@dataclass
class InterHandSplit:
    """One converted split: N scenes (left hand canonical), where each came from, what was skipped."""

    left: HandParams
    right: HandParams
    capture: NDArray[np.int64]  # (N,)
    frame: NDArray[np.int64]  # (N,)
    num_images: NDArray[np.int64]  # (N,) interacting valid images of the frame
    annotations: int  # image annotations read
    skips: SkipCounter

    def summary(self, split: str, per_image: bool, mano_dir: str | Path | None) -> dict[str, Any]:
        """The .json beside a converted split: what was read, what came out, what was skipped.

        split: the split's name. per_image: whether the conversion kept one row per image.
        mano_dir: the MANO folder the hands went through. Keys, in order: split,
        annotations_read, scenes (N rows), frames (distinct (capture, frame) pairs), per_image,
        skipped (reason -> count and first example), hand_model ("mano (<mano_dir>)"), frame
        (INTERHAND_FRAME).
        """
        return {
            "split": split,
            "annotations_read": self.annotations,
            "scenes": len(self.capture),
            "frames": len(np.unique(np.stack([self.capture, self.frame]), axis=1).T),
            "per_image": per_image,
            "skipped": self.skips.as_dict(),
            "hand_model": f"mano ({mano_dir})",
            "frame": INTERHAND_FRAME,
        }


def convert_interhand_split(
    annotations: Path,
    split: str,
    left_layer: HandLayer,
    right_layer: HandLayer,
    work: Path,
    per_image: bool = False,
    progress: bool = True,
) -> InterHandSplit:
    """Convert one split; finished captures are kept under ``work`` so an interrupted run resumes.

    Returns the scenes, one per frame (or per image with ``per_image``), sorted by capture and frame.
    """
    files = interhand_files(annotations, split)
    fingerprint = {
        "split": split,
        "files": [file_fingerprint(p) for p in files.values()],
        "hand_model": tensor_fingerprint(*(t for layer in (left_layer, right_layer) for t in layer.buffers())),
    }
    cache = ShardCache(work, fingerprint)

    if cache.has("selection"):
        stored = cache.load("selection")
        selection = FrameSelection(stored["capture"], stored["frame"], stored["num_images"])
        annotation_count = int(stored["annotations"])
        selection_skips = SkipCounter.from_dict(_json_field(stored["skips"]))
    else:
        if progress:
            print(f"reading {files['data']} ({files['data'].stat().st_size / 2**20:.0f} MB)")
        data = read_json(files["data"], "InterHand2.6M data file")
        selection_skips = SkipCounter()
        selection = select_interacting_frames(data, files["data"], selection_skips)
        annotations_list = data.get("annotations")
        annotation_count = len(annotations_list) if isinstance(annotations_list, list) else 0
        del data
        cache.save(
            "selection",
            {
                "capture": selection.capture,
                "frame": selection.frame,
                "num_images": selection.num_images,
                "annotations": np.array(annotation_count),
                "skips": _json_array(selection_skips.as_dict()),
            },
        )

    captures = np.unique(selection.capture)
    mano: Any = None
    for capture in tqdm(captures.tolist(), desc=f"{split} captures", disable=not progress):
        name = f"capture_{capture}"
        if cache.has(name):
            continue
        if mano is None:
            if progress:
                tqdm.write(f"reading {files['mano']} ({files['mano'].stat().st_size / 2**20:.0f} MB)")
            mano = read_json(files["mano"], "InterHand2.6M MANO annotation")
            if not isinstance(mano, dict):
                raise DataError(f"{files['mano']}: not an InterHand2.6M MANO file (expected an object of captures)")
        rows = np.flatnonzero(selection.capture == capture)
        skips = SkipCounter()
        kept, numbers = read_mano_fits(mano, files["mano"], capture, selection.frame[rows], skips)
        left, right = scenes_from_mano(
            left_layer, right_layer, ManoParams.from_numbers(numbers[:, 0]), ManoParams.from_numbers(numbers[:, 1])
        )
        cache.save(
            name,
            {
                "rows": rows[kept],
                **left.to_arrays("left"),
                **right.to_arrays("right"),
                "skips": _json_array(skips.as_dict()),
            },
        )

    skips = selection_skips
    rows_parts, lefts, rights = [], [], []
    for capture in captures.tolist():
        stored = cache.load(f"capture_{capture}")
        rows_parts.append(stored["rows"])
        lefts.append(HandParams.from_arrays(stored, "left"))
        rights.append(HandParams.from_arrays(stored, "right"))
        skips.merge(SkipCounter.from_dict(_json_field(stored["skips"])))
    if not rows_parts or sum(len(r) for r in rows_parts) == 0:
        raise DataError(
            f"{files['data']}: no interacting frame with a valid annotation and both hands' MANO fits "
            f"({skips.summary()})"
        )
    rows = np.concatenate(rows_parts)
    left, right = HandParams.cat(lefts), HandParams.cat(rights)
    repeat = selection.num_images[rows] if per_image else np.ones(len(rows), dtype=np.int64)
    index = torch.as_tensor(np.repeat(np.arange(len(rows)), repeat))
    return InterHandSplit(
        left.select(index),
        right.select(index),
        np.repeat(selection.capture[rows], repeat),
        np.repeat(selection.frame[rows], repeat),
        np.repeat(selection.num_images[rows], repeat),
        annotation_count,
        skips,
    )


def _json_array(value: Any) -> NDArray[np.str_]:
    return np.array(json.dumps(value))


def _json_field(array: NDArray[Any]) -> Any:
    return json.loads(str(array))
