"""A posed hand as 20 capsules, one per bone: the cheap proxy of its volume that guidance reads.

Shapes: keypoints (B, 21, 3) (hands/keypoints.py order) and vertices (B, V, 3) of the same posed
hands, metres, any common frame. Bone k (k = 1..20) runs from keypoint KEYPOINT_PARENTS[k] to
keypoint k: five from the wrist through the palm to each finger's base, three along each finger.
Each vertex of the hand model belongs to its nearest bone in a rest pose (``bone_labels``, once
per hand model); a bone's radius is a quantile (RADIUS_QUANTILE, 0.75) of its vertices' distances to
its axis in the posed hand, so that the capsules hold three quarters of the skin. Against the mesh's
exact inside test (tests/hands/test_capsule_proxy.py) they find 96% of another hand's vertices that are
inside it, and 71% of what they find is inside, within millimetres of the skin otherwise; at the median
radius 85% and 86%, and guidance left more penetration (development seed 5).
A fingertip's keypoint lies on the skin: its bone's axis ends a radius short of it, so that the
capsule's cap ends at the tip instead of a radius beyond it.

Read by contact/penetration.capsule_penetration_loss (anti-penetration guidance, prior/sampler.py);
tests/hands/test_capsule_proxy.py measures how well it agrees with the mesh's exact inside test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.geometry.capsules import (
    points_to_capsules_depth,
    points_to_capsules_signed_distance,
    points_to_segment_distance,
)
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.keypoints import KEYPOINT_PARENTS, NUM_BETAS, NUM_BONES, NUM_KEYPOINTS, bone_segments
from interhandgen_core.hands.layer import HandLayer

# A bone's radius: this quantile of its vertices' distances to its axis (module docstring).
RADIUS_QUANTILE = 0.75
# Keypoints that lie on the skin (the five fingertips): their bones end a radius short of them.
_TIP_KEYPOINTS = tuple(k for k in range(1, NUM_KEYPOINTS) if k not in KEYPOINT_PARENTS)


def bone_labels(vertices: Tensor, keypoints: Tensor) -> Tensor:
    """vertices (V, 3), keypoints (21, 3) of one pose, metres -> (V,) long: each vertex's nearest bone, in [0, 20)."""
    start, end = bone_segments(keypoints)  # (20, 3) each
    return points_to_segment_distance(vertices[:, None], start[None], end[None]).argmin(dim=-1)


@dataclass(frozen=True)
class HandCapsules:
    """start, end (B, 20, 3) metres: each bone's capsule axis; radius (B, 20) metres."""

    start: Tensor
    end: Tensor
    radius: Tensor

    def signed_distance(self, points: Tensor) -> Tensor:
        """points (B, N, 3) metres, the capsules' frame -> (B, N) metres to the union of each sample's capsules,
        negative inside (geometry/capsules.py); differentiable in the points and the axes."""
        return points_to_capsules_signed_distance(points, self.start, self.end, self.radius)

    def depth(self, points: Tensor, packed: bool = True) -> Tensor:
        """points (B, N, 3) metres, the capsules' frame -> (B, N) metres: depth inside the union of each sample's
        capsules, 0 outside (geometry/capsules.points_to_capsules_depth, whose ``packed`` reads back to the host);
        differentiable in the points and the axes."""
        return points_to_capsules_depth(points, self.start, self.end, self.radius, packed)


class CapsuleProxy:
    """Makes HandCapsules of posed hands of one hand model, from the bone label of each of its vertices."""

    def __init__(self, labels: Tensor, radius_quantile: float = RADIUS_QUANTILE) -> None:
        """labels (V,) long in [0, 20): each vertex's bone (``bone_labels`` of a rest pose); ``radius_quantile`` in
        (0, 1]: a bone's radius is this quantile of its vertices' distances to its axis. The proxy's index tensors
        live on the labels' device: making capsules then reads nothing back to the host (a CUDA graph may capture
        it, runtime/cuda_graph.py)."""
        if not 0.0 < radius_quantile <= 1.0:
            raise ValueError(f"radius_quantile must lie in (0, 1], got {radius_quantile!r}")
        if labels.ndim != 1 or labels.numel() == 0 or int(labels.min()) < 0 or int(labels.max()) >= NUM_BONES:
            raise ValueError(
                f"bone labels must be a non-empty (V,) tensor in [0, {NUM_BONES}), got {tuple(labels.shape)}"
            )
        counts = torch.bincount(labels, minlength=NUM_BONES)
        if int(counts.min()) == 0:
            raise ValueError(
                f"every bone needs a vertex; bones without one: {(counts == 0).nonzero().flatten().tolist()}"
            )
        self.labels = labels
        self.radius_quantile = radius_quantile
        device = labels.device
        # (20, M) the vertices of each bone, padded by repeating its last one; _padding masks the repeats out.
        order = torch.argsort(labels, stable=True)
        offsets = torch.cumsum(counts, 0) - counts
        column = torch.arange(int(counts.max()), device=device)
        self._members = order[(offsets[:, None] + column.clamp_max(counts[:, None] - 1))]
        self._padding = column[None] >= counts[:, None]  # (20, M) True where padded
        self._tips = torch.tensor(_TIP_KEYPOINTS, device=device) - 1  # bones that end at a fingertip
        self._parents = torch.tensor(KEYPOINT_PARENTS[1:], device=device)

    @classmethod
    def of_layer(cls, layer: HandLayer) -> CapsuleProxy:
        """The proxy of ``layer``'s hand model: its vertices' bones in the flat rest pose of the mean shape."""
        dtype, device = layer.v_template.dtype, layer.v_template.device
        rest = HandParams(
            pose=torch.zeros(1, 45, dtype=dtype, device=device),
            betas=torch.zeros(1, NUM_BETAS, dtype=dtype, device=device),
            rotation=torch.eye(3, dtype=dtype, device=device)[None],
            translation=torch.zeros(1, 3, dtype=dtype, device=device),
        )
        with torch.no_grad():
            out = layer(rest)
        return cls(bone_labels(out.vertices[0], out.keypoints[0]))

    def __call__(self, keypoints: Tensor, vertices: Tensor) -> HandCapsules:
        """keypoints (B, 21, 3), vertices (B, V, 3) metres -> HandCapsules (B, 20). The axes are differentiable in
        the keypoints; the radii carry no gradient (they follow the mesh, not the optimisation)."""
        start, end = bone_segments(keypoints, self._parents)
        with torch.no_grad():
            own = vertices.detach()[:, self._members]  # (B, 20, M, 3)
            distance = points_to_segment_distance(own, start.detach()[:, :, None], end.detach()[:, :, None])
            distance = distance.masked_fill(self._padding, torch.nan)
            radius = distance.nanquantile(self.radius_quantile, dim=-1)  # (B, 20)
        tips = self._tips
        axis = end[:, tips] - start[:, tips]
        shortened = (
            end[:, tips] - axis * (radius[:, tips] / axis.norm(dim=-1).clamp_min(1e-9)).clamp(max=0.5)[..., None]
        )
        end = end.index_copy(1, tips, shortened)
        return HandCapsules(start, end, radius)
