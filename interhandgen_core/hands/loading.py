"""Choosing the pair of hand models the rest of the project runs on.

Two kinds exist:
    "procedural"  the license-free hand shipped with the package
                  (``interhandgen_core/assets/procedural_hand.npz``); the left hand is its
                  mirror image (:meth:`HandAsset.mirrored`).
    "mano"        the official MANO files, which users download themselves under MANO's
                  license (``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` in one folder); the
                  left model's known shapedirs sign bug is corrected.

Both give HandAssets in metres, MANO's axes (see :mod:`interhandgen_core.hands.asset`).
"""

from __future__ import annotations

from pathlib import Path

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.asset import HandAsset
from interhandgen_core.hands.mano_pickle import (
    MANO_FILE_NAMES,
    MANO_URL,
    fix_left_shapedirs,
    load_mano_pickle,
    write_mano_pickle,
)

HAND_KINDS: tuple[str, ...] = ("procedural", "mano")


def load_hand_pair(kind: str = "procedural", mano_dir: str | Path | None = None) -> tuple[HandAsset, HandAsset]:
    """The (right, left) hand assets of the given kind.

    kind: one of HAND_KINDS. mano_dir: for kind "mano", the folder holding
    ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` (ignored for "procedural").

    Raises AssetError for an unknown kind, a missing ``mano_dir`` or missing/malformed files.
    """
    if kind == "procedural":
        # Imported here so that the MANO path works even while the procedural asset is absent.
        from interhandgen_core.hands.procedural import load_procedural_hand

        right = load_procedural_hand()
        if right.side != "right":
            raise AssetError(f"procedural hand asset '{right.name}' is a {right.side} hand, expected the right one")
        return right, right.mirrored()
    if kind == "mano":
        if mano_dir is None:
            raise AssetError(
                f"hand model 'mano' needs the folder holding {MANO_FILE_NAMES['right']} and "
                f"{MANO_FILE_NAMES['left']}: download MANO from {MANO_URL} and pass --mano-dir"
            )
        folder = Path(mano_dir)
        if not folder.is_dir():
            raise AssetError(
                f"{folder}: MANO folder not found; download MANO from {MANO_URL} and pass the folder "
                f"holding {MANO_FILE_NAMES['right']} and {MANO_FILE_NAMES['left']} as --mano-dir"
            )
        right = load_mano_pickle(folder / MANO_FILE_NAMES["right"], side="right")
        left = load_mano_pickle(folder / MANO_FILE_NAMES["left"], side="left")
        return right, fix_left_shapedirs(left, right)
    raise AssetError(f"unknown hand model kind {kind!r}; choose one of {', '.join(HAND_KINDS)}")


__all__ = ["HAND_KINDS", "load_hand_pair", "write_mano_pickle"]
