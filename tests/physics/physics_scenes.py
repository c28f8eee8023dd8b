"""Simple geometry for the physics tests: boxes as objects and plates as stand-in hands (object frame, metres)."""

from __future__ import annotations

import numpy as np
import trimesh
from numpy.typing import NDArray

from interhandgen_core.physics.hand_bodies import HandParts

# A plate is one convex part: its eight corners.
PLATE_PARTS = HandParts(np.zeros(8, dtype=np.int64), 1)
# A "hand" of one vertex has no part with a volume: a hand that is not there.
NO_HAND_PARTS = HandParts(np.zeros(1, dtype=np.int64), 1)
NO_HAND = np.full((1, 3), 5.0)


def box_mesh(extents: tuple[float, float, float] = (0.1, 0.1, 0.1)) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    box = trimesh.creation.box(extents=extents)
    return np.asarray(box.vertices), np.asarray(box.faces)


def plate(centre: tuple[float, float, float], half: tuple[float, float, float]) -> NDArray[np.float64]:
    """(8, 3) corners of an axis-aligned box."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    return corners * np.asarray(half) + np.asarray(centre)


# Against a 10 cm cube centred at the origin, touching it (the press does the rest).
CLAMP_LEFT = plate((-0.06, 0.0, 0.0), (0.01, 0.04, 0.04))
CLAMP_RIGHT = plate((0.06, 0.0, 0.0), (0.01, 0.04, 0.04))
PALM_UNDER = plate((0.0, 0.0, -0.06), (0.04, 0.04, 0.01))
