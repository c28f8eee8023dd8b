"""Command line: regenerate the procedural hand asset (hands/procedural/__init__.py) as an ``.npz``.

    python -m interhandgen_core.hands.procedural --out interhandgen_core/assets/procedural_hand.npz

Deterministic; needs the ``assets`` extra (scikit-image, fast-simplification), about 10 s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interhandgen_core.hands.procedural import build_procedural_hand, shipped_asset_path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: regenerate the procedural hand asset."""
    parser = argparse.ArgumentParser(
        prog="python -m interhandgen_core.hands.procedural",
        description="Generate the procedural hand (MANO file format) as an .npz.",
    )
    parser.add_argument("--out", type=Path, default=shipped_asset_path(), help="output .npz path")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    asset = build_procedural_hand()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asset.save_npz(args.out)
    v = asset.v_template
    extent = v.max(axis=0) - v.min(axis=0)
    joints = asset.J_regressor @ v
    print(
        f"wrote {args.out}: {asset.num_vertices} vertices, {asset.faces.shape[0]} faces, "
        f"extent {extent[0] * 100:.1f} x {extent[1] * 100:.1f} x {extent[2] * 100:.1f} cm (x, y, z), "
        f"wrist to middle fingertip {np.linalg.norm(v[asset.tip_vertex_ids[2]] - joints[0]) * 100:.1f} cm, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0
