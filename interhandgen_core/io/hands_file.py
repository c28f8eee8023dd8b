"""The one hands-file schema (README "Conventions"): ``samples.npz``, ``grasps.npz``, refine input and output.

Every array is in metres and radians, N samples (or frames) first, and in one frame (the
frame of the input object for grasps, the caller's world frame otherwise). For each side
``s`` in ``left``, ``right``:

    s_vertices     (N, V, 3)  float   mesh vertices
    s_faces        (F, 3)     int     triangles into s_vertices, shared by all N samples
    s_keypoints    (N, 21, 3) float   21 keypoints in the order of hands/keypoints.py;
                                      NaN where a hand (or a keypoint) is missing
    s_pose         (N, 45)    float   finger axis-angle, relative to the flat hand
    s_betas        (N, 10)    float   shape coefficients
    s_rotation     (N, 3, 3)  float   root rotation about the wrist
    s_translation  (N, 3)     float   wrist position
    s_confidence   (N,)       float   tracker confidence of s_keypoints (refine input)

and, for grasps,

    object_points  (P, 3)     float   the object's point cloud
    scores         (N,)       float   one score per grasp hypothesis

Every field is optional on its own, but fields come in groups: the four parameters
(pose, betas, rotation, translation) together or not at all, vertices with faces, and
confidences only beside keypoints. Each side needs keypoints or parameters, so a refine
input may hold only keypoints. NaN is allowed only in keypoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from interhandgen_core.array_files import read_npz
from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_FINGER_POSE, NUM_KEYPOINTS
from interhandgen_core.hands.layer import HandLayer

HandSide = Literal["left", "right"]
# Rows per hand-layer call in hands_file_from_params: bounds the skinning temporaries (a 4x4
# transform per vertex, 0.2 GB for 4,096 MANO hands) whatever N is.
_LAYER_CHUNK = 4096
SIDES: tuple[HandSide, HandSide] = ("left", "right")
PARAM_NAMES = ("pose", "betas", "rotation", "translation")

# Trailing shape of each per-side field after the sample axis; None marks a size read
# from the data (V for vertices, F for faces).
_SIDE_TRAILING: dict[str, tuple[int | None, ...]] = {
    "vertices": (None, 3),
    "keypoints": (NUM_KEYPOINTS, 3),
    "pose": (NUM_FINGER_POSE,),
    "betas": (NUM_BETAS,),
    "rotation": (3, 3),
    "translation": (3,),
    "confidence": (),
}


@dataclasses.dataclass
class HandsFile:
    """Two hands over N samples, numpy arrays as in the module docstring; absent fields are None.

    Validated on construction: every field raises :class:`DataError` with one line that
    names it and says what is wrong.
    """

    left_vertices: NDArray[np.floating] | None = None
    right_vertices: NDArray[np.floating] | None = None
    left_faces: NDArray[np.integer] | None = None
    right_faces: NDArray[np.integer] | None = None
    left_keypoints: NDArray[np.floating] | None = None
    right_keypoints: NDArray[np.floating] | None = None
    left_pose: NDArray[np.floating] | None = None
    right_pose: NDArray[np.floating] | None = None
    left_betas: NDArray[np.floating] | None = None
    right_betas: NDArray[np.floating] | None = None
    left_rotation: NDArray[np.floating] | None = None
    right_rotation: NDArray[np.floating] | None = None
    left_translation: NDArray[np.floating] | None = None
    right_translation: NDArray[np.floating] | None = None
    left_confidence: NDArray[np.floating] | None = None
    right_confidence: NDArray[np.floating] | None = None
    object_points: NDArray[np.floating] | None = None
    scores: NDArray[np.floating] | None = None

    def __post_init__(self) -> None:
        for name, value in self.to_arrays().items():
            if not isinstance(value, np.ndarray):
                raise DataError(
                    f"field '{name}' is a {type(value).__name__}, expected a numpy array (use np.asarray or tensor.numpy())"
                )
            _check_dtype(name, value)
        num = self._check_sample_axis()
        for side in SIDES:
            self._check_side(side, num)
        if self.object_points is not None:
            _check_shape("object_points", self.object_points, (None, 3))
            _check_finite("object_points", self.object_points)
        if self.scores is not None:
            _check_shape("scores", self.scores, (num,))
            _check_finite("scores", self.scores)

    @property
    def num_samples(self) -> int:
        """N, the length of the sample axis (0 for a file with no per-sample field)."""
        for name, value in self.to_arrays().items():
            if _has_sample_axis(name):
                return int(value.shape[0])
        return 0

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The fields that are present, by their file key."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]]) -> HandsFile:
        """File keys -> HandsFile; refuses keys outside the schema, listing them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(arrays) - known)
        if unknown:
            raise DataError(f"unknown keys {unknown}; a hands file holds only {sorted(known)}")
        return cls(**dict(arrays))

    def has_params(self, side: HandSide) -> bool:
        return getattr(self, f"{side}_pose") is not None

    def params(
        self, side: HandSide, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> HandParams:
        """One side's parameters as a batch of N :class:`HandParams`; DataError if the file has none."""
        if not self.has_params(side):
            raise DataError(f"the hands file holds no {side}-hand parameters (only {sorted(self.to_arrays())})")
        return HandParams(
            *(torch.as_tensor(getattr(self, f"{side}_{name}"), dtype=dtype, device=device) for name in PARAM_NAMES)
        )

    def _check_sample_axis(self) -> int:
        first: tuple[str, int] | None = None
        for name, value in self.to_arrays().items():
            if not _has_sample_axis(name):
                continue
            if value.ndim == 0:
                raise DataError(f"field '{name}' is a scalar, expected N samples along its first axis")
            if first is None:
                first = (name, int(value.shape[0]))
            elif value.shape[0] != first[1]:
                raise DataError(
                    f"field '{name}' has {value.shape[0]} samples but '{first[0]}' has {first[1]}; "
                    "every per-sample field needs the same N"
                )
        return 0 if first is None else first[1]

    def _check_side(self, side: HandSide, num: int) -> None:
        def get(name: str) -> NDArray[Any] | None:
            value: NDArray[Any] | None = getattr(self, f"{side}_{name}")
            return value

        for name, trailing in _SIDE_TRAILING.items():
            value = get(name)
            if value is not None:
                _check_shape(f"{side}_{name}", value, (num, *trailing))
                if name != "keypoints":
                    _check_finite(f"{side}_{name}", value)
        keypoints = get("keypoints")
        if keypoints is not None and np.isinf(keypoints).any():
            raise DataError(f"field '{side}_keypoints' holds inf; mark missing hands or keypoints with NaN")

        present = [name for name in PARAM_NAMES if get(name) is not None]
        if present and len(present) != len(PARAM_NAMES):
            missing = [f"{side}_{name}" for name in PARAM_NAMES if name not in present]
            raise DataError(f"the {side}-hand parameters are incomplete: {missing} missing (give all four or none)")
        if keypoints is None and not present:
            raise DataError(f"the {side} hand has neither '{side}_keypoints' nor parameters; give at least one")
        if get("confidence") is not None and keypoints is None:
            raise DataError(f"field '{side}_confidence' needs '{side}_keypoints' beside it")

        vertices, faces = get("vertices"), get("faces")
        if (vertices is None) != (faces is None):
            missing_name = f"{side}_faces" if faces is None else f"{side}_vertices"
            raise DataError(f"field '{missing_name}' is missing; mesh vertices and faces go together")
        if vertices is not None and faces is not None:
            _check_shape(f"{side}_faces", faces, (None, 3))
            if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1]):
                raise DataError(
                    f"field '{side}_faces' indexes vertices {faces.min()}..{faces.max()}, "
                    f"but '{side}_vertices' has only {vertices.shape[1]} per sample"
                )


def _has_sample_axis(name: str) -> bool:
    return name not in ("left_faces", "right_faces", "object_points")


def _check_dtype(name: str, value: NDArray[Any]) -> None:
    if name.endswith("_faces"):
        if not np.issubdtype(value.dtype, np.integer):
            raise DataError(f"field '{name}' has dtype {value.dtype}, expected an integer type")
    elif value.dtype not in (np.float32, np.float64):
        raise DataError(f"field '{name}' has dtype {value.dtype}, expected float32 or float64")


def _check_shape(name: str, value: NDArray[Any], expected: tuple[int | None, ...]) -> None:
    ok = value.ndim == len(expected) and all(e is None or s == e for s, e in zip(value.shape, expected, strict=True))
    if not ok:
        wanted = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise DataError(f"field '{name}' has shape {value.shape}, expected {wanted}")


def _check_finite(name: str, value: NDArray[Any]) -> None:
    if not np.isfinite(value).all():
        raise DataError(f"field '{name}' holds NaN or inf; only keypoints may be NaN (for missing hands)")


def write_hands_file(path: str | Path, hands: HandsFile) -> None:
    """Write ``hands`` to ``path`` as a compressed ``.npz``, exactly at that path.

    Writes that one file and nothing else: the parent directory must exist (creating it
    is the caller's job, so that a command writes only under the path it was given).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    # A file object, because np.savez_compressed appends '.npz' to a path without it.
    arrays: dict[str, Any] = hands.to_arrays()
    with path.open("wb") as stream:
        np.savez_compressed(stream, **arrays)


def read_hands_file(path: str | Path) -> HandsFile:
    """Read and validate a hands file; DataError naming the file for anything off-schema."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such hands file")
    arrays = read_npz(path, "hands file")
    try:
        return HandsFile.from_arrays(arrays)
    except DataError as err:
        raise DataError(f"{path}: {err}") from err


def hands_file_from_params(
    left_layer: HandLayer,
    right_layer: HandLayer,
    left: HandParams,
    right: HandParams,
    meshes: bool = True,
    **extra: NDArray[Any] | torch.Tensor,
) -> HandsFile:
    """Two batches of N hand parameters -> a HandsFile with every keypoint and parameter field, and the meshes.

    meshes: False leaves vertices and faces out (a dataset's file: the layer recomputes them,
    and at hundreds of thousands of rows they would take gigabytes). The layers run in memory
    chunks of rows either way. ``extra`` holds the other schema fields (``object_points``,
    ``scores``, ``left_confidence``, ``right_confidence``) as arrays or tensors. Arrays keep
    the layers' dtype (float32 by default).
    """
    for name, layer in (("left_layer", left_layer), ("right_layer", right_layer)):
        expected = name.split("_")[0]
        if layer.side != expected:
            raise ValueError(
                f"{name} is a {layer.side}-hand layer; build the left one as HandLayer(asset.mirrored())"
                if expected == "left"
                else f"{name} is a {layer.side}-hand layer; build the right one from the right-hand asset"
            )
    fields: dict[str, NDArray[Any]] = {}
    with torch.no_grad():
        for side, layer, params in (("left", left_layer, left), ("right", right_layer, right)):
            params = params.to(layer.faces.device, layer.v_template.dtype)
            vertices, keypoints = [], []
            for start in range(0, max(params.batch_size, 1), _LAYER_CHUNK):  # memory chunks
                rows = params.select(slice(start, start + _LAYER_CHUNK))
                out = layer(rows)
                keypoints.append(_to_numpy(out.keypoints))
                if meshes:
                    vertices.append(_to_numpy(out.vertices))
            if meshes:
                fields[f"{side}_vertices"] = np.concatenate(vertices)
                fields[f"{side}_faces"] = _to_numpy(layer.faces)
            fields[f"{side}_keypoints"] = np.concatenate(keypoints)
            for name in PARAM_NAMES:
                fields[f"{side}_{name}"] = _to_numpy(getattr(params, name))
    clash = sorted(set(extra) & set(fields))
    if clash:
        raise ValueError(f"extra fields {clash} are computed from the parameters; leave them out")
    for name, value in extra.items():
        fields[name] = _to_numpy(value) if isinstance(value, torch.Tensor) else np.asarray(value)
    return HandsFile.from_arrays(fields)


def _to_numpy(tensor: torch.Tensor) -> NDArray[Any]:
    return tensor.detach().cpu().numpy()
