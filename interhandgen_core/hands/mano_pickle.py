"""Reading and writing MANO-format pickles without chumpy or scipy.

The official model files (``MANO_RIGHT.pkl``, ``MANO_LEFT.pkl``; users download them from
https://mano.is.tue.mpg.de under MANO's license, the project never ships them) are Python 2
pickles of a dict. Besides numpy arrays they hold a ``scipy.sparse`` CSC matrix
(``J_regressor``) and chumpy expression objects (``shapedirs`` is a
``chumpy.reordering.Select`` over a ``chumpy.ch.Ch``; ``v_template`` and ``J`` may be
``chumpy.ch.Ch``). A plain ``pickle.load`` needs both libraries installed and, being
pickle, would run whatever code the file names.

:func:`load_mano_pickle` uses a restricted unpickler instead. It admits only the globals a
MANO file references: numpy's array and dtype reconstruction, ``set``, the sparse matrix
classes and chumpy's classes. The last two are replaced by inert stand-ins that keep their
pickled state; the loader then evaluates the few chumpy nodes MANO uses (``Ch`` -> its
array ``x``, ``Select``, ``Reshape``, ``transpose``) and densifies the sparse matrix with
numpy. Any other global (``os.system``, ``builtins.eval``, ...) is refused before it can
be called, with an :class:`AssetError` naming the file and the global.

Arrays come out in MANO's own units and frame (metres, MANO axes), as
:class:`~interhandgen_core.hands.asset.HandAsset` documents.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.asset import HandAsset, Side
from interhandgen_core.hands.keypoints import NUM_BETAS, NUM_FINGER_POSE, NUM_JOINTS, PARENTS, TIP_ORDER
from interhandgen_core.restricted_pickle import ReadOnlyCallable, numpy_globals

MANO_URL = "https://mano.is.tue.mpg.de"
MANO_FILE_NAMES: dict[Side, str] = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}

# MANO's fingertip vertices (the ones smplx's VERTEX_IDS['mano'] uses), in TIP_ORDER.
MANO_TIP_VERTEX_IDS: dict[str, int] = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "pinky": 671}

# Written by write_mano_pickle so that a non-MANO mesh (the procedural hand) keeps its own
# fingertips on a round trip; official MANO files do not have it.
TIP_VERTEX_IDS_KEY = "tip_vertex_ids"

_DOWNLOAD_HINT = f"download MANO from {MANO_URL} and pass --mano-dir"
_REDOWNLOAD_HINT = f"re-download the file from {MANO_URL}"

_REQUIRED_KEYS = (
    "v_template",
    "f",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "hands_mean",
    "hands_components",
)

# Chains of chumpy nodes in MANO files are two deep; the bound only stops malicious cycles.
_MAX_CHUMPY_DEPTH = 32
# A dense J_regressor of MANO is 16 x 778; the bound stops a forged sparse shape from
# allocating gigabytes.
_MAX_DENSE_ENTRIES = 50_000_000


class _ReadOnlyClass(type):
    """Metaclass of the stand-ins: a pickle's BUILD can set attributes on any object it names,
    classes included; refusing that keeps one file from altering the classes later loads use."""

    def __setattr__(cls, name: str, value: object) -> None:
        raise pickle.UnpicklingError(f"cannot set {name!r} on {cls.__name__}: stand-in classes are read-only")

    def __delattr__(cls, name: str) -> None:
        raise pickle.UnpicklingError(f"cannot delete {name!r} from {cls.__name__}: stand-in classes are read-only")


class _PickledStandIn(metaclass=_ReadOnlyClass):
    """An inert object that keeps the state a pickle gives it (``__setstate__``) and nothing else."""

    pickled_name: ClassVar[str] = "?"

    @property
    def state(self) -> dict[str, Any]:
        return self.__dict__.get("_pickled_state", {})

    def __setstate__(self, state: object) -> None:
        # Objects with __slots__ pickle their state as (dict, slot dict); MANO's classes have none,
        # but merging costs nothing.
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"{self.pickled_name} has state of type {type(state).__name__}, expected a dict"
            )
        self.__dict__["_pickled_state"] = state


class _ChumpyStandIn(_PickledStandIn):
    """Replaces every chumpy class; :func:`_to_array` evaluates the node kinds MANO uses."""


class _SparseStandIn(_PickledStandIn):
    """Replaces scipy.sparse's CSC/CSR matrices; keeps data, indices, indptr and shape."""

    compressed_columns: ClassVar[bool] = True

    def to_dense(self) -> NDArray[np.float64]:
        state = self.state
        shape = state.get("_shape", state.get("shape"))
        if shape is None or len(shape) != 2:
            raise _ValueProblem(f"sparse matrix without a 2-D shape (got {shape!r})")
        n_rows, n_cols = int(shape[0]), int(shape[1])
        if n_rows < 0 or n_cols < 0 or n_rows * n_cols > _MAX_DENSE_ENTRIES:
            raise _ValueProblem(f"sparse matrix of implausible shape {shape!r}")
        data = np.asarray(state.get("data"), dtype=np.float64).reshape(-1)
        indices = np.asarray(state.get("indices"), dtype=np.int64).reshape(-1)
        indptr = np.asarray(state.get("indptr"), dtype=np.int64).reshape(-1)
        n_major, n_minor = (n_cols, n_rows) if self.compressed_columns else (n_rows, n_cols)
        nnz = int(indptr[-1]) if indptr.size else -1
        if (
            indptr.shape != (n_major + 1,)
            or indptr[0] != 0
            or np.any(np.diff(indptr) < 0)
            or nnz > min(data.size, indices.size)
        ):
            raise _ValueProblem("sparse matrix with inconsistent indptr/indices/data")
        minor = indices[:nnz]
        if nnz and (minor.min() < 0 or minor.max() >= n_minor):
            raise _ValueProblem("sparse matrix with indices outside its shape")
        major = np.repeat(np.arange(n_major), np.diff(indptr))
        dense = np.zeros((n_rows, n_cols), dtype=np.float64)
        # scipy sums duplicate entries; np.add.at does the same.
        if self.compressed_columns:
            np.add.at(dense, (minor, major), data[:nnz])
        else:
            np.add.at(dense, (major, minor), data[:nnz])
        return dense


class _CscStandIn(_SparseStandIn):
    pickled_name = "scipy.sparse.csc_matrix"
    compressed_columns = True


class _CsrStandIn(_SparseStandIn):
    pickled_name = "scipy.sparse.csr_matrix"
    compressed_columns = False


class _ValueProblem(Exception):
    """A pickled value that cannot become the array it should be (turned into AssetError by the caller)."""


def _reconstruct_plain_object(cls: object, base: object, state: object) -> object:
    # copyreg._reconstructor, which protocol-0/1 pickles use for new-style classes, restricted
    # to base `object` and to the stand-ins, so that it can construct nothing else.
    if base is not object or not (isinstance(cls, type) and issubclass(cls, _PickledStandIn)) or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor is admitted only for chumpy/scipy stand-ins")
    return object.__new__(cls)


_ALLOWED_GLOBALS: dict[tuple[str, str], object] | None = None
_CHUMPY_MODULES = frozenset({"chumpy", "chumpy.ch", "chumpy.ch_ops", "chumpy.reordering", "chumpy.utils"})
_SPARSE_CLASSES: dict[tuple[str, str], type[_SparseStandIn]] = {
    ("scipy.sparse.csc", "csc_matrix"): _CscStandIn,
    ("scipy.sparse._csc", "csc_matrix"): _CscStandIn,
    ("scipy.sparse.csr", "csr_matrix"): _CsrStandIn,
    ("scipy.sparse._csr", "csr_matrix"): _CsrStandIn,
}
_chumpy_classes: dict[str, type[_ChumpyStandIn]] = {}


def _allowed_globals() -> dict[tuple[str, str], object]:
    global _ALLOWED_GLOBALS
    if _ALLOWED_GLOBALS is None:
        table: dict[tuple[str, str], object] = {
            **numpy_globals(),
            ("__builtin__", "set"): set,
            ("builtins", "set"): set,
            ("__builtin__", "frozenset"): frozenset,
            ("builtins", "frozenset"): frozenset,
            ("__builtin__", "object"): object,
            ("builtins", "object"): object,
            ("copy_reg", "_reconstructor"): ReadOnlyCallable(_reconstruct_plain_object),
            ("copyreg", "_reconstructor"): ReadOnlyCallable(_reconstruct_plain_object),
        }
        table.update(_SPARSE_CLASSES)
        _ALLOWED_GLOBALS = table
    return _ALLOWED_GLOBALS


def _chumpy_class(module: str, name: str) -> type[_ChumpyStandIn]:
    qualified = f"{module}.{name}"
    if qualified not in _chumpy_classes:
        _chumpy_classes[qualified] = type(name, (_ChumpyStandIn,), {"pickled_name": qualified})
    return _chumpy_classes[qualified]


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals of a MANO file; see the module docstring."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        # latin1 turns Python 2 byte strings (array buffers) into str that numpy decodes back.
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = _allowed_globals().get((module, name))
        if allowed is not None:
            return allowed
        if module in _CHUMPY_MODULES and name.isidentifier() and not name.startswith("_"):
            return _chumpy_class(module, name)
        raise AssetError(
            f"{self._path}: refusing to unpickle, it references the global '{module}.{name}', which MANO files "
            f"never contain (only numpy arrays, scipy sparse matrices and chumpy arrays are admitted); "
            f"use the official file from {MANO_URL}"
        )


def _chumpy_value(node: _ChumpyStandIn, depth: int) -> NDArray[Any]:
    state = node.state
    kind = node.pickled_name.rsplit(".", 1)[-1]
    try:
        if kind == "Select":
            flat = _to_array(state["a"], depth + 1).reshape(-1)
            selected = flat[np.asarray(state["idxs"], dtype=np.int64).reshape(-1)]
            shape = state.get("preferred_shape")
            return selected.reshape(tuple(shape)) if shape is not None else selected
        if kind == "Reshape":
            return _to_array(state["a"], depth + 1).reshape(state["newshape"])
        if kind == "transpose":
            axes = state.get("axes")
            return np.transpose(_to_array(state["a"], depth + 1), axes=None if axes is None else tuple(axes))
        if "x" in state:
            return _to_array(state["x"], depth + 1)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise _ValueProblem(f"malformed chumpy {node.pickled_name} ({exc})") from exc
    raise _ValueProblem(f"chumpy expression {node.pickled_name} cannot be evaluated without chumpy")


def _to_array(value: object, depth: int = 0) -> NDArray[Any]:
    """Any value a MANO pickle holds (array, sparse matrix, chumpy node, list) -> numpy array."""
    if depth > _MAX_CHUMPY_DEPTH:
        raise _ValueProblem("chumpy expression nested too deeply")
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, _SparseStandIn):
        try:
            return value.to_dense()
        except (ValueError, TypeError, IndexError, OverflowError) as exc:
            raise _ValueProblem(f"malformed sparse matrix ({exc})") from exc
    if isinstance(value, _ChumpyStandIn):
        return _chumpy_value(value, depth)
    if isinstance(value, _PickledStandIn):
        raise _ValueProblem(f"unexpected {value.pickled_name}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise _ValueProblem(f"not an array ({exc})") from exc
    if array.dtype == object:
        raise _ValueProblem(f"not a numeric array (holds {type(value).__name__})")
    return array


def _read_pickle(path: Path) -> dict[str, object]:
    if not path.exists():
        raise AssetError(f"{path}: MANO model file not found; {_DOWNLOAD_HINT}")
    if not path.is_file():
        raise AssetError(f"{path}: is not a file; expected a MANO model pickle ({_DOWNLOAD_HINT})")
    try:
        with path.open("rb") as file:
            data = _RestrictedUnpickler(file, path).load()
    except AssetError:
        raise
    except OSError as exc:
        raise AssetError(f"{path}: cannot read MANO model file ({exc})") from exc
    except Exception as exc:
        # Unpickling a truncated or corrupted file raises nearly anything (EOFError,
        # UnpicklingError, ValueError, TypeError, UnicodeDecodeError, ...).
        raise AssetError(
            f"{path}: not a readable MANO pickle, truncated or corrupted ({type(exc).__name__}: {exc}); {_REDOWNLOAD_HINT}"
        ) from exc
    if not isinstance(data, dict):
        raise AssetError(f"{path}: not a MANO model, the pickle holds a {type(data).__name__} rather than a dict")
    return {str(key): value for key, value in data.items()}


def _side_of(path: Path, side: str | None) -> Side:
    if side is not None:
        if side not in ("right", "left"):
            raise AssetError(f"{path}: side must be 'right' or 'left', got {side!r}")
        return "right" if side == "right" else "left"
    name = path.name.upper()
    if ("RIGHT" in name) == ("LEFT" in name):
        raise AssetError(
            f"{path}: cannot tell the hand side from the file name (expected RIGHT or LEFT in it, "
            f"as in MANO_RIGHT.pkl); pass side='right' or side='left'"
        )
    return "right" if "RIGHT" in name else "left"


def _numeric(data: Mapping[str, object], key: str, path: Path, dtype: type) -> NDArray[Any]:
    try:
        array = _to_array(data[key])
        if not np.issubdtype(array.dtype, np.number):
            raise _ValueProblem(f"not a numeric array (dtype {array.dtype})")
        converted: NDArray[Any] = array.astype(dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise AssetError(f"{path}: entry '{key}' cannot be converted to {np.dtype(dtype)} ({exc})") from exc
    except _ValueProblem as exc:
        raise AssetError(f"{path}: entry '{key}' is {exc}; {_REDOWNLOAD_HINT}") from exc
    if dtype is np.float64 and not np.all(np.isfinite(converted)):
        raise AssetError(f"{path}: entry '{key}' holds NaN or Inf; {_REDOWNLOAD_HINT}")
    return converted


def _check_shape(array: NDArray[Any], expected: tuple[int | None, ...], key: str, path: Path) -> None:
    if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape, strict=True)):
        shown = tuple("N" if e is None else e for e in expected)
        raise AssetError(
            f"{path}: entry '{key}' has shape {array.shape}, expected {shown}; this is not a MANO hand model"
        )


def load_mano_pickle(path: str | Path, side: str | None = None) -> HandAsset:
    """Read an official MANO pickle (or one written by :func:`write_mano_pickle`) as a HandAsset.

    path: ``MANO_RIGHT.pkl`` or ``MANO_LEFT.pkl``. side: 'right' or 'left'; None takes it from
    the file name (RIGHT/LEFT in it). The result is in metres, MANO's axes, with
    shapedirs (V, 3, 10), posedirs (V, 3, 135), a dense J_regressor (16, V), parents with -1 at
    the root and MANO's fingertip vertices (744, 320, 443, 554, 671 in TIP_ORDER) unless the
    file carries its own ``tip_vertex_ids``. The left file is returned as released; pass it
    through :func:`fix_left_shapedirs`.

    Raises AssetError (one line naming the file and what to do) for a missing, truncated or
    malformed file, and for a pickle that references anything a MANO file does not contain.
    """
    path = Path(path)
    resolved_side = _side_of(path, side)
    data = _read_pickle(path)
    missing = [key for key in _REQUIRED_KEYS if key not in data]
    if missing:
        raise AssetError(f"{path}: not a MANO model file, missing entries {missing}; {_DOWNLOAD_HINT}")

    v_template = _numeric(data, "v_template", path, np.float64)
    _check_shape(v_template, (None, 3), "v_template", path)
    num_vertices = v_template.shape[0]
    faces = _numeric(data, "f", path, np.int64)
    _check_shape(faces, (None, 3), "f", path)
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        raise AssetError(f"{path}: entry 'f' indexes vertices outside 0..{num_vertices - 1}; {_REDOWNLOAD_HINT}")
    shapedirs = _numeric(data, "shapedirs", path, np.float64)
    _check_shape(shapedirs, (num_vertices, 3, None), "shapedirs", path)
    if shapedirs.shape[2] < NUM_BETAS:
        raise AssetError(f"{path}: entry 'shapedirs' has {shapedirs.shape[2]} shape components, expected {NUM_BETAS}")
    posedirs = _numeric(data, "posedirs", path, np.float64)
    _check_shape(posedirs, (num_vertices, 3, (NUM_JOINTS - 1) * 9), "posedirs", path)
    j_regressor = _numeric(data, "J_regressor", path, np.float64)
    _check_shape(j_regressor, (NUM_JOINTS, num_vertices), "J_regressor", path)
    weights = _numeric(data, "weights", path, np.float64)
    _check_shape(weights, (num_vertices, NUM_JOINTS), "weights", path)
    kintree = _numeric(data, "kintree_table", path, np.int64)
    _check_shape(kintree, (2, NUM_JOINTS), "kintree_table", path)
    hands_mean = _numeric(data, "hands_mean", path, np.float64)
    _check_shape(hands_mean, (NUM_FINGER_POSE,), "hands_mean", path)
    hands_components = _numeric(data, "hands_components", path, np.float64)
    _check_shape(hands_components, (NUM_FINGER_POSE, NUM_FINGER_POSE), "hands_components", path)

    # The root's parent is stored as -1 or as 2**32 - 1 (an unsigned -1); either way it is the root.
    parents = kintree[0].copy()
    parents[0] = -1
    if not np.array_equal(kintree[1], np.arange(NUM_JOINTS)) or tuple(parents.tolist()) != PARENTS:
        raise AssetError(f"{path}: entry 'kintree_table' is not MANO's 16-joint hand tree; {_DOWNLOAD_HINT}")

    if TIP_VERTEX_IDS_KEY in data:
        tip_vertex_ids = _numeric(data, TIP_VERTEX_IDS_KEY, path, np.int64)
        _check_shape(tip_vertex_ids, (len(TIP_ORDER),), TIP_VERTEX_IDS_KEY, path)
    else:
        tip_vertex_ids = np.array([MANO_TIP_VERTEX_IDS[finger] for finger in TIP_ORDER], dtype=np.int64)
    if tip_vertex_ids.min() < 0 or tip_vertex_ids.max() >= num_vertices:
        raise AssetError(
            f"{path}: the mesh has {num_vertices} vertices, too few for MANO's fingertip vertices "
            f"{tip_vertex_ids.tolist()}; this is not a MANO hand model ({_DOWNLOAD_HINT})"
        )

    try:
        return HandAsset(
            name="mano",
            side=resolved_side,
            v_template=v_template,
            faces=faces,
            shapedirs=np.ascontiguousarray(shapedirs[:, :, :NUM_BETAS]),
            posedirs=posedirs,
            J_regressor=j_regressor,
            weights=weights,
            parents=parents,
            tip_vertex_ids=tip_vertex_ids,
            hands_mean=hands_mean,
            hands_components=hands_components,
        )
    except AssetError as exc:
        raise AssetError(f"{path}: {exc}") from exc


def fix_left_shapedirs(left: HandAsset, right: HandAsset) -> HandAsset:
    """Correct the sign of the x components of the left model's shape blend shapes.

    left, right: the two MANO assets as loaded (V vertices each). Returns ``left`` with
    shapedirs[:, 0, :] (metres per unit beta along MANO's x axis) negated when needed.

    A left hand is the right hand mirrored in x, so the left model's shape directions
    should be the right model's with their x components negated. In the released
    ``MANO_LEFT.pkl`` they are not: shapedirs[:, 0, :] equals the right model's, so the same
    betas give differently shaped left and right hands. This is a well-known bug of the
    released files (reported against smplx, for instance, as "Bug on shapedirs of MANO").
    The correction is applied only when the left x components (nearly) equal the right
    ones, sum |left - right| < 1; a file that is already corrected, whose x components are
    the negation of the right ones, is returned unchanged.
    """
    if left.side != "left" or right.side != "right":
        raise AssetError(
            f"fix_left_shapedirs needs (left, right) assets, got sides ({left.side!r}, {right.side!r}); "
            f"pass the MANO_LEFT.pkl asset first"
        )
    if left.shapedirs.shape != right.shapedirs.shape:
        raise AssetError(
            f"MANO left and right models differ in shapedirs shape ({left.shapedirs.shape} vs "
            f"{right.shapedirs.shape}); use MANO_LEFT.pkl and MANO_RIGHT.pkl from the same release"
        )
    if np.abs(left.shapedirs[:, 0, :] - right.shapedirs[:, 0, :]).sum() >= 1.0:
        return left
    shapedirs = left.shapedirs.copy()
    shapedirs[:, 0, :] *= -1.0
    return dataclasses.replace(left, shapedirs=shapedirs)


def write_mano_pickle(asset: HandAsset, path: str | Path) -> None:
    """Write ``asset`` as a MANO-format pickle (plain numpy arrays, protocol 2) that smplx's MANO reads.

    For interoperability with tools that expect MANO files; the project itself reads such
    files only through :func:`load_mano_pickle`. The fingertip vertices are stored under
    the extra key ``tip_vertex_ids`` (smplx ignores it) so that a round trip keeps them.
    """
    path = Path(path)
    payload: dict[str, object] = {}
    for key, value in asset.to_mano_dict().items():
        payload[key] = np.ascontiguousarray(value) if isinstance(value, np.ndarray) else value
    payload[TIP_VERTEX_IDS_KEY] = np.asarray(asset.tip_vertex_ids, dtype=np.int64)
    try:
        with path.open("wb") as file:
            pickle.dump(payload, file, protocol=2)
    except OSError as exc:
        raise AssetError(
            f"{path}: cannot write MANO pickle ({exc}); check that the folder exists and is writable"
        ) from exc


__all__ = [
    "MANO_FILE_NAMES",
    "MANO_TIP_VERTEX_IDS",
    "MANO_URL",
    "TIP_VERTEX_IDS_KEY",
    "fix_left_shapedirs",
    "load_mano_pickle",
    "write_mano_pickle",
]
