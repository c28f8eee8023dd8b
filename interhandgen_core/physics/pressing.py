"""Pressing the hands of a grasp onto its object: one rigid translation per hand.

Each hand of each grasp moves ``press_depth`` along its press direction:
    contact region   the hand's vertices whose signed distance to the object is within
                     ``contact_band`` of the hand's closest approach (or of the surface, for a hand
                     that already penetrates)
    direction        minus the mean outward normal of the object's nearest faces at those vertices:
                     into the object, perpendicular to the face a palm or fingertips rest on. When
                     the normals cancel (a hand wrapped around a thin handle: |mean| < 0.3), the
                     direction from the region's centroid to the object's centre instead.
The initial penetration (before the press) is the deepest hand vertex inside the object.

Shapes: H hands, N grasps, V vertices per hand; object frame, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.physics.object_body import ObjectBody

# Below this length the mean outward normal of a contact region is taken as cancelled out.
_MIN_NORMAL_AGREEMENT = 0.3


@dataclass(frozen=True)
class Press:
    """direction (N, H, 3) unit (zero for a hand with no direction); penetration (N,) m, >= 0; gap (N, H) m, >= 0."""

    direction: NDArray[np.float64]
    penetration: NDArray[np.float64]
    gap: NDArray[np.float64]


def press_directions(object_body: ObjectBody, hands: list[NDArray[np.float64]], contact_band: float) -> Press:
    """hands: H arrays (N, V_h, 3) of posed vertices -> Press (module docstring)."""
    n = hands[0].shape[0] if hands else 0
    directions = np.zeros((n, len(hands), 3))
    gaps = np.zeros((n, len(hands)))
    penetration = np.zeros(n)
    for h, vertices in enumerate(hands):  # the two hands
        sd, normal = object_body.signed_distance(vertices.reshape(-1, 3))
        sd, normal = sd.reshape(vertices.shape[:2]), normal.reshape(vertices.shape)
        closest = sd.min(axis=1)  # (N,)
        region = sd <= np.maximum(closest, 0.0)[:, None] + contact_band  # (N, V)
        count = region.sum(axis=1, keepdims=True)  # >= 1: the closest vertex is always in
        mean_normal = (normal * region[..., None]).sum(axis=1) / count
        centroid = (vertices * region[..., None]).sum(axis=1) / count
        towards_centre = object_body.centre - centroid
        length = np.linalg.norm(mean_normal, axis=1, keepdims=True)
        centre_length = np.linalg.norm(towards_centre, axis=1, keepdims=True)
        direction = np.where(
            length >= _MIN_NORMAL_AGREEMENT,
            -mean_normal / np.maximum(length, 1e-12),
            towards_centre / np.maximum(centre_length, 1e-12),
        )
        directions[:, h] = np.where((length >= _MIN_NORMAL_AGREEMENT) | (centre_length > 1e-9), direction, 0.0)
        gaps[:, h] = np.maximum(closest, 0.0)
        penetration = np.maximum(penetration, np.maximum(-closest, 0.0))
    return Press(directions, penetration, gaps)
