"""The on-disk cache of TensorRT engines: which engine may be loaded, and when one must be rebuilt.

A serialized TensorRT engine runs only on the GPU model and TensorRT version it was built
with, and only means the network it was built from; loading any other is at best an error
and at worst a crash. So every engine file has a JSON sidecar, ``ENGINE.json``, holding

    key      EngineKey: ONNX file sha256, TensorRT version, GPU name, compute capability,
             precision, optimisation profile (min / opt / max batch)
    sha256   of the engine file's bytes, and its size
    build    seconds the build took, and when it was made

and an engine is loaded only when its sidecar's key equals the key of what is asked for and
its bytes still hash to the recorded sha256. Anything else is a miss with a reason that names
what differs; a truncated or corrupt entry is deleted. Nothing here imports TensorRT: the
rules are plain Python, tested on every machine (runtime/tensorrt_backend.py builds and loads).

Layout of a cache directory:
    <digest>.engine, <digest>.engine.json      one per EngineKey (digest = EngineKey.digest())
    timing-<digest>.cache                      TensorRT's timing cache, one per TensorRT version
                                               and GPU, shared by every model's builds
An explicit engine path (BackendConfig.engine_path) follows the same rules with its own sidecar.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Bumped if the sidecar's meaning changes, so that older sidecars read as stale.
SIDECAR_FORMAT = 1


@dataclass(frozen=True)
class EngineKey:
    """What an engine was built from and for; two engines are interchangeable only if their keys are equal."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "major.minor", e.g. "8.7" for Jetson Orin, "9.0" for H100
    precision: str  # "fp32" or "fp16"
    min_batch: int
    opt_batch: int
    max_batch: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> EngineKey:
        """Inverse of to_dict; ValueError for anything that is not exactly a key's fields with their types."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != set(fields):
            raise ValueError(f"an engine key needs exactly the fields {sorted(fields)}")
        for name, value in data.items():
            expected = int if name.endswith("_batch") else str
            if type(value) is not expected:
                raise ValueError(f"engine key field {name} must be {expected.__name__}, got {value!r}")
        return cls(**data)

    def digest(self) -> str:
        """A short stable hex name for this key (sha256 of its canonical JSON)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:24]

    def differences(self, other: EngineKey) -> list[str]:
        """'field: theirs -> ours' for each field where ``other`` differs from this key."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{name}: {theirs[name]!r} -> {mine[name]!r}" for name in mine if mine[name] != theirs[name]]


@dataclass(frozen=True)
class CacheLookup:
    """The result of looking an engine up: ``path`` when it may be loaded, else None and why not."""

    path: Path | None
    reason: str

    @property
    def hit(self) -> bool:
        return self.path is not None


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(engine_path: Path) -> Path:
    """ENGINE -> ENGINE.json, the file saying what ENGINE was built for."""
    return engine_path.with_name(engine_path.name + ".json")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The temporary file is unique per call (two processes or threads building the same engine
    must not share one), in the same directory (os.replace is atomic only within a file
    system) and synced before the rename (a Jetson losing power mid-write must not leave a
    renamed but empty file; the sha256 check would catch it, at the price of a rebuild).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600), and an engine in a shared folder must get
    # the permissions the user's umask gives any other file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def discard(engine_path: Path) -> None:
    """Delete an engine and its sidecar (a corrupt entry must never be loaded later)."""
    engine_path.unlink(missing_ok=True)
    sidecar_path(engine_path).unlink(missing_ok=True)


def lookup_at(engine_path: Path, key: EngineKey) -> CacheLookup:
    """May the engine at ``engine_path`` be loaded for ``key``? Deletes a truncated or corrupt entry."""
    if not engine_path.is_file():
        return CacheLookup(None, f"no engine at {engine_path}")
    sidecar = sidecar_path(engine_path)
    if not sidecar.is_file():
        return CacheLookup(None, f"{engine_path} has no {sidecar.name} saying what it was built for")
    try:
        text = sidecar.read_text()
    except OSError as error:  # e.g. permissions: not ours to delete, and the rebuild will say where it cannot write
        return CacheLookup(None, f"{sidecar} cannot be read ({error.strerror or error})")
    try:
        metadata = json.loads(text)
        if metadata.get("format") != SIDECAR_FORMAT:
            return CacheLookup(None, f"{sidecar} is of another format ({metadata.get('format')!r})")
        stored = EngineKey.from_dict(metadata["key"])
        recorded_sha, recorded_size = str(metadata["sha256"]), int(metadata["size"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        discard(engine_path)
        return CacheLookup(None, f"{sidecar} is unreadable ({error}); the entry was deleted")
    differences = key.differences(stored)
    if differences:
        return CacheLookup(None, f"{engine_path} was built for something else ({'; '.join(differences)})")
    try:
        intact = engine_path.stat().st_size == recorded_size and file_sha256(engine_path) == recorded_sha
    except OSError as error:
        return CacheLookup(None, f"{engine_path} cannot be read ({error.strerror or error})")
    if not intact:
        discard(engine_path)
        return CacheLookup(None, f"{engine_path} is truncated or corrupt (size or sha256 differs); it was deleted")
    return CacheLookup(engine_path, "hit")


def store_at(engine_path: Path, key: EngineKey, engine: bytes, build_seconds: float) -> Path:
    """Write ``engine`` and its sidecar atomically (the sidecar last, so a crash leaves no valid-looking entry)."""
    sidecar_path(engine_path).unlink(missing_ok=True)
    _write_atomically(engine_path, engine)
    metadata = {
        "format": SIDECAR_FORMAT,
        "key": key.to_dict(),
        "sha256": hashlib.sha256(engine).hexdigest(),
        "size": len(engine),
        "build_seconds": round(build_seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_atomically(sidecar_path(engine_path), json.dumps(metadata, indent=2).encode())
    return engine_path


class EngineCache:
    """Engines in one directory, named by their key's digest."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def engine_path(self, key: EngineKey) -> Path:
        """Where the engine for ``key`` lives (whether or not it exists yet)."""
        return self.directory / f"{key.digest()}.engine"

    def lookup(self, key: EngineKey) -> CacheLookup:
        """A hit when the engine for ``key`` is cached and intact; else why not (a corrupt entry is deleted)."""
        if not self.engine_path(key).exists():
            return CacheLookup(None, "no cached engine for this model, GPU, TensorRT version, precision and profile")
        return lookup_at(self.engine_path(key), key)

    def store(self, key: EngineKey, engine: bytes, build_seconds: float) -> Path:
        """Cache a serialized engine (bytes) for ``key``; returns its path."""
        return store_at(self.engine_path(key), key, engine, build_seconds)

    def timing_cache_path(self, tensorrt_version: str, gpu_name: str, compute_capability: str) -> Path:
        """One timing cache per TensorRT version and GPU: kernel timings carry over between models' builds."""
        name = json.dumps([tensorrt_version, gpu_name, compute_capability])
        return self.directory / f"timing-{hashlib.sha256(name.encode()).hexdigest()[:16]}.cache"


def write_timing_cache(path: Path, data: bytes) -> None:
    """Replace a timing cache atomically (a build reading it meanwhile sees the old or the new one)."""
    _write_atomically(path, data)
