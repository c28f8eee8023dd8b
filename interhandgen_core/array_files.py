"""Reading ``.npz`` and ``.npy`` array files without ever unpickling them.

``np.load`` runs whatever code a pickle in the file names unless ``allow_pickle=False``;
every ``.npz`` and plain ``.npy`` file the library reads (hand assets, hands files, grasp
sets, conversion pieces, object clouds) goes through here, so that it never unpickles and a
file it cannot read raises one error naming the file and the kind of file. Dataset files that
do hold pickled objects are read by restricted_pickle.py, which admits numpy arrays only.

Whether the file exists is the caller's to check first: each kind of file says what to do
about a missing one.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.errors import DataError, InterHandGenError

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members, an empty one
# What np.load raises on a truncated, empty or foreign file, or a corrupt member of an archive.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _magic(path: Path, what: str, suffix: str, error: type[InterHandGenError]) -> bytes:
    """The first bytes of the file, enough to tell an .npy from a zip archive."""
    try:
        with path.open("rb") as stream:
            return stream.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise error(f"{path}: not a readable {suffix} {what} ({exc.strerror or exc})") from None


def read_npz(
    path: Path, what: str, names: Collection[str] | None = None, error: type[InterHandGenError] = DataError
) -> dict[str, NDArray[Any]]:
    """The arrays of an ``.npz`` archive by name: all of them, or those of ``names`` that it holds (the
    caller reports the ones it lacks; the others are not read).

    ``what`` names the kind of file in messages ("hands file"); ``error`` is raised, naming the file,
    for a single ``.npy`` array, an unreadable or truncated archive, or a member that holds pickled
    objects.
    """
    magic = _magic(path, what, ".npz", error)
    if magic == _NPY_MAGIC:
        raise error(f"{path}: a single .npy array, expected an .npz {what}")
    if not magic.startswith(_ZIP_MAGIC):
        # np.load takes any other file for a pickle and says so, which misleads.
        raise error(f"{path}: not a readable .npz {what} (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            wanted = archive.files if names is None else [n for n in archive.files if n in names]
            arrays = {name: archive[name] for name in wanted}
    except _UNREADABLE as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc):
            raise error(f"{path}: an array in the .npz cannot be read without pickle ({exc})") from None
        raise error(f"{path}: not a readable .npz {what} ({exc})") from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # a member that is not an .npy comes back as bytes
            raise error(f"{path}: member {name!r} is not an .npy array; not a readable .npz {what}")
    return arrays


def read_npy(path: Path, what: str, error: type[InterHandGenError] = DataError) -> NDArray[Any]:
    """The array of an ``.npy`` file; ``error`` naming the file for one without the ``.npy`` header, one
    that holds pickled objects, or one that is truncated. ``what`` names the kind of file in messages."""
    if _magic(path, what, ".npy", error) != _NPY_MAGIC:
        # np.load takes a file without the header for a pickle and says so, which misleads.
        raise error(f"{path}: not a .npy file (no NUMPY header); save the array with np.save")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise error(f"{path}: holds pickled objects; save a plain array with np.save") from None
        raise error(f"{path}: not a readable .npy {what} ({exc})") from None
    except (OSError, EOFError) as exc:
        raise error(f"{path}: not a readable .npy {what} ({type(exc).__name__}: {exc})") from None
    return np.asarray(array)
