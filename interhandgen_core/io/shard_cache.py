"""Finished pieces of a long conversion, kept on disk so that an interrupted run resumes where it stopped.

A cache is a scratch folder holding one ``.npz`` per finished piece (a capture, a sequence) and a
``manifest.json`` with the fingerprint of what produced them: the input files' sizes and
modification times, the options and the hand model. A run with another fingerprint starts the
folder afresh, so pieces made from other inputs are never mixed in. Pieces are written to a
temporary name and renamed, so a run killed mid-write leaves no half piece behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from interhandgen_core.array_files import read_npz
from interhandgen_core.errors import DataError

_MANIFEST = "manifest.json"


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size and modification time of an input file: enough to notice that it was replaced."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def tensor_fingerprint(*tensors: torch.Tensor) -> str:
    """A digest of the tensors' values: pieces made with another hand model are not reused."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class ShardCache:
    """Pieces named by the caller (``name`` must be a plain file stem) under ``folder``."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any]) -> None:
        self.folder = folder
        manifest = folder / _MANIFEST
        expected = json.dumps(fingerprint, sort_keys=True)
        self.resumed = 0
        if manifest.is_file():
            if manifest.read_text(encoding="utf-8") == expected:
                self.resumed = len(list(folder.glob("*.npz")))
                return
            shutil.rmtree(folder)  # made from other inputs or options: start afresh
        folder.mkdir(parents=True, exist_ok=True)
        manifest.write_text(expected, encoding="utf-8")

    def _path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise DataError(f"shard name {name!r} must be a plain file stem")
        return self.folder / f"{name}.npz"

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def save(self, name: str, arrays: dict[str, NDArray[Any]]) -> None:
        path = self._path(name)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as stream:
            np.savez(stream, **arrays)  # type: ignore[arg-type]
        os.replace(partial, path)

    def load(self, name: str) -> dict[str, NDArray[Any]]:
        return read_npz(self._path(name), "conversion piece")
