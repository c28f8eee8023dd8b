"""Pressing the hands of a grasp onto its object: one rigid translation per hand.

Each hand of each grasp moves ``press_depth`` along its press direction (contact/press_balance.py:
the region of the hand within ``contact_band`` of its closest approach, minus the mean outward
normal of the object's nearest faces there, or towards the object's centre where they cancel).
The initial penetration (before the press) is the deepest hand vertex inside the object.

Shapes: H hands, N grasps, V vertices per hand; object frame, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from interhandgen_core.contact.press_balance import hand_press
from interhandgen_core.physics.object_body import ObjectBody


@dataclass(frozen=True)
class Press:
    """direction (N, H, 3) unit (zero for a hand with no direction); penetration (N,) m, >= 0; gap (N, H) m, >= 0."""

    direction: NDArray[np.float64]
    penetration: NDArray[np.float64]
    gap: NDArray[np.float64]


def press_directions(object_body: ObjectBody, hands: list[NDArray[np.float64]], contact_band: float) -> Press:
    """hands: H arrays (N, V_h, 3) of posed vertices -> Press (module docstring; contact/press_balance.hand_press
    with the object body's plane distance and face normals)."""
    n = hands[0].shape[0] if hands else 0
    directions = np.zeros((n, len(hands), 3))
    gaps = np.zeros((n, len(hands)))
    penetration = np.zeros(n)
    centre = torch.as_tensor(object_body.centre, dtype=torch.float64).expand(n, 3)
    for h, vertices in enumerate(hands):  # the two hands
        sd, normal = object_body.signed_distance(vertices.reshape(-1, 3))
        press = hand_press(
            torch.as_tensor(sd.reshape(vertices.shape[:2])),
            torch.as_tensor(normal.reshape(vertices.shape)),
            torch.as_tensor(vertices),
            centre,
            contact_band,
        )
        closest = press.closest.numpy()
        directions[:, h] = press.direction.numpy()
        gaps[:, h] = np.maximum(closest, 0.0)
        penetration = np.maximum(penetration, np.maximum(-closest, 0.0))
    return Press(directions, penetration, gaps)
