"""The asset command (hands/procedural/command.py) regenerates the shipped procedural hand.

Runs the generator (about 10 s, needs the ``assets`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from interhandgen_core.hands.asset import load_asset_npz
from interhandgen_core.hands.procedural import load_procedural_hand


@pytest.mark.slow
def test_generator_reproduces_shipped_file(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    pytest.importorskip("fast_simplification")
    pytest.importorskip("scipy")
    from interhandgen_core.hands.procedural.command import main

    out = tmp_path / "hand.npz"
    assert main(["--out", os.fspath(out)]) == 0
    fresh, shipped = load_asset_npz(out), load_procedural_hand()
    assert np.array_equal(fresh.faces, shipped.faces)
    for field in ("v_template", "shapedirs", "J_regressor", "weights"):
        assert np.allclose(getattr(fresh, field), getattr(shipped, field), atol=1e-7), field
    assert np.array_equal(fresh.tip_vertex_ids, shipped.tip_vertex_ids)
