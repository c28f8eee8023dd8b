"""Small files in the published formats of InterHand2.6M and ARCTIC, written by tests for the converters.

The hand model is the procedural hand written as MANO pickles with a non-zero mean pose (the
real files have one), so that the converters' mean-pose handling is exercised.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interhandgen_core.geometry.mirroring import mirror_axis_angle
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.hands.mano_params import ManoParams, hand_params_to_mano
from interhandgen_core.hands.mano_pickle import MANO_FILE_NAMES, write_mano_pickle


def write_mano_dir(folder: Path, seed: int = 0) -> Path:
    """MANO_RIGHT.pkl and MANO_LEFT.pkl of the procedural hand, with a random mean pose (mirrored for the left)."""
    folder.mkdir(parents=True, exist_ok=True)
    right, left = load_hand_pair("procedural")
    mean = 0.2 * np.random.default_rng(seed).standard_normal(45)
    right = dataclasses.replace(right, hands_mean=mean)
    left_mean = mirror_axis_angle(torch.as_tensor(mean).reshape(15, 3)).reshape(45).numpy()
    left = dataclasses.replace(left, hands_mean=left_mean)
    write_mano_pickle(right, folder / MANO_FILE_NAMES["right"])
    write_mano_pickle(left, folder / MANO_FILE_NAMES["left"])
    return folder


def random_world_scenes(n: int, seed: int) -> tuple[HandParams, HandParams]:
    """n two-hand scenes (left, right) in a random world frame: rotated, ~1 m from the origin."""
    g = torch.Generator().manual_seed(seed)
    world = axis_angle_to_matrix(2.0 * torch.randn(n, 3, generator=g))
    origin = torch.randn(n, 3, generator=g)

    def hand(offset: torch.Tensor) -> HandParams:
        local = axis_angle_to_matrix(0.8 * torch.randn(n, 3, generator=g))
        return HandParams(
            0.3 * torch.randn(n, 45, generator=g),
            torch.randn(n, 10, generator=g),
            world @ local,
            origin + (world @ offset[..., None])[..., 0],
        )

    left = hand(0.02 * torch.randn(n, 3, generator=g))
    right = hand(torch.tensor([0.09, 0.02, 0.0]) + 0.02 * torch.randn(n, 3, generator=g))
    return left, right


def mano_numbers(layer: HandLayer, hand: HandParams) -> ManoParams:
    return hand_params_to_mano(layer, hand)


def interhand_mano_entry(mano: ManoParams, i: int) -> dict[str, list[float]]:
    """Row i as InterHand2.6M's NeuralAnnot entry: pose (48, root first), shape (10), trans (3)."""
    pose = torch.cat([mano.global_orient[i], mano.hand_pose[i]]).double().tolist()
    return {"pose": pose, "shape": mano.betas[i].double().tolist(), "trans": mano.transl[i].double().tolist()}


@dataclasses.dataclass
class InterHandFixture:
    """What a fixture split holds, to compare the converter's output with."""

    data_path: Path
    mano_path: Path
    frames: list[tuple[int, int]]  # (capture, frame) of the scenes that should come out, sorted
    scene_index: list[int]  # which input scene each of them is


def write_interhand_split(
    annotations: Path,
    split: str,
    layers: tuple[HandLayer, HandLayer],
    left: HandParams,
    right: HandParams,
    cameras: int = 2,
) -> InterHandFixture:
    """Scenes as capture 0 (first half) and 7 (second half), one frame each, seen by ``cameras`` images.

    Besides the good frames, the files hold every case the converter must skip: a left-only
    frame, a right-only annotation, an interacting annotation with an invalid hand type, a frame
    whose left MANO fit is null, one with a NaN parameter, one with a short pose, one with no MANO
    entry, and an annotation of an unknown image.
    """
    left_layer, right_layer = layers
    left_mano, right_mano = mano_numbers(left_layer, left), mano_numbers(right_layer, right)
    n = left.batch_size
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    mano: dict[str, dict[str, Any]] = {}

    def image(capture: int, frame: int, hand_type: str, valid: int) -> None:
        for camera in range(cameras):
            image_id = len(images)
            images.append(
                {
                    "id": image_id,
                    "file_name": f"Capture{capture}/0000_neutral_relaxed/cam4000{camera}/image{frame:05d}.jpg",
                    "width": 334,
                    "height": 512,
                    "capture": capture,
                    "subject": capture,
                    "seq_name": "0000_neutral_relaxed",
                    "camera": f"4000{camera}",
                    "frame_idx": frame,
                }
            )
            anns.append(
                {
                    "id": len(anns),
                    "image_id": image_id,
                    "bbox": [10.0, 20.0, 100.0, 120.0],
                    "joint_valid": [[1]] * 42,
                    "hand_type": hand_type,
                    "hand_type_valid": valid,
                }
            )

    def fit(capture: int, frame: int, entry: dict[str, Any] | None) -> None:
        if entry is not None:
            mano.setdefault(str(capture), {})[str(frame)] = entry

    frames: list[tuple[int, int]] = []
    for i in range(n):
        capture, frame = (0, 100 + i) if i < n // 2 else (7, 300 + i)
        image(capture, frame, "interacting", 1)
        fit(
            capture,
            frame,
            {"left": interhand_mano_entry(left_mano, i), "right": interhand_mano_entry(right_mano, i)},
        )
        frames.append((capture, frame))

    good = {"left": interhand_mano_entry(left_mano, 0), "right": interhand_mano_entry(right_mano, 0)}
    image(0, 90000, "left", 1)  # left-only frame
    fit(0, 90000, {"left": good["left"], "right": None})
    image(0, 90001, "right", 1)
    fit(0, 90001, dict(good))
    image(0, 90002, "interacting", 0)  # invalid annotation
    fit(0, 90002, dict(good))
    image(0, 90003, "interacting", 1)  # left fit missing
    fit(0, 90003, {"left": None, "right": good["right"]})
    image(0, 90004, "interacting", 1)  # NaN parameter
    fit(0, 90004, {"left": good["left"], "right": {**good["right"], "trans": [float("nan"), 0.0, 0.0]}})
    image(0, 90005, "interacting", 1)  # malformed pose
    fit(0, 90005, {"left": {**good["left"], "pose": good["left"]["pose"][:45]}, "right": good["right"]})
    image(0, 90006, "interacting", 1)  # no MANO entry at all
    anns.append({"id": len(anns), "image_id": 10**6, "hand_type": "interacting", "hand_type_valid": 1})

    folder = annotations / split
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / f"InterHand2.6M_{split}_data.json"
    mano_path = folder / f"InterHand2.6M_{split}_MANO_NeuralAnnot.json"
    data_path.write_text(json.dumps({"images": images, "annotations": anns}, indent=1))
    mano_path.write_text(json.dumps(mano, indent=1))  # json writes NaN as NaN, as Python tools do
    order = sorted(range(n), key=lambda i: frames[i])
    return InterHandFixture(data_path, mano_path, [frames[i] for i in order], order)


# ---------------------------------------------------------------------------------------------
# ARCTIC


def write_arctic_template(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """meta/object_vtemplates/<name>/{mesh.obj (mm), parts.json}: a base box and a lid box that swings about z.

    Returns (vertices metres, faces, moving) as written, top (moving, parts 0) vertices listed after the base's.
    """
    import trimesh

    base = trimesh.creation.box(extents=(120.0, 60.0, 20.0))
    base.apply_translation((50.0, 0.0, 0.0))
    lid = trimesh.creation.box(extents=(100.0, 50.0, 16.0))
    lid.apply_translation((45.0, 0.0, 20.0))
    vertices = np.concatenate([base.vertices, lid.vertices])
    faces = np.concatenate([base.faces, lid.faces + len(base.vertices)])
    parts = [1] * len(base.vertices) + [0] * len(lid.vertices)
    folder = root / "meta" / "object_vtemplates" / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    (folder / "mesh.obj").write_text("\n".join(lines) + "\n")
    (folder / "parts.json").write_text(json.dumps(parts))
    return vertices * 1e-3, faces, np.asarray(parts) == 0


@dataclasses.dataclass
class ArcticSequence:
    """What a fixture sequence holds: hands in the template frame and the object's pose per frame."""

    left: HandParams
    right: HandParams
    articulation: torch.Tensor  # (T,)
    rotation: torch.Tensor  # (T, 3) axis-angle
    translation_mm: torch.Tensor  # (T, 3)


def random_arctic_sequence(frames: int, seed: int) -> ArcticSequence:
    """Hands near the fixture object (template frame), one shape per hand, a moving object pose."""
    g = torch.Generator().manual_seed(seed)

    def hand(centre: list[float]) -> HandParams:
        betas = torch.randn(1, 10, generator=g).expand(frames, 10).clone()
        return HandParams(
            0.3 * torch.randn(frames, 45, generator=g),
            betas,
            axis_angle_to_matrix(torch.randn(frames, 3, generator=g)),
            torch.tensor(centre) + 0.03 * torch.randn(frames, 3, generator=g),
        )

    return ArcticSequence(
        hand([0.0, -0.08, 0.02]),
        hand([0.1, 0.08, 0.02]),
        torch.rand(frames, generator=g) * 1.5,
        torch.randn(frames, 3, generator=g),
        200.0 * torch.randn(frames, 3, generator=g),
    )


def write_arctic_sequence(
    root: Path, entry: str, layers: tuple[HandLayer, HandLayer], sequence: ArcticSequence, per_frame_shape: bool = False
) -> Path:
    """raw_seqs/<entry>.mano.npy (np.save of the dict, pickled) and .object.npy ((T, 7), translation in mm)."""
    rotation = axis_angle_to_matrix(sequence.rotation)
    translation = sequence.translation_mm * 1e-3
    sides: dict[str, Any] = {}
    for name, layer, hand in (("left", layers[0], sequence.left), ("right", layers[1], sequence.right)):
        mano = hand_params_to_mano(layer, hand.transformed(rotation, translation))
        sides[name] = {
            "rot": mano.global_orient.double().numpy(),
            "pose": mano.hand_pose.double().numpy(),
            "trans": mano.transl.double().numpy(),
            "shape": mano.betas.double().numpy() if per_frame_shape else mano.betas[0].double().numpy(),
            "fitting_err": np.full(len(mano.transl), 0.002),
        }
    base = root / "raw_seqs" / entry
    base.parent.mkdir(parents=True, exist_ok=True)
    np.save(f"{base}.mano.npy", sides, allow_pickle=True)  # type: ignore[arg-type]
    pose = torch.cat([sequence.articulation[:, None], sequence.rotation, sequence.translation_mm], 1)
    np.save(f"{base}.object.npy", pose.double().numpy())
    return base


def write_arctic_split(root: Path, splits: dict[str, list[str]]) -> Path:
    path = root / "splits_json" / "protocol_p1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(splits, indent=1))
    return path
