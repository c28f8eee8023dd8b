"""ARCTIC (Fan et al., CVPR 2023) -> object-conditioned grasp sets, as the paper's section 4.2 uses it.

Input: ARCTIC's unpacked data folder (``arctic_data/data``)::

    raw_seqs/<subject>/<object>_<action>_<nn>.mano.npy    np.save of a dict, per side "right" | "left":
        rot          (T, 3)   MANO global_orient, axis-angle, radians, world frame
        pose         (T, 45)  finger axis-angle relative to MANO's mean pose (flat_hand_mean=False)
        trans        (T, 3)   MANO transl, metres
        shape        (10,)    betas of the subject (also accepted: (1, 10) or (T, 10))
        fitting_err  (T,)     not used
    raw_seqs/<subject>/<object>_<action>_<nn>.object.npy  (T, 7) float: articulation a (radians),
                                                          axis-angle rotation r (3), translation t (3, mm)
    meta/object_vtemplates/<object>/mesh.obj              template mesh, millimetres
    meta/object_vtemplates/<object>/parts.json            one 0 | 1 per mesh.obj vertex; 0 = the top
                                                          (articulated) part, as ARCTIC's object layer reads it
    splits_json/protocol_p1.json                          {"train" | "val" | "test": ["s01/box_grab_01", ...]}

Object pose (ARCTIC's object layer): a template vertex v of the top part is first rotated by the
axis-angle (0, 0, -1) * a about the template origin, then every vertex by R = exp(r), then t / 1000
is added: v_world = R v_articulated + t.

Object frame (README "Conventions"): the template's axes, origin at the centroid of the object's
surface cloud at that articulation. Hands go into it as p_obj = R^T (p_world - t) - offset, where
offset is that centroid in template coordinates. Each frame's object is one instance of
:class:`ArticulatedObjects`: its template at the frame's articulation rounded to
``articulation_step_deg`` (instances are shared by the frames that round alike, so a split stores
a few hundred clouds instead of one per frame). The hands are exact; only the cloud's top part
may be off by half a step (0.5 degrees by default: 1.3 mm at 15 cm from the hinge).

One scene per frame (``stride`` keeps every stride-th), both hands' MANO fits through the side's
layer (hands/mano_params.py). Frames with NaN or infinite numbers, sequences whose files are
missing (ARCTIC withholds subject s03, its protocol-1 test subject, for the leaderboard), of an
object with no template, or with malformed arrays are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import trimesh
from numpy.typing import NDArray
from tqdm import tqdm

from interhandgen_core.data.articulated_objects import ArticulatedObjects
from interhandgen_core.data.conversion_report import SkipCounter
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.mano_params import ManoParams, mano_to_hand_params
from interhandgen_core.io.json_file import read_json
from interhandgen_core.io.shard_cache import ShardCache, file_fingerprint, tensor_fingerprint
from interhandgen_core.restricted_pickle import load_npy

ARCTIC_URL = "https://arctic.is.tue.mpg.de"
ARCTIC_SPLITS: tuple[str, ...] = ("train", "val", "test")
ARCTIC_ACTIONS: tuple[str, ...] = ("grab", "use")
ARCTIC_AXIS = (0.0, 0.0, -1.0)  # the articulation axis of every ARCTIC object, template frame
SPLIT_FILE = Path("splits_json") / "protocol_p1.json"
_MM = 1e-3
_SIDES = ("left", "right")
# The frame the converted hands are in (module docstring), as the summary states it.
ARCTIC_FRAME = "object frame: template axes, origin at the object cloud's centroid"

# Skip reasons, as the summary names them.
MISSING_FILES = "sequences whose files are missing"
UNKNOWN_OBJECT = "sequences of an object with no template (unknown object name)"
BAD_NAME = "split entries not of the form <subject>/<object>_<grab|use>_<nn>"
MALFORMED_SEQUENCE = "sequences with malformed arrays"
NON_FINITE = "frames with NaN or infinite parameters"


class EmptySplitError(DataError):
    """A split with no usable frame, e.g. protocol 1's test split, whose subject ARCTIC withholds."""


@dataclass(frozen=True)
class ArcticConfig:
    """How frames become scenes. articulation_step_deg: instance rounding of the articulation;
    cloud_points: points per object cloud; stride: keep every stride-th frame; seed: cloud sampling."""

    articulation_step_deg: float = 1.0
    cloud_points: int = 2048
    stride: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.articulation_step_deg, (int, float)) and 0 < self.articulation_step_deg <= 45):
            raise ConfigError(f"articulation_step_deg must be in (0, 45], got {self.articulation_step_deg}")
        for name in ("cloud_points", "stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")


def read_split_file(root: Path) -> dict[str, list[str]]:
    """protocol_p1.json -> split name -> its sequence entries; DataError naming the file if it is not that."""
    path = root / SPLIT_FILE
    if not (root / "raw_seqs").is_dir():
        raise DataError(
            f"{root / 'raw_seqs'}: not found; --root must be ARCTIC's unpacked data folder "
            f"(arctic_data/data, holding raw_seqs/, meta/ and splits_json/, from {ARCTIC_URL})"
        )
    data = read_json(path, "ARCTIC protocol-1 split file")
    if not isinstance(data, dict) or not all(isinstance(data.get(s, []), list) for s in ARCTIC_SPLITS):
        raise DataError(f"{path}: not an ARCTIC split file (expected lists under {', '.join(ARCTIC_SPLITS)})")
    return {split: [str(entry) for entry in data.get(split, [])] for split in ARCTIC_SPLITS}


@dataclass
class ObjectTemplate:
    """One ARCTIC object: vertices (V, 3) metres and faces (F, 3) of mesh.obj, moving (V,) bool (top part)."""

    name: str
    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]
    moving: NDArray[np.bool_]


def read_object_template(root: Path, name: str) -> ObjectTemplate:
    """meta/object_vtemplates/<name>/{mesh.obj, parts.json} -> ObjectTemplate; DataError naming a bad file."""
    folder = root / "meta" / "object_vtemplates" / name
    mesh_path, parts_path = folder / "mesh.obj", folder / "parts.json"
    if not mesh_path.is_file():
        raise DataError(f"{mesh_path}: ARCTIC object template not found")
    try:
        # process=False keeps the file's vertex order, which parts.json indexes.
        mesh = cast(trimesh.Trimesh, trimesh.load(mesh_path, process=False, force="mesh"))
    except Exception as exc:  # trimesh raises many kinds for a bad file
        raise DataError(f"{mesh_path}: not a readable OBJ mesh ({type(exc).__name__}: {exc})") from None
    vertices = np.asarray(mesh.vertices, dtype=np.float64) * _MM
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise DataError(f"{mesh_path}: the template has no triangles")
    parts = read_json(parts_path, "ARCTIC object parts file")
    if not isinstance(parts, list) or len(parts) != len(vertices) or any(p not in (0, 1) for p in parts):
        raise DataError(
            f"{parts_path}: expected one 0 or 1 per vertex of mesh.obj ({len(vertices)} vertices), "
            f"got {len(parts) if isinstance(parts, list) else type(parts).__name__}"
        )
    return ObjectTemplate(name, vertices, faces, np.asarray(parts) == 0)


@dataclass
class SequenceArrays:
    """One sequence's T frames: both hands' MANO parameters (world) and the object's (T, 7) pose."""

    left: ManoParams
    right: ManoParams
    object_pose: NDArray[np.float64]


def _side_arrays(data: Any, side: str, path: Path) -> NDArray[np.float64]:
    """One side's dict -> (T, 61) [rot 3, pose 45, shape 10, trans 3]; DataError when malformed."""
    entry = data.get(side) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        raise DataError(f"{path}: no '{side}' hand")
    try:
        rot, pose, trans = (np.asarray(entry[key], dtype=np.float64) for key in ("rot", "pose", "trans"))
        shape = np.asarray(entry["shape"], dtype=np.float64)
    except KeyError as exc:
        raise DataError(f"{path}: the '{side}' hand has no {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: the '{side}' hand holds non-numeric values ({exc})") from None
    t = rot.shape[0] if rot.ndim == 2 else -1
    if rot.shape != (t, 3) or pose.shape != (t, 45) or trans.shape != (t, 3):
        raise DataError(
            f"{path}: the '{side}' hand's rot, pose, trans have shapes {rot.shape}, {pose.shape}, {trans.shape}; "
            "expected (T, 3), (T, 45), (T, 3)"
        )
    if shape.shape not in ((10,), (1, 10), (t, 10)):
        raise DataError(f"{path}: the '{side}' hand's shape is {shape.shape}, expected (10,) or (T, 10)")
    return np.concatenate([rot, pose, np.broadcast_to(shape.reshape(-1, 10), (t, 10)), trans], axis=1)


def read_sequence(root: Path, entry: str) -> SequenceArrays:
    """'s01/box_grab_01' -> its arrays; DataError naming the file for anything malformed."""
    base = root / "raw_seqs" / entry
    mano_path, object_path = Path(f"{base}.mano.npy"), Path(f"{base}.object.npy")
    data = load_npy(mano_path, "ARCTIC MANO sequence")
    left, right = (_side_arrays(data, side, mano_path) for side in _SIDES)
    pose = load_npy(object_path, "ARCTIC object sequence")
    if not isinstance(pose, np.ndarray) or pose.ndim != 2 or pose.shape[1] != 7 or pose.dtype.kind not in "fiu":
        shape = getattr(pose, "shape", type(pose).__name__)
        raise DataError(f"{object_path}: expected a (T, 7) number array, got {shape}")
    if not (len(left) == len(right) == len(pose)):
        raise DataError(
            f"{base}: the MANO file has {len(left)} / {len(right)} frames (left / right), the object file {len(pose)}"
        )

    return SequenceArrays(ManoParams.from_numbers(left), ManoParams.from_numbers(right), pose.astype(np.float64))


def sequence_scenes(
    layers: tuple[HandLayer, HandLayer], arrays: SequenceArrays, stride: int
) -> tuple[NDArray[np.int64], HandParams, HandParams, NDArray[np.float64], NDArray[np.int64]]:
    """A sequence's finite frames (every stride-th) -> (frames (K,), left, right, articulation (K,), dropped).

    left, right: in the template frame (the object's bottom part's axes and origin, metres),
    exact. dropped: the frames (of every stride-th) left out for NaN or infinite numbers.
    """
    hands = torch.cat([arrays.left.global_orient, arrays.left.hand_pose, arrays.left.betas, arrays.left.transl], 1)
    hands = torch.cat([hands, arrays.right.global_orient, arrays.right.hand_pose, arrays.right.transl], 1)
    finite = torch.isfinite(hands).all(1).numpy() & np.isfinite(arrays.object_pose).all(1)
    every = np.arange(0, len(finite), stride)
    frames, dropped = every[finite[every]], every[~finite[every]]
    index = torch.as_tensor(frames)
    pose = torch.as_tensor(arrays.object_pose[frames], dtype=torch.float32)
    rotation_t = axis_angle_to_matrix(pose[:, 1:4]).transpose(1, 2)
    to_template = (rotation_t, -(rotation_t @ (pose[:, 4:7] * _MM)[..., None])[..., 0])

    def side(layer: HandLayer, mano: ManoParams) -> HandParams:
        rows = ManoParams(mano.global_orient[index], mano.hand_pose[index], mano.betas[index], mano.transl[index])
        return mano_to_hand_params(layer, rows).transformed(*to_template)

    return frames, side(layers[0], arrays.left), side(layers[1], arrays.right), arrays.object_pose[frames, 0], dropped


def parse_entry(entry: str) -> tuple[str, str] | None:
    """'s01/box_grab_01' -> ('box', 'grab'); None when the entry is not of that form."""
    parts = entry.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1] or ".." in entry:
        return None
    words = parts[1].split("_")
    if len(words) < 3 or words[1] not in ARCTIC_ACTIONS:
        return None
    return words[0], words[1]


@dataclass
class ArcticSplit:
    """One converted split: N scenes, hands in their object's frame; where each came from; what was skipped."""

    objects: ArticulatedObjects
    points: torch.Tensor  # (M, P, 3) object frame
    normals: torch.Tensor  # (M, P, 3)
    object_index: torch.Tensor  # (N,) into objects
    left: HandParams
    right: HandParams
    kind: torch.Tensor  # (N,) into ARCTIC_ACTIONS
    sequence: NDArray[np.str_]  # (N,) 's01/box_grab_01'
    frame: NDArray[np.int64]  # (N,) frame of the sequence
    articulation: NDArray[np.float64]  # (N,) the frame's exact articulation, radians
    sequences: int  # split entries read
    skips: SkipCounter

    def summary(self, split: str, config: ArcticConfig, mano_dir: str | Path | None) -> dict[str, Any]:
        """The .json beside a converted split: its name, ``split_summary``'s counts, how it was converted.

        split: the split's name. config: the conversion settings. mano_dir: the MANO folder the
        hands went through. Keys, in order: split, then split_summary's (sequences_listed, ...,
        skipped), config (its fields), hand_model ("mano (<mano_dir>)"), frame (ARCTIC_FRAME).
        """
        return {
            "split": split,
            **split_summary(self),
            "config": dataclasses.asdict(config),
            "hand_model": f"mano ({mano_dir})",
            "frame": ARCTIC_FRAME,
        }


def _shard_name(entry: str) -> str:
    return entry.replace("/", "__")


def convert_arctic_split(
    root: Path,
    split: str,
    left_layer: HandLayer,
    right_layer: HandLayer,
    work: Path,
    config: ArcticConfig,
    progress: bool = True,
) -> ArcticSplit:
    """Convert one protocol-1 split; finished sequences are kept under ``work`` so a stopped run resumes."""
    if split not in ARCTIC_SPLITS:
        raise DataError(f"unknown ARCTIC split {split!r}; choose from {', '.join(ARCTIC_SPLITS)}")
    entries = read_split_file(root)[split]
    layers = (left_layer, right_layer)
    cache = ShardCache(
        work,
        {
            "split": split,
            "split_file": file_fingerprint(root / SPLIT_FILE),
            "stride": config.stride,
            "hand_model": tensor_fingerprint(*(t for layer in layers for t in layer.buffers())),
        },
    )
    skips = SkipCounter()
    known_objects = {p.name for p in (root / "meta" / "object_vtemplates").glob("*") if p.is_dir()}
    for entry in tqdm(entries, desc=f"{split} sequences", disable=not progress):
        parsed = parse_entry(entry)
        if parsed is None:
            skips.skip(BAD_NAME, f"{root / SPLIT_FILE}: {entry!r}")
            continue
        if parsed[0] not in known_objects:
            skips.skip(UNKNOWN_OBJECT, entry)
            continue
        base = root / "raw_seqs" / entry
        if not (Path(f"{base}.mano.npy").is_file() and Path(f"{base}.object.npy").is_file()):
            skips.skip(MISSING_FILES, str(base))
            continue
        if cache.has(_shard_name(entry)):
            continue
        try:
            arrays = read_sequence(root, entry)
        except DataError as exc:
            skips.skip(MALFORMED_SEQUENCE, str(exc))
            continue
        frames, left, right, articulation, dropped = sequence_scenes(layers, arrays, config.stride)
        cache.save(
            _shard_name(entry),
            {
                "frames": frames,
                "dropped": dropped,
                "articulation": articulation,
                **left.to_arrays("left"),
                **right.to_arrays("right"),
            },
        )

    names: list[str] = []
    object_names: list[str] = []
    kinds: list[int] = []
    frames_parts: list[NDArray[np.int64]] = []
    arti_parts: list[NDArray[np.float64]] = []
    lefts: list[HandParams] = []
    rights: list[HandParams] = []
    for entry in entries:
        parsed = parse_entry(entry)
        if parsed is None or not cache.has(_shard_name(entry)):
            continue
        stored = cache.load(_shard_name(entry))
        if len(stored["dropped"]):
            skips.skip(NON_FINITE, f"{entry} frame {int(stored['dropped'][0])}", len(stored["dropped"]))
        count = len(stored["frames"])
        names += [entry] * count
        frames_parts.append(stored["frames"])
        arti_parts.append(stored["articulation"])
        object_names += [parsed[0]] * count
        kinds += [ARCTIC_ACTIONS.index(parsed[1])] * count
        lefts.append(HandParams.from_arrays(stored, "left"))
        rights.append(HandParams.from_arrays(stored, "right"))
    if not names:
        raise EmptySplitError(f"{root / SPLIT_FILE}: no usable frame in the '{split}' split ({skips.summary()})")

    articulation = np.concatenate(arti_parts)
    objects, object_index, points, normals = _instances(root, object_names, articulation, config, progress)
    offset = objects.offset[object_index]
    eye = torch.eye(3).expand(1, 3, 3)
    return ArcticSplit(
        objects,
        points,
        normals,
        object_index,
        HandParams.cat(lefts).transformed(eye, -offset),
        HandParams.cat(rights).transformed(eye, -offset),
        torch.as_tensor(kinds, dtype=torch.long),
        np.asarray(names),
        np.concatenate(frames_parts),
        articulation,
        len(entries),
        skips,
    )


def _instances(
    root: Path, object_names: list[str], articulation: NDArray[np.float64], config: ArcticConfig, progress: bool
) -> tuple[ArticulatedObjects, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame object names and articulations -> (instances with offsets, object_index (N,), clouds, normals)."""
    template_names = sorted(set(object_names))
    templates = [read_object_template(root, name) for name in template_names]
    step = math.radians(config.articulation_step_deg)
    family = np.asarray([template_names.index(name) for name in object_names], dtype=np.int64)
    bins = np.round(articulation / step).astype(np.int64)
    keys, object_index = np.unique(np.stack([family, bins], 1), axis=0, return_inverse=True)
    objects = _pack(templates, torch.as_tensor(keys[:, 0]), torch.as_tensor(keys[:, 1] * step, dtype=torch.float32))
    if progress:
        print(
            f"sampling {len(keys)} object clouds ({len(templates)} objects, {config.articulation_step_deg} degree steps)"
        )
    points, normals = objects.sample_surface(config.cloud_points, seed=config.seed)
    centroid = points.mean(dim=1)
    objects = dataclasses.replace(objects, offset=centroid)
    return objects, torch.as_tensor(object_index.reshape(-1)), points - centroid[:, None], normals


def _pack(templates: list[ObjectTemplate], family: torch.Tensor, articulation: torch.Tensor) -> ArticulatedObjects:
    """Templates (padded to the largest) and instances with zero offsets."""
    v_max = max(len(t.vertices) for t in templates)
    f_max = max(len(t.faces) for t in templates)
    vertices = torch.zeros(len(templates), v_max, 3)
    faces = torch.zeros(len(templates), f_max, 3, dtype=torch.long)
    moving = torch.zeros(len(templates), v_max, dtype=torch.bool)
    for i, t in enumerate(templates):  # a handful of templates, each its own size
        vertices[i, : len(t.vertices)] = torch.as_tensor(t.vertices, dtype=torch.float32)
        faces[i, : len(t.faces)] = torch.as_tensor(t.faces)
        moving[i, : len(t.moving)] = torch.as_tensor(t.moving)
    return ArticulatedObjects(
        tuple(t.name for t in templates),
        vertices,
        torch.as_tensor([len(t.vertices) for t in templates]),
        faces,
        torch.as_tensor([len(t.faces) for t in templates]),
        moving,
        torch.tensor(ARCTIC_AXIS).expand(len(templates), 3).clone(),
        family,
        articulation,
        torch.zeros(len(family), 3),
    )


def split_summary(split: ArcticSplit) -> dict[str, Any]:
    """Counts for the .json beside the output: scenes per object and action, instances, skips."""
    per_object = {
        name: int((split.objects.family[split.object_index] == i).sum())
        for i, name in enumerate(split.objects.family_names)
    }
    return {
        "sequences_listed": split.sequences,
        "sequences_converted": len(set(split.sequence.tolist())),
        "scenes": int(split.object_index.shape[0]),
        "scenes_per_object": per_object,
        "scenes_per_action": {a: int((split.kind == i).sum()) for i, a in enumerate(ARCTIC_ACTIONS)},
        "object_instances": len(split.objects),
        "skipped": split.skips.as_dict(),
    }
