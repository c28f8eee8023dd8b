"""Unpickling that admits numpy arrays and nothing else: for dataset files saved as pickled Python objects.

Some datasets ship ``.npy`` files that hold a pickled Python object rather than an array
(ARCTIC's ``*.mano.npy`` is ``np.save`` of a dict of dicts of arrays), which ``np.load`` reads
only with ``allow_pickle=True``, that is, by running whatever code the file names. Here the
pickle stream is read by an unpickler whose only globals are numpy's array, dtype and scalar
reconstruction (plus ``_codecs.encode`` for latin1 byte strings, which Python 3 writes into
protocol-2 pickles of arrays). Dicts, lists, strings and numbers need no global. Anything
else is refused before it can be called, with a DataError naming the file and the global.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from interhandgen_core.errors import DataError


class ReadOnlyCallable:
    """Wraps an admitted Python function so that a pickle cannot rebind its defaults or attributes."""

    __slots__ = ("_function",)
    _function: Callable[..., object]

    def __init__(self, function: Callable[..., object]) -> None:
        object.__setattr__(self, "_function", function)

    def __call__(self, *args: object) -> object:
        return self._function(*args)

    def __setattr__(self, name: str, value: object) -> None:
        raise pickle.UnpicklingError("admitted functions are read-only")


def _import_first(*names: str) -> ModuleType:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"none of {names} can be imported")


def _latin1_encode(text: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(str, 'latin1'); nothing
    # else of _codecs is admitted, so no codec lookup can be triggered by the file.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is admitted only for latin1 byte strings")
    return text.encode("latin1", errors="strict")


_NUMPY_GLOBALS: dict[tuple[str, str], object] | None = None


def numpy_globals() -> dict[tuple[str, str], object]:
    """(module, name) -> object for every global a pickle of numpy arrays references, under numpy 1.x and 2.x names."""
    global _NUMPY_GLOBALS
    if _NUMPY_GLOBALS is None:
        # numpy >= 2 lives in numpy._core; numpy 1.x in numpy.core (importing which warns on 2.x).
        multiarray = _import_first("numpy._core.multiarray", "numpy.core.multiarray")
        numeric = _import_first("numpy._core.numeric", "numpy.core.numeric")
        table: dict[tuple[str, str], object] = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): ReadOnlyCallable(_latin1_encode),
        }
        # _reconstruct and scalar are C functions (nothing to rebind); _frombuffer is Python.
        frombuffer = ReadOnlyCallable(numeric._frombuffer)
        for package in ("numpy.core", "numpy._core"):
            table[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
            table[(f"{package}.multiarray", "scalar")] = multiarray.scalar
            table[(f"{package}.numeric", "_frombuffer")] = frombuffer
        _NUMPY_GLOBALS = table
    return _NUMPY_GLOBALS


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, path: Path, what: str) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._what = what

    def find_class(self, module: str, name: str) -> Any:
        allowed = numpy_globals().get((module, name))
        if allowed is None:
            raise DataError(
                f"{self._path}: refusing to unpickle the {self._what}, it references '{module}.{name}' "
                "(only numpy arrays, dicts, lists, strings and numbers are admitted)"
            )
        return allowed


def load_npy(path: Path, what: str) -> Any:
    """An ``.npy`` file's content: the array, or for a pickled object array the object it holds.

    A 0-d object array (``np.save`` of a dict) gives the dict; DataError naming the file for a
    missing, truncated or non-.npy file, or a pickle that references anything but numpy.
    """
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with path.open("rb") as stream:
            version = npy_format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(stream)
            else:
                shape, _, dtype = npy_format.read_array_header_2_0(stream)
            if not dtype.hasobject:
                stream.seek(0)
                return np.load(stream, allow_pickle=False)
            content = _NumpyOnlyUnpickler(stream, path, what).load()
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    except Exception as exc:
        # A truncated or foreign file fails anywhere in the header or the pickle stream.
        raise DataError(f"{path}: not a readable .npy {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(content, np.ndarray) or content.shape != tuple(shape):
        raise DataError(f"{path}: the {what} does not hold the array its header announces")
    return content.item() if content.shape == () else content
