"""Checks of the paths a command will write, made before any work so that a mistake costs nothing."""

from __future__ import annotations

from pathlib import Path

from interhandgen_core.errors import InterHandGenError


def check_output_folder(folder: Path, option: str) -> None:
    """Fail before any work when ``folder`` cannot be made a directory because a file is in the way."""
    for part in (folder, *folder.parents):  # the nearest existing ancestor decides
        if part.exists():
            if not part.is_dir():
                raise InterHandGenError(f"{option}: {part} is a file, not a folder")
            return


def checked_output_file(path: str, suffix: str, option: str) -> Path:
    """``path`` as a Path, refused unless it ends in ``suffix`` and its folder can be made."""
    out = Path(path)
    if out.suffix != suffix:
        raise InterHandGenError(f"{option} must name a {suffix} file, got {out}")
    check_output_folder(out.parent, option)
    return out
