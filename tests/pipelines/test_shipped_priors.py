"""The priors shipped in the package's assets."""

from __future__ import annotations

from pathlib import Path

import pytest

import interhandgen_core
from interhandgen_core.pipelines.shipped_priors import default_checkpoint, default_object_checkpoint, shipped_file


def test_default_checkpoints_point_into_the_package_assets() -> None:
    package = Path(interhandgen_core.__file__).resolve().parent
    for path in (default_checkpoint(), default_object_checkpoint()):
        assert isinstance(path, Path)
        assert path.resolve().parent == package / "assets"
        assert path.suffix == ".safetensors"
    assert default_checkpoint() != default_object_checkpoint()


def test_shipped_files_named_as_in_the_repository_are_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = Path(interhandgen_core.__file__).resolve().parent
    monkeypatch.chdir(tmp_path)  # not the repository root
    found = shipped_file(Path("interhandgen_core/assets/twohand_small.safetensors"))
    assert found.is_absolute() and found.is_file() and found.resolve() == default_checkpoint().resolve()
    assert found.resolve().parent == package / "assets"
    for other in (Path("runs/data/twohand_test.npz"), Path("/abs/interhandgen_core/assets/x"), Path("assets/x")):
        assert shipped_file(other) == other  # the user's files stay where the working directory says
