"""The array-file readers never unpickle, and every unreadable file raises one error naming it."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from interhandgen_core.array_files import MAX_MEMBER_BYTES, MAX_NPZ_BYTES, read_npy, read_npz
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


def write_zeros_npz(path: Path, name: str, num_bytes: int, header_shape: tuple[int, ...] | None = None) -> None:
    """An .npz whose member ``name`` is ``num_bytes`` of float64 zeros, written in chunks (a zip bomb: a few
    kilobytes on disk per 10 MB); ``header_shape`` makes its .npy header declare another shape."""
    shape = header_shape or (num_bytes // 8,)
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(1 << 20)
            for start in range(0, num_bytes, len(chunk)):
                member.write(chunk[: min(len(chunk), num_bytes - start)])


def test_member_sizes_are_checked_before_decompressing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.npz"
    write_zeros_npz(bomb, "right_pose", 64 << 20)
    assert bomb.stat().st_size < 200_000  # 64 MiB of zeros in well under 1% of it
    with pytest.raises(DataError, match=r"bomb\.npz: member 'right_pose' holds 64\.0 MiB once decompressed .* more "
                       r"than the 16\.0 MiB a member may hold \(MAX_MEMBER_BYTES\); not read"):  # fmt: skip
        read_npz(bomb, "hands file", max_bytes=(16 << 20, 1 << 30))
    with pytest.raises(DataError, match=r"more than 32\.0 MiB together .*\(MAX_NPZ_BYTES\)"):
        read_npz(bomb, "hands file", max_bytes=(1 << 30, 32 << 20))
    assert read_npz(bomb, "hands file")["right_pose"].shape == (8 << 20,)  # within the default limits
    assert read_npz(bomb, "hands file", ("other",), max_bytes=(1, 1)) == {}  # members not asked for: not checked
    assert MAX_MEMBER_BYTES == 1 << 30 and MAX_NPZ_BYTES == 2 << 30


def test_an_npy_header_that_promises_more_than_the_member_holds_is_refused(tmp_path: Path) -> None:
    """A header declaring 8 GiB over 1 MiB of data: refused from the header, nothing allocated."""
    liar = tmp_path / "liar.npz"
    write_zeros_npz(liar, "points", 1 << 20, header_shape=(1 << 30,))
    with pytest.raises(DataError, match=r"member 'points' declares a float64 array of shape \(1073741824,\) "
                       r"\(8\.0 GiB\), more than the 1\.0 GiB a member may hold"):  # fmt: skip
        read_npz(liar, "hands file")
    small_liar = tmp_path / "small_liar.npz"
    write_zeros_npz(small_liar, "points", 1 << 10, header_shape=(1 << 20,))
    with pytest.raises(DataError, match=r"\(8\.0 MiB\), but holds 1\.1 KiB; the archive is corrupt"):
        read_npz(small_liar, "hands file")
    npy = tmp_path / "truncated.npy"
    with npy.open("wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False, "shape": (1 << 30,)})
        stream.write(bytes(80))
    with pytest.raises(DataError, match=r"truncated\.npy: its header declares .* \(8\.0 GiB\) but the file holds "
                       r"80 bytes of data; the file is truncated"):  # fmt: skip
        read_npy(npy, "object file")


def test_a_raw_file_named_npz_is_not_a_zip_archive(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.npz"
    zeros.write_bytes(bytes(1 << 20))
    with pytest.raises(DataError, match=r"zeros\.npz: not a readable \.npz hands file \(not a zip archive\)") as info:
        read_npz(zeros, "hands file")
    assert "pickle" not in str(info.value)
