"""What the command-line tests check again and again: the files a run left, one-line errors, the procedural hand.

Contract (interhandgen_core/cli/__init__.py docstring, README): bad arguments print the usage
and exit 2 (SystemExit); errors a user can fix print exactly one line
``interhandgen: error: ...`` and return 1; each command writes only under the path it is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import interhandgen_core

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
needs_procedural = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def assert_one_line_error(stderr: str, *names: str) -> str:
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    line = lines[0]
    assert line.startswith("interhandgen: error: "), line
    for name in names:
        assert name in line, f"{name!r} not named in {line!r}"
    return line
