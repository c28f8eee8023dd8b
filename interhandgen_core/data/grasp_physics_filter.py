"""Keep only synthetic grasps that hold: the physics validation (physics/) applied to candidates of many objects.

A batch of B candidates spans several procedural objects; physics/grasp_validation.py validates
the grasps of one object at a time (one rigid body, built once). ``PhysicsFilter`` builds each
object's body the first time a candidate of it comes (from the object's exact primitive meshes,
as the held-out evaluation does) and keeps it, then validates each object's candidates together.
Object frame, metres; the default GraspPhysicsConfig (all six push directions must be held).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor

from interhandgen_core.data.procedural_objects import ProceduralObjects
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.physics.grasp_validation import PosedHands, validate_grasps
from interhandgen_core.physics.hand_bodies import HandParts
from interhandgen_core.physics.object_body import ObjectBody, object_body_from_mesh


class PhysicsFilter:
    """Validates grasps of ``objects`` by the two hand layers; object bodies are built once and cached.

    seconds: wall time spent in ``held`` so far (bodies and simulation).
    """

    def __init__(
        self,
        objects: ProceduralObjects,
        left_layer: HandLayer,
        right_layer: HandLayer,
        config: GraspPhysicsConfig | None = None,
    ) -> None:
        self.objects = objects
        self.config = config or GraspPhysicsConfig()
        self.left_parts = HandParts.from_layer(left_layer)
        self.right_parts = HandParts.from_layer(right_layer)
        self._bodies: dict[int, ObjectBody] = {}
        self.seconds = 0.0

    def body(self, i: int) -> ObjectBody:
        """Object i's rigid body (built on first use)."""
        if i not in self._bodies:
            self._bodies[i] = object_body_from_mesh(*self.objects.mesh(i), self.config)
        return self._bodies[i]

    def held(self, object_index: Tensor, left_vertices: Tensor, right_vertices: Tensor) -> Tensor:
        """object_index (B,) long, left_vertices (B, V_l, 3), right_vertices (B, V_r, 3) metres -> (B,) bool:
        the grasp held its object in all six directions. One validation call per object in the batch."""
        start = time.perf_counter()
        success = np.zeros(object_index.shape[0], dtype=bool)
        for i in object_index.unique().tolist():  # objects: each is its own rigid body
            rows = (object_index == i).nonzero()[:, 0]
            result = validate_grasps(
                self.body(int(i)),
                [
                    PosedHands(left_vertices[rows].detach(), self.left_parts),
                    PosedHands(right_vertices[rows].detach(), self.right_parts),
                ],
                self.config,
            )
            success[rows.numpy()] = result.success
        self.seconds += time.perf_counter() - start
        return torch.as_tensor(success)
