"""The priors shipped in the package's assets."""

from __future__ import annotations

from pathlib import Path

import interhandgen_core
from interhandgen_core.pipelines.shipped_priors import default_checkpoint, default_object_checkpoint


def test_default_checkpoints_point_into_the_package_assets() -> None:
    package = Path(interhandgen_core.__file__).resolve().parent
    for path in (default_checkpoint(), default_object_checkpoint()):
        assert isinstance(path, Path)
        assert path.resolve().parent == package / "assets"
        assert path.suffix == ".safetensors"
    assert default_checkpoint() != default_object_checkpoint()
