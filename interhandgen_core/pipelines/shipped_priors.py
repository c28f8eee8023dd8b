"""The priors shipped in the package's assets, and the path types that tell the two apart.

``default_checkpoint()`` is a ``TwoHandCheckpoint`` and ``default_object_checkpoint()`` an
``ObjectCheckpoint``: both are plain ``pathlib.Path`` objects at run time, but a type checker
sees which pipeline ``InterHandGen.from_pretrained`` (pipelines/interhandgen.py) returns for them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NewType

DEFAULT_CHECKPOINT_NAME = "twohand_small.safetensors"
DEFAULT_OBJECT_CHECKPOINT_NAME = "twohand_object_small.safetensors"

TwoHandCheckpoint = NewType("TwoHandCheckpoint", Path)
ObjectCheckpoint = NewType("ObjectCheckpoint", Path)


def _asset(name: str) -> Path:
    return Path(str(resources.files("interhandgen_core") / "assets" / name))


def default_checkpoint() -> TwoHandCheckpoint:
    """Path of the shipped two-hand prior (small preset, procedural hand)."""
    return TwoHandCheckpoint(_asset(DEFAULT_CHECKPOINT_NAME))


def default_object_checkpoint() -> ObjectCheckpoint:
    """Path of the shipped object-conditioned two-hand prior (small preset, procedural hand)."""
    return ObjectCheckpoint(_asset(DEFAULT_OBJECT_CHECKPOINT_NAME))
