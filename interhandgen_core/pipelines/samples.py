"""What the pipelines return: two-hand samples (pipelines/two_hand.py) and grasps of one object (pipelines/grasp.py).

TwoHandSamples   N pairs of hands, left hand's canonical frame, metres
GraspSamples     N pairs of hands grasping one object, the input cloud's frame, metres,
                 with the cloud they grasp and per-grasp figures (rankable), and optionally the
                 outcome of each in physics on the cloud's reconstructed solid
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from interhandgen_core.contact.grasp_measures import GraspFigures
from interhandgen_core.contact.interaction import InteractionStatistics, interaction_statistics, measure_interaction
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.physics.grasp_validation import GraspPhysicsResult
from interhandgen_core.pipelines.sensor_cloud import PreparedCloud


@dataclass
class TwoHandSamples:
    """N two-hand samples in the left hand's canonical frame (metres)."""

    left: HandParams
    right: HandParams
    left_vertices: Tensor  # (N, V, 3)
    right_vertices: Tensor  # (N, V, 3)
    left_keypoints: Tensor  # (N, 21, 3)
    right_keypoints: Tensor  # (N, 21, 3)
    left_faces: Tensor  # (F, 3)
    right_faces: Tensor  # (F, 3)

    def statistics(self) -> InteractionStatistics:
        depth, gap = measure_interaction(self.left_vertices, self.left_faces, self.right_vertices, self.right_faces)
        return interaction_statistics(depth, gap)


@dataclass
class GraspSamples(TwoHandSamples):
    """N bimanual grasps of one object, in the frame of the input cloud (metres).

    ``object_points`` / ``object_normals`` (P, 3) are the preprocessed cloud the hands were
    guided against and measured on, input frame; ``figures`` holds per-grasp estimates
    against that cloud (contact/grasp_measures.py); ``cloud`` says what preprocessing did.
    """

    object_points: Tensor
    object_normals: Tensor
    figures: GraspFigures
    cloud: PreparedCloud
    physics: GraspPhysicsResult | None = None

    @property
    def scores(self) -> Tensor:
        """(N,) in [0, 1], higher is better: the figures' score (contact/grasp_measures.py) or, where the grasps
        were tried in physics on the cloud's reconstruction (``physics``), (directions held + that score) / 7,
        so that a grasp holding more pushes always ranks first."""
        if self.physics is None:
            return self.figures.score
        held = torch.as_tensor(self.physics.held.sum(axis=1), dtype=self.figures.score.dtype)
        return (held.to(self.figures.score.device) + self.figures.score) / (len(self.physics.DIRECTIONS) + 1)

    def ranked(self) -> GraspSamples:
        """The same grasps, best score first."""
        order = torch.argsort(self.scores, descending=True, stable=True)
        per_grasp = {
            f.name: getattr(self, f.name)[order]
            for f in fields(TwoHandSamples)
            if f.name not in ("left", "right", "left_faces", "right_faces")
        }
        return replace(
            self,
            left=self.left.select(order),
            right=self.right.select(order),
            figures=self.figures.select(order),
            physics=None if self.physics is None else self.physics.select(order.cpu().numpy()),
            **per_grasp,
        )
