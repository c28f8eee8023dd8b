"""A posed hand as a kinematic body of convex parts, one per bone segment.

HandParts says which part each vertex of a hand belongs to, once per hand model:
    from_weights    labels (V,) = the dominant joint of each vertex's skinning weights (V, J):
                    16 parts for a MANO-format hand (palm, three segments per finger)
    from_layer      the same, from a HandLayer's skinning weights
    from_keypoints  the nearest of the 20 bone segments between the 21 keypoints (hands/keypoints.py
                    order) of one reference pose: for a hand known by keypoints only

A posed hand (V, 3) splits into those parts; each part becomes one convex MuJoCo mesh geom (MuJoCo
collides a mesh as its convex hull) of the hand's mocap body, in the object frame, metres.
Neighbouring parts share the skin between them, so the hulls meet at the joints without gaps
that an object could slip through.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np
import torch
from numpy.typing import NDArray

from interhandgen_core.errors import DataError
from interhandgen_core.hands.capsule_proxy import bone_labels
from interhandgen_core.hands.keypoints import NUM_KEYPOINTS
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.physics.array_input import float_array

# Fewest vertices of a part that spans a volume (a tetrahedron).
_MIN_PART_VERTICES = 4


@dataclass(frozen=True)
class HandParts:
    """labels (V,) int64: the part of each vertex of one hand model, in [0, num_parts)."""

    labels: NDArray[np.int64]
    num_parts: int

    def __post_init__(self) -> None:
        if self.labels.ndim != 1 or self.labels.size == 0:
            raise DataError(f"hand part labels must be a non-empty (V,) array, got shape {self.labels.shape}")
        if self.labels.min() < 0 or self.labels.max() >= self.num_parts:
            raise DataError(
                f"hand part labels must lie in [0, {self.num_parts}), got {self.labels.min()} .. {self.labels.max()}"
            )

    @property
    def num_vertices(self) -> int:
        return int(self.labels.shape[0])

    @staticmethod
    def from_weights(weights: Any) -> HandParts:
        """weights (V, J) skinning weights (numpy or torch) -> one part per joint that dominates some vertex."""
        w = float_array(weights, "skinning weights", (), 2)
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise DataError(f"skinning weights must be (V, J), got shape {w.shape}")
        return HandParts._compact(np.argmax(w, axis=1))

    @staticmethod
    def from_layer(layer: HandLayer) -> HandParts:
        """The parts of a HandLayer's hand model (its skinning weights)."""
        return HandParts.from_weights(layer.lbs_weights)

    @staticmethod
    def from_keypoints(vertices: Any, keypoints: Any) -> HandParts:
        """vertices (V, 3), keypoints (21, 3) of one pose, metres, same frame -> the nearest of the 20 bones per vertex
        (hands/capsule_proxy.bone_labels)."""
        v = float_array(vertices, "hand vertices", (3,), 2)
        k = float_array(keypoints, "hand keypoints", (NUM_KEYPOINTS, 3), 2)
        return HandParts._compact(bone_labels(torch.from_numpy(v), torch.from_numpy(k)).numpy())

    @staticmethod
    def _compact(labels: NDArray[np.int64]) -> HandParts:
        """Renumber labels to 0 .. P-1 (joints that dominate no vertex get no part)."""
        _, compact = np.unique(labels, return_inverse=True)
        compact = compact.astype(np.int64).reshape(-1)
        return HandParts(compact, int(compact.max()) + 1)

    def split(self, vertices: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        """vertices (V, 3) of one posed hand -> each part's vertices (K_p, 3); parts of fewer than 4 are left out."""
        if vertices.shape != (self.num_vertices, 3):
            raise DataError(f"hand vertices must be ({self.num_vertices}, 3) for these parts, got {vertices.shape}")
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(self.num_parts + 1))
        parts = [vertices[order[a:b]] for a, b in itertools.pairwise(bounds)]
        return [p for p in parts if p.shape[0] >= _MIN_PART_VERTICES]


def add_hand_body(
    spec: mujoco.MjSpec,
    name: str,
    part_vertices: list[NDArray[np.float64]],
    friction: tuple[float, float, float],
    solref: tuple[float, float],
    solimp: tuple[float, float, float, float, float],
) -> None:
    """Add one hand to ``spec``: a mocap body at the world origin with one convex mesh geom per part.

    part_vertices: (K_p, 3) per part, world (= object) frame, metres. The geoms collide with the
    object only (contype 2, conaffinity 1; the object's geoms are contype 1, conaffinity 2); their
    contact parameters win over the object's (priority 1).
    """
    body = spec.worldbody.add_body(name=name, mocap=True)
    for p, vertices in enumerate(part_vertices):
        mesh_name = f"{name}_part{p}"
        mesh = spec.add_mesh(name=mesh_name, uservert=np.ascontiguousarray(vertices, dtype=np.float64).ravel().tolist())
        # A thin part has too little volume for MuJoCo's volume inertia; a kinematic body needs none.
        mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
        body.add_geom(
            name=mesh_name,
            type=mujoco.mjtGeom.mjGEOM_MESH,
            meshname=mesh_name,
            contype=2,
            conaffinity=1,
            condim=4,
            friction=list(friction),
            solref=list(solref),
            solimp=list(solimp),
            priority=1,
            density=0.0,
        )
