"""The priors shipped in the package's assets, the path types that tell the two apart, and shipped files named
by their place in the repository.

``default_checkpoint()`` is a ``TwoHandCheckpoint`` and ``default_object_checkpoint()`` an
``ObjectCheckpoint``: both are plain ``pathlib.Path`` objects at run time, but a type checker
sees which pipeline ``InterHandGen.from_pretrained`` (pipelines/interhandgen.py) returns for them.

Recipes and protocols (training/configs/*.yaml) name shipped files as the repository holds them,
``interhandgen_core/assets/NAME``: relative to the repository root, so that they would be found
only from there. ``shipped_file`` maps such a path to the installed package's file, found from
any working directory (and from an installed, non-editable package).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NewType

DEFAULT_CHECKPOINT_NAME = "twohand_small.safetensors"
DEFAULT_OBJECT_CHECKPOINT_NAME = "twohand_object_small.safetensors"

TwoHandCheckpoint = NewType("TwoHandCheckpoint", Path)
ObjectCheckpoint = NewType("ObjectCheckpoint", Path)


# How the repository's configuration files name the package's assets folder.
ASSETS_IN_REPOSITORY = Path("interhandgen_core") / "assets"


def _asset(name: str) -> Path:
    return Path(str(resources.files("interhandgen_core") / "assets" / name))


def shipped_file(path: Path) -> Path:
    """A relative path under interhandgen_core/assets/ -> that file of the installed package; any other path as it is."""
    if path.is_absolute() or path.parts[: len(ASSETS_IN_REPOSITORY.parts)] != ASSETS_IN_REPOSITORY.parts:
        return path
    return _asset(str(Path(*path.parts[len(ASSETS_IN_REPOSITORY.parts) :])))


def default_checkpoint() -> TwoHandCheckpoint:
    """Path of the shipped two-hand prior (small preset, procedural hand)."""
    return TwoHandCheckpoint(_asset(DEFAULT_CHECKPOINT_NAME))


def default_object_checkpoint() -> ObjectCheckpoint:
    """Path of the shipped object-conditioned two-hand prior (small preset, procedural hand)."""
    return ObjectCheckpoint(_asset(DEFAULT_OBJECT_CHECKPOINT_NAME))
