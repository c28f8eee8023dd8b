"""Reading ``.npz`` and ``.npy`` array files without ever unpickling them.

``np.load`` runs whatever code a pickle in the file names unless ``allow_pickle=False``;
every ``.npz`` and plain ``.npy`` file the library reads (hand assets, hands files, grasp
sets, conversion pieces, object clouds) goes through here, so that it never unpickles and a
file it cannot read raises one error naming the file and the kind of file. Dataset files that
do hold pickled objects are read by restricted_pickle.py, which admits numpy arrays only.

Whether the file exists is the caller's to check first: each kind of file says what to do
about a missing one.

Sizes are checked before anything is decompressed or allocated: each member of an ``.npz``
by its zip directory entry and by its ``.npy`` header (shape x itemsize), against
MAX_MEMBER_BYTES per member and MAX_NPZ_BYTES in all (a 2 MB archive of 2 GB of zeros is
refused in milliseconds, not decompressed); an ``.npy`` file must hold the bytes its header
promises.
"""

from __future__ import annotations

import math
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
# Largest array one .npz member may hold, and all the members read together, in bytes once
# decompressed. The largest files the library writes (a converted dataset's hands file: about a
# kilobyte per frame without meshes, 19 kB with them) stay far below; a larger file is refused
# before it is decompressed (split it, or pass max_bytes to read_npz).
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB
MAX_NPZ_BYTES = 2 << 30  # 2 GiB


def _size_text(num_bytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes} bytes"


def _npy_header(stream: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype an .npy stream's header declares (the stream is left after the header)."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _check_members(
    path: Path,
    archive: zipfile.ZipFile,
    wanted: Collection[str],
    what: str,
    error: type[InterHandGenError],
    max_bytes: tuple[int, int],
) -> None:
    """Refuse, before any is decompressed, a wanted member (name without .npy) whose zip entry or .npy header
    declares more than max_bytes[0] bytes, or members that declare more than max_bytes[1] together."""
    member_limit, total_limit = max_bytes
    total = 0
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name not in wanted:
            continue
        declared = info.file_size
        if declared > member_limit:
            raise error(
                f"{path}: member {name!r} holds {_size_text(declared)} once decompressed ({info.compress_size} bytes "
                f"stored), more than the {_size_text(member_limit)} a member may hold (MAX_MEMBER_BYTES); not read"
            )
        if info.filename.endswith(".npy"):
            with archive.open(info) as stream:  # the header only: a few hundred bytes decompressed
                try:
                    shape, dtype = _npy_header(stream)
                except ValueError as exc:
                    raise error(f"{path}: member {name!r} has no readable .npy header ({exc}); not a {what}") from None
            if dtype.hasobject:
                raise error(f"{path}: an array in the .npz cannot be read without pickle (member {name!r})")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > member_limit or nbytes > declared:
                raise error(
                    f"{path}: member {name!r} declares a {dtype} array of shape {shape} ({_size_text(nbytes)}), "
                    + (
                        f"more than the {_size_text(member_limit)} a member may hold (MAX_MEMBER_BYTES); not read"
                        if nbytes > member_limit
                        else f"but holds {_size_text(declared)}; the archive is corrupt"
                    )
                )
        total += declared
        if total > total_limit:
            raise error(
                f"{path}: its arrays hold more than {_size_text(total_limit)} together once decompressed "
                "(MAX_NPZ_BYTES); not read: split the file"
            )


def _magic(path: Path, what: str, suffix: str, error: type[InterHandGenError]) -> bytes:
    """The first bytes of the file, enough to tell an .npy from a zip archive."""
    try:
        with path.open("rb") as stream:
            return stream.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise error(f"{path}: not a readable {suffix} {what} ({exc.strerror or exc})") from None


def read_npz(
    path: Path,
    what: str,
    names: Collection[str] | None = None,
    error: type[InterHandGenError] = DataError,
    max_bytes: tuple[int, int] = (MAX_MEMBER_BYTES, MAX_NPZ_BYTES),
) -> dict[str, NDArray[Any]]:
    """The arrays of an ``.npz`` archive by name: all of them, or those of ``names`` that it holds (the
    caller reports the ones it lacks; the others are not read).

    ``what`` names the kind of file in messages ("hands file"); ``error`` is raised, naming the file,
    for a single ``.npy`` array, a file that is not a zip archive, an unreadable or truncated archive,
    a member that holds pickled objects, or members larger than ``max_bytes`` (bytes per member, in
    all; decompressed), which is checked before anything is decompressed.
    """
    magic = _magic(path, what, ".npz", error)
    if magic == _NPY_MAGIC:
        raise error(f"{path}: a single .npy array, expected an .npz {what}")
    if not magic.startswith(_ZIP_MAGIC):
        # np.load takes any other file for a pickle and says so, which misleads.
        raise error(f"{path}: not a readable .npz {what} (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
            _check_members(path, archive, members if names is None else set(names), what, error, max_bytes)
        with np.load(path, allow_pickle=False) as archive:
            wanted = archive.files if names is None else [n for n in archive.files if n in names]
            arrays = {name: archive[name] for name in wanted}
    except InterHandGenError:  # _check_members' refusal (a DataError is a ValueError too): as it is
        raise
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
        with path.open("rb") as stream:
            shape, dtype = _npy_header(stream)
            data_bytes = path.stat().st_size - stream.tell()
    except ValueError as exc:
        raise error(f"{path}: not a readable .npy {what} ({exc})") from None
    if dtype.hasobject:
        raise error(f"{path}: holds pickled objects; save a plain array with np.save")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > data_bytes:  # checked before the array is allocated
        raise error(
            f"{path}: its header declares a {dtype} array of shape {shape} ({_size_text(nbytes)}) but the file holds "
            f"{_size_text(max(data_bytes, 0))} of data; the file is truncated"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise error(f"{path}: holds pickled objects; save a plain array with np.save") from None
        raise error(f"{path}: not a readable .npy {what} ({exc})") from None
    except (OSError, EOFError) as exc:
        raise error(f"{path}: not a readable .npy {what} ({type(exc).__name__}: {exc})") from None
    return np.asarray(array)
