"""The TensorRT engine cache's rules (runtime/engine_cache.py): plain Python, checked on every machine."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from interhandgen_core.runtime import engine_cache
from interhandgen_core.runtime.engine_cache import (
    EngineCache,
    EngineKey,
    file_sha256,
    lookup_at,
    sidecar_path,
    store_at,
)

KEY = EngineKey(
    onnx_sha256="a" * 64,
    tensorrt_version="10.3.0",
    gpu_name="NVIDIA H100 80GB HBM3",
    compute_capability="9.0",
    precision="fp16",
    min_batch=1,
    opt_batch=64,
    max_batch=512,
)
ENGINE = bytes(range(256)) * 64


def _with(**fields: Any) -> EngineKey:
    return dataclasses.replace(KEY, **fields)


def test_digest_is_stable_and_differs_per_field() -> None:
    # Pinned: a change in how keys are hashed would orphan every engine users have built.
    assert KEY.digest() == "74716a21b6070cf7b48a3bee"
    assert KEY.digest() == EngineKey.from_dict(json.loads(json.dumps(KEY.to_dict()))).digest()
    changes: dict[str, Any] = {
        "onnx_sha256": "b" * 64,
        "tensorrt_version": "10.4.0",
        "gpu_name": "Orin",
        "compute_capability": "8.7",
        "precision": "fp32",
        "min_batch": 2,
        "opt_batch": 32,
        "max_batch": 128,
    }
    digests = {_with(**{name: value}).digest() for name, value in changes.items()}
    assert len(digests) == len(changes) and KEY.digest() not in digests


def test_store_then_lookup_hits(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert not cache.lookup(KEY).hit
    assert "no cached engine" in cache.lookup(KEY).reason
    path = cache.store(KEY, ENGINE, build_seconds=12.3)
    lookup = cache.lookup(KEY)
    assert lookup.hit and lookup.path == path and path.read_bytes() == ENGINE
    assert json.loads(sidecar_path(path).read_text())["build_seconds"] == 12.3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, sidecar_path(path).name])  # no temp files


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpu_name", "NVIDIA Jetson AGX Orin"),
        ("compute_capability", "8.7"),
        ("tensorrt_version", "10.0.1"),
        ("onnx_sha256", "b" * 64),
        ("precision", "fp32"),
        ("max_batch", 1024),
    ],
)
def test_a_foreign_or_stale_engine_is_never_a_hit(field: str, value: object, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"  # an explicit path (engine_file_path), where keys can differ
    store_at(engine, KEY, ENGINE, 1.0)
    wanted = _with(**{field: value})
    lookup = lookup_at(engine, wanted)
    assert not lookup.hit
    assert field in lookup.reason and "built for something else" in lookup.reason
    assert engine.is_file()  # left for the rebuild to replace, not deleted: it is valid for its own key


def test_a_truncated_engine_is_deleted_and_missed(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store(KEY, ENGINE, 1.0)
    path.write_bytes(ENGINE[: len(ENGINE) // 3])
    lookup = cache.lookup(KEY)
    assert not lookup.hit and "truncated or corrupt" in lookup.reason
    assert not path.exists() and not sidecar_path(path).exists()


def test_a_corrupt_engine_of_the_right_size_is_deleted(tmp_path: Path) -> None:
    path = store_at(tmp_path / "m.engine", KEY, ENGINE, 1.0)
    path.write_bytes(bytes(len(ENGINE)))  # same size, other bytes
    assert "truncated or corrupt" in lookup_at(path, KEY).reason
    assert not path.exists()


@pytest.mark.parametrize("sidecar", ["{not json", '{"format": 1}', '{"format": 1, "key": {"gpu_name": 3}}', "[]"])
def test_an_unreadable_sidecar_is_a_miss_and_the_entry_goes(sidecar: str, tmp_path: Path) -> None:
    path = store_at(tmp_path / "m.engine", KEY, ENGINE, 1.0)
    sidecar_path(path).write_text(sidecar)
    lookup = lookup_at(path, KEY)
    assert not lookup.hit and "unreadable" in lookup.reason
    assert not path.exists()


def test_an_engine_without_a_sidecar_is_not_loaded(tmp_path: Path) -> None:
    engine = tmp_path / "downloaded.engine"
    engine.write_bytes(ENGINE)
    lookup = lookup_at(engine, KEY)
    assert not lookup.hit and "saying what it was built for" in lookup.reason


def test_a_sidecar_of_another_format_is_stale(tmp_path: Path) -> None:
    path = store_at(tmp_path / "m.engine", KEY, ENGINE, 1.0)
    metadata = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**metadata, "format": 99}))
    assert "another format" in lookup_at(path, KEY).reason


def test_timing_cache_is_per_gpu_and_version_not_per_model(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    base = cache.timing_cache_path("10.3.0", "H100", "9.0")
    assert base == cache.timing_cache_path("10.3.0", "H100", "9.0")
    assert base != cache.timing_cache_path("10.4.0", "H100", "9.0")
    assert base != cache.timing_cache_path("10.3.0", "Orin", "8.7")
    assert base.parent == tmp_path


@pytest.mark.parametrize(
    "data",
    [[], {**KEY.to_dict(), "extra": 1}, {**KEY.to_dict(), "max_batch": "512"}, {**KEY.to_dict(), "min_batch": True}],
)
def test_key_from_dict_refuses_anything_but_a_key(data: object) -> None:
    with pytest.raises(ValueError, match="engine key"):
        EngineKey.from_dict(data)


def test_the_sidecar_records_key_hash_size_and_date(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(ENGINE)
    assert file_sha256(path, chunk_bytes=7) == file_sha256(path)
    sidecar = json.loads(sidecar_path(store_at(tmp_path / "e.engine", KEY, ENGINE, 0.0)).read_text())
    assert sidecar["sha256"] == file_sha256(path, chunk_bytes=7) and sidecar["size"] == len(ENGINE)
    assert EngineKey.from_dict(sidecar["key"]) == KEY and sidecar["created"]


def test_a_sidecar_for_another_key_names_the_field_and_both_values(tmp_path: Path) -> None:
    engine = store_at(tmp_path / "twohand.engine", KEY, ENGINE, 1.0)
    reason = lookup_at(engine, _with(gpu_name="Orin", precision="fp32")).reason
    assert "gpu_name: 'NVIDIA H100 80GB HBM3' -> 'Orin'" in reason and "precision: 'fp16' -> 'fp32'" in reason
    assert "max_batch" not in reason  # only what differs


def test_a_rebuild_replaces_a_stale_entry_in_place(tmp_path: Path) -> None:
    engine = store_at(tmp_path / "twohand.engine", KEY, ENGINE, 1.0)
    newer = _with(tensorrt_version="10.4.0")
    store_at(engine, newer, b"rebuilt engine", 2.0)
    assert lookup_at(engine, newer).hit and not lookup_at(engine, KEY).hit
    assert engine.read_bytes() == b"rebuilt engine"


def test_a_failed_store_leaves_no_temporary_file_and_no_valid_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, ENGINE, 1.0)

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine_cache.os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        cache.store(KEY, b"a new engine", 1.0)
    monkeypatch.setattr(engine_cache.os, "replace", os.replace)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert not cache.lookup(KEY).hit  # the old sidecar went first: no entry claims the old bytes are current


def test_an_unreadable_sidecar_is_a_miss_but_not_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = store_at(tmp_path / "m.engine", KEY, ENGINE, 1.0)

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", denied)
    lookup = lookup_at(engine, KEY)
    assert not lookup.hit and "cannot be read (Permission denied)" in lookup.reason
    assert engine.is_file()  # not ours to delete; the rebuild says where it cannot write


def test_stored_files_get_the_umask_permissions_not_private_ones(tmp_path: Path) -> None:
    umask = os.umask(0o022)  # read it by setting it; restored below
    os.umask(umask)
    path = EngineCache(tmp_path).store(KEY, ENGINE, 1.0)
    for stored in (path, sidecar_path(path)):
        assert stored.stat().st_mode & 0o777 == 0o666 & ~umask  # others on the robot may load a shared engine
