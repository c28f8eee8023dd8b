"""The procedural hand's surface as a signed distance field, centimetres, MANO's right-hand frame.

The surface is the zero level set of a smooth field (negative inside): a tapered rounded
box for the palm, round cones for the finger segments of ``FINGER_DESIGNS``
(hands/procedural/design.py), smooth unions between them. The numbers are centimetres
because the design numbers read better that way; hands/procedural/meshing.py turns the
field into a mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from interhandgen_core.errors import AssetError
from interhandgen_core.hands.procedural.design import FINGER_DESIGNS, FingerDesign, FloatArray


def _smooth_min(a: FloatArray, b: FloatArray, k: float) -> FloatArray:
    """Polynomial smooth minimum; k is the blend width (same units as a and b)."""
    h = np.clip(k - np.abs(a - b), 0.0, None) / k
    return np.minimum(a, b) - h * h * k * 0.25


def _round_cone(p: FloatArray, a: FloatArray, b: FloatArray, ra: float, rb: float) -> FloatArray:
    """Exact distance to the convex hull of two spheres: p (N, 3) -> (N,)."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    u = axis / length
    rel = p - a
    t = rel @ u
    q = np.linalg.norm(rel - t[:, None] * u, axis=1)
    sin_a = (ra - rb) / length
    cos_a = np.sqrt(1.0 - sin_a * sin_a)
    # Position of the closest point on the tangent line, measured along it from A's tangent point.
    s = t * cos_a - q * sin_a
    side = t * sin_a + q * cos_a - ra
    to_a = np.sqrt(t * t + q * q) - ra
    to_b = np.sqrt((t - length) ** 2 + q * q) - rb
    return np.where(s < 0.0, to_a, np.where(s > length * cos_a, to_b, side))


def _palm_sdf(p: FloatArray) -> FloatArray:
    """Tapered rounded box, distal end following the knuckle arc, plus a rounded wrist stub."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    x_end = -8.55 + 0.06 * (z - 0.4) ** 2
    x_start = -0.6
    cx, hx = 0.5 * (x_start + x_end), 0.5 * (x_start - x_end)
    # Narrow at the wrist, widest across the knuckles.
    hz = np.interp(-x, [-1.0, 1.5, 5.0, 9.0], [2.6, 3.0, 3.95, 4.05])
    cz = np.interp(-x, [-1.0, 5.0, 9.0], [0.35, 0.25, 0.15])
    # Thinner towards the edges, so that the back of the hand is slightly convex.
    edge = np.clip((z - cz) / hz, -1.0, 1.0) ** 2
    hy = np.interp(-x, [-1.0, 3.0, 6.0, 9.0], [1.25, 1.4, 1.32, 1.08]) - 0.25 * edge
    cy = np.interp(-x, [-1.0, 4.0, 9.0], [-0.15, -0.2, -0.05])
    rounding = 0.8
    q = np.stack([np.abs(x - cx) - hx, np.abs(y - cy) - hy, np.abs(z - cz) - hz], axis=1) + rounding
    outside = np.linalg.norm(np.clip(q, 0.0, None), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    box = outside + inside - rounding
    # Wrist stub: a flattened ellipsoid closing the hand where the forearm would continue.
    radii = np.array([1.9, 1.4, 2.65])
    scaled = np.linalg.norm((p - np.array([-0.4, -0.15, 0.35])) / radii, axis=1)
    stub = (scaled - 1.0) * radii.min()
    return _smooth_min(box, stub, 1.2)


def _chain_sdf(p: FloatArray, design: FingerDesign) -> FloatArray:
    point = np.asarray(design.base, dtype=np.float64)
    pieces = []
    for k in range(3):
        direction = np.asarray(design.directions[k])
        end = point + direction * design.lengths[k]
        r0, r1 = design.radii[k], design.radii[k + 1]
        if k == 2:
            end = end - direction * r1
        pieces.append(_round_cone(p, point, end, r0, r1))
        point = end
    d = pieces[0]
    for piece in pieces[1:]:
        d = _smooth_min(d, piece, 0.15)
    return d


def hand_sdf_cm(p: FloatArray, designs: Sequence[FingerDesign] = FINGER_DESIGNS) -> FloatArray:
    """Signed distance (approximate, negative inside) of the procedural hand: p (N, 3) cm -> (N,) cm."""
    fingers = None
    thumb = None
    for design in designs:
        d = _chain_sdf(p, design)
        if design.name == "thumb":
            thumb = d
        else:
            # A small blend between neighbouring fingers makes the webs at their bases.
            fingers = d if fingers is None else _smooth_min(fingers, d, 0.35)
    if fingers is None or thumb is None:
        raise AssetError("procedural hand design needs four fingers and a thumb")
    palm = _palm_sdf(p)
    # Thenar eminence: the muscle pad at the base of the thumb, on the palm side.
    thenar = _round_cone(p, np.array([-1.2, -0.75, 1.3]), np.array([-4.6, -1.0, 2.7]), 1.2, 1.0)
    palm = _smooth_min(palm, thenar, 1.0)
    hand = _smooth_min(palm, fingers, 0.8)
    return _smooth_min(hand, thumb, 1.0)


def sdf_gradient(sdf: Callable[[FloatArray], FloatArray], p: FloatArray, h: float = 1e-3) -> FloatArray:
    """Central-difference gradient of a field: p (N, 3) -> (N, 3), field units per unit of p (step h)."""
    grad = np.zeros_like(p)
    for k in range(3):
        offset = np.zeros(3)
        offset[k] = h
        grad[:, k] = (sdf(p + offset) - sdf(p - offset)) / (2.0 * h)
    return grad


def point_segment_distance(p: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """p (N, 3), segment a-b (3,) each -> (N,) distances, in the units of p."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - a - t[:, None] * ab, axis=1))
