"""The array-file readers never unpickle, and every unreadable file raises one error naming it."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from interhandgen_core.array_files import read_npy, read_npz
from interhandgen_core.errors import AssetError, DataError


class _Exploit:
    """Unpickling this would run code: the readers must refuse before that."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def test_reads_all_arrays_or_the_named_ones(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez_compressed(path, a=np.arange(3), b=np.zeros((2, 2)), names=np.array(["x", "y"]))
    arrays = read_npz(path, "test file")
    assert sorted(arrays) == ["a", "b", "names"]
    assert np.array_equal(arrays["a"], np.arange(3)) and arrays["names"].dtype.kind == "U"
    assert sorted(read_npz(path, "test file", ("a", "absent"))) == ["a"]


@pytest.mark.parametrize(
    ("name", "write", "match"),
    [
        (
            "single.npy",
            lambda p: np.save(p, np.zeros(3)),
            r"single\.npy: a single \.npy array, expected an \.npz test file",
        ),
        (
            "text.npz",
            lambda p: p.write_text("not an archive"),
            r"text\.npz: not a readable \.npz test file \(not a zip",
        ),
        ("empty.npz", lambda p: p.write_bytes(b""), r"empty\.npz: not a readable \.npz test file"),
        (
            "pickled.npz",
            lambda p: np.savez(p, a=np.array([_Exploit()], dtype=object)),
            r"pickled\.npz: an array in the \.npz cannot be read without pickle",
        ),
        ("folder.npz", lambda p: p.mkdir(), r"folder\.npz: not a readable \.npz test file"),
    ],
)
def test_unreadable_archives_raise_the_callers_error(
    tmp_path: Path, name: str, write: Callable[[Path], object], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError, match=match) as info:
        read_npz(path, "test file")
    assert "\n" not in str(info.value)
    assert "unpickled!" not in capsys.readouterr().out


def test_truncated_archive_and_foreign_member(tmp_path: Path) -> None:
    whole = tmp_path / "whole.npz"
    np.savez_compressed(whole, a=np.random.default_rng(0).normal(size=1000))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(AssetError, match=r"cut\.npz: not a readable \.npz hand asset"):
        read_npz(cut, "hand asset", error=AssetError)
    foreign = tmp_path / "foreign.npz"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(DataError, match=r"member 'notes.txt' is not an \.npy array"):
        read_npz(foreign, "test file")


def test_read_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "ok.npy", np.ones((4, 3)))
    assert np.array_equal(read_npy(tmp_path / "ok.npy", "cloud"), np.ones((4, 3)))
    (tmp_path / "text.npy").write_text("no header")
    with pytest.raises(DataError, match=r"not a \.npy file"):
        read_npy(tmp_path / "text.npy", "cloud")
    np.save(tmp_path / "pickled.npy", np.array([_Exploit()], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds pickled objects"):
        read_npy(tmp_path / "pickled.npy", "cloud")
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with pytest.raises(DataError, match=r"cut\.npy: not a readable \.npy cloud"):
        read_npy(tmp_path / "cut.npy", "cloud")
    assert "unpickled!" not in capsys.readouterr().out
