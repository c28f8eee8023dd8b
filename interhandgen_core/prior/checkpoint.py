"""Trained-prior checkpoints: ``NAME.safetensors`` (tensors) + ``NAME.json`` (configuration) side by side.

The safetensors file holds the denoiser's state dict under ``denoiser.*``, an object-conditioned
prior's PointNet++ encoder under ``object_encoder.*``, and the normaliser's statistics as
``normalizer.mean`` / ``normalizer.std`` (64,). The JSON file holds the format version, the
DenoiserConfig and DiffusionConfig (and ObjectEncoderConfig under "object_encoder" for an
object-conditioned prior), the hand model kind the prior was trained with, the library version and whatever ``extra`` the caller adds (training
writes ``{"training": {...}}``: data file, epochs, steps, seed, final loss).

Nothing here unpickles: tensors go through safetensors, and the resumable training state
(optimiser moments etc.), which uses ``torch.save``, is read back with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from interhandgen_core.errors import CheckpointError, ConfigError
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig, ObjectEncoderConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.representation import Normalizer

FORMAT_NAME = "interhandgen-prior"
FORMAT_VERSION = 1
_DENOISER_PREFIX = "denoiser."
_ENCODER_PREFIX = "object_encoder."
_RESERVED_KEYS = (
    "format",
    "format_version",
    "library_version",
    "hand_model",
    "model",
    "diffusion",
    "object_encoder",
)


def library_version() -> str:
    try:
        return importlib_metadata.version("interhandgen-core")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights .safetensors, metadata .json) for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


@dataclass
class LoadedPrior:
    """A prior ready for sampling: denoiser in eval mode, on the requested device."""

    denoiser: Denoiser
    normalizer: Normalizer
    model_config: DenoiserConfig
    diffusion_config: DiffusionConfig
    metadata: dict[str, Any]
    object_encoder: ObjectEncoder | None = None

    @property
    def object_conditioned(self) -> bool:
        return self.object_encoder is not None


def _write_atomically(path: Path, write: Any) -> None:
    # A crash mid-write must not leave a truncated file under the real name.
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_prior(
    path: str | Path,
    denoiser: Denoiser,
    normalizer: Normalizer,
    model_config: DenoiserConfig,
    diffusion_config: DiffusionConfig,
    extra: dict[str, Any] | None = None,
    hand_model: str = "procedural",
    object_encoder: ObjectEncoder | None = None,
) -> Path:
    """Write NAME.safetensors and NAME.json (``path`` may be NAME or either file). Returns the weights path.

    extra: JSON-serialisable top-level entries for the metadata (e.g. ``{"training": {...}}``).
    object_encoder: the PointNet++ encoder of an object-conditioned prior (its config goes in the JSON).
    """
    if (object_encoder is None) != (model_config.object_embedding_dim == 0):
        raise ValueError("an object encoder goes with a denoiser that has an object token, and only then")
    weights_path, json_path = checkpoint_paths(path)
    extra = dict(extra or {})
    clashes = [key for key in extra if key in _RESERVED_KEYS]
    if clashes:
        raise ValueError(f"extra metadata may not use the reserved key(s) {', '.join(clashes)}")
    tensors = {_DENOISER_PREFIX + k: v.detach().cpu().contiguous() for k, v in denoiser.state_dict().items()}
    if object_encoder is not None:
        tensors.update(
            {_ENCODER_PREFIX + k: v.detach().cpu().contiguous() for k, v in object_encoder.state_dict().items()}
        )
    tensors["normalizer.mean"] = normalizer.mean.detach().cpu().float().contiguous()
    tensors["normalizer.std"] = normalizer.std.detach().cpu().float().contiguous()
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": library_version(),
        "hand_model": hand_model,
        "model": model_config.to_dict(),
        "diffusion": diffusion_config.to_dict(),
        **({} if object_encoder is None else {"object_encoder": object_encoder.config.to_dict()}),
        **extra,
    }
    text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    _write_atomically(weights_path, lambda p: save_file(tensors, str(p), metadata=header))
    _write_atomically(json_path, lambda p: p.write_text(text, encoding="utf-8"))
    return weights_path


def _read_metadata(weights_path: Path, json_path: Path) -> dict[str, Any]:
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: checkpoint not found")
    if not json_path.is_file():
        raise CheckpointError(
            f"{json_path}: missing; a checkpoint is {weights_path.name} plus a JSON file of the same name beside it"
        )
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_path}: unreadable checkpoint metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f'{json_path}: not an InterHandGen prior checkpoint (no "format": "{FORMAT_NAME}")')
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path}: checkpoint format version {version!r}, this library reads version {FORMAT_VERSION} "
            f"(library {library_version()}); use a matching library version or re-export the checkpoint"
        )
    return meta


def load_prior(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedPrior:
    """Read a checkpoint written by save_prior. ``path``: NAME, NAME.safetensors or NAME.json.

    Raises CheckpointError (one line, naming the file) when a file is missing, corrupt,
    truncated, of another format version, or holds tensors of another configuration.
    """
    weights_path, json_path = checkpoint_paths(path)
    meta = _read_metadata(weights_path, json_path)
    try:
        model_config = DenoiserConfig.from_dict(meta.get("model"))
        diffusion_config = DiffusionConfig.from_dict(meta.get("diffusion"))
        encoder_config = (
            None if meta.get("object_encoder") is None else ObjectEncoderConfig.from_dict(meta["object_encoder"])
        )
    except ConfigError as exc:
        raise CheckpointError(f"{json_path}: invalid configuration: {exc}") from None
    if (encoder_config is None) != (model_config.object_embedding_dim == 0) or (
        encoder_config is not None and encoder_config.out_dim != model_config.object_embedding_dim
    ):
        raise CheckpointError(
            f"{json_path}: the denoiser's object_embedding_dim ({model_config.object_embedding_dim}) does not match "
            f"the object encoder ({'none' if encoder_config is None else encoder_config.out_dim})"
        )

    device = torch.device(map_location)
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: truncated or corrupt safetensors file ({exc})") from None

    for key in ("normalizer.mean", "normalizer.std"):
        if key not in tensors:
            raise CheckpointError(f"{weights_path}: tensor '{key}' missing")
        if tuple(tensors[key].shape) != (model_config.hand_dim,):
            raise CheckpointError(
                f"{weights_path}: tensor '{key}' has shape {tuple(tensors[key].shape)}, expected ({model_config.hand_dim},)"
            )
    normalizer = Normalizer(tensors.pop("normalizer.mean"), tensors.pop("normalizer.std")).to(device)

    denoiser = Denoiser(model_config)
    modules: dict[str, torch.nn.Module] = {_DENOISER_PREFIX: denoiser}
    encoder = None if encoder_config is None else ObjectEncoder(encoder_config)
    if encoder is not None:
        modules[_ENCODER_PREFIX] = encoder
    unknown = sorted(k for k in tensors if not any(k.startswith(prefix) for prefix in modules))
    if unknown:
        raise CheckpointError(
            f"{weights_path}: tensors do not match the configuration in {json_path.name} "
            f"(unexpected {unknown[0]}" + (f" and {len(unknown) - 1} more)" if len(unknown) > 1 else ")")
        )
    for prefix, module in modules.items():
        _load_module(prefix, module, tensors, weights_path, json_path)
        module.to(device).eval()
    return LoadedPrior(denoiser, normalizer, model_config, diffusion_config, meta, encoder)


def _load_module(
    prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor], weights_path: Path, json_path: Path
) -> None:
    """Load the tensors under ``prefix`` into ``module``, refusing any missing, extra or misshapen one."""
    expected = module.state_dict()
    stored = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"missing {prefix}{missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected {prefix}{unexpected[0]}"
                + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else "")
            )
        raise CheckpointError(
            f"{weights_path}: tensors do not match the configuration in {json_path.name} ({'; '.join(parts)})"
        )
    for key, value in expected.items():
        if tuple(stored[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{weights_path}: tensor '{prefix}{key}' has shape {tuple(stored[key].shape)} in the file "
                f"but the configuration in {json_path.name} expects {tuple(value.shape)}"
            )
    module.load_state_dict(stored, strict=True)


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a resumable training state (tensors, numbers, strings, nested dicts/lists) with torch.save."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, lambda p: torch.save(state, p))


def load_training_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a state written by save_training_state. Only plain data is admitted (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated zips and refused globals
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: unreadable training state ({first_line})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: training state is a {type(state).__name__}, expected a dict")
    return state
