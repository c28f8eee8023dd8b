"""Training pairs of the object-conditioned prior, drawn batch-wise from a grasp set with augmentation.

Notation (paper -> code):
    O              points   (B, P, 3) object cloud, metres, object frame (origin at its centroid)
    x_r            x0       (B, 64) normalised generated hand, right-hand space, object frame
    x_l            cond     (B, 64) normalised Gamma(anchor): the left hand mirrored into right-hand
                            space, in the mirrored object's frame
    Gamma          the x-flip of the whole scene (hands and object) about the object frame's
                   y-z plane; the swapped view of Algorithm 1 step 4 is (Gamma(left) -> right,
                   Gamma(right) -> left, Gamma(O))

A grasp of N in the set gives two views: rows 0..N-1 are the grasps as stored, rows N..2N-1 the
Gamma-swapped scenes. The network learns p(x | x_l, O) and, with the hand condition dropped,
p(x | O): "a right hand holding O". Sampling a left anchor for O is then sampling a right hand
for Gamma(O) and mirroring it (prior/sampler.py).

Sensor augmentation (``sensor_augmentation`` of the rows): keep the side of the cloud a camera
looking along a random direction sees (normals facing it), add Gaussian noise (std up to 3 mm)
and replace up to 6% of the points by outliers in the enlarged bounding box. Every cloud is
resampled to ``num_points`` and re-centred on the centroid of its non-outlier points, the way
a real cloud is centred after outlier removal; both hands move with the frame.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import DataError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.prior.representation import Normalizer

_MAX_NOISE_M = 0.003
_MAX_OUTLIER_FRACTION = 0.06
_BOX_MARGIN = 0.2


class GraspPairs(Dataset):
    """Both Gamma views of every grasp of a GraspSet; ``batch`` draws augmented training tensors."""

    def __init__(
        self,
        grasps: GraspSet,
        num_points: int,
        sensor_augmentation: float,
        normalizer: Normalizer | None = None,
    ) -> None:
        if len(grasps) == 0:
            raise DataError("the grasp set is empty")
        self.points = grasps.object_points
        self.normals = grasps.object_normals
        self.object_index = torch.cat([grasps.object_index, grasps.object_index])
        self.mirrored = torch.cat(
            [torch.zeros(len(grasps), dtype=torch.bool), torch.ones(len(grasps), dtype=torch.bool)]
        )
        self.left = HandParams.cat([grasps.left, grasps.right.mirrored()])
        self.right = HandParams.cat([grasps.right, grasps.left.mirrored()])
        self.num_points = num_points
        self.sensor_augmentation = sensor_augmentation
        if normalizer is None:
            normalizer = Normalizer.fit(torch.cat([self.right.to_vector(), self.left.mirrored().to_vector()]))
        self.normalizer = normalizer

    def __len__(self) -> int:
        return int(self.object_index.shape[0])

    def batch(self, rows: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """rows (B,) long -> x0 (B, 64), cond (B, 64) normalised, points (B, num_points, 3) object frame."""
        b = rows.shape[0]
        flip = torch.tensor([-1.0, 1.0, 1.0])
        mirrored = self.mirrored[rows][:, None, None]
        points = self.points[self.object_index[rows]]
        normals = self.normals[self.object_index[rows]]
        points = torch.where(mirrored, points * flip, points)
        normals = torch.where(mirrored, normals * flip, normals)

        sensor = torch.rand(b, generator=generator) < self.sensor_augmentation
        view = torch.nn.functional.normalize(torch.randn(b, 3, generator=generator), dim=-1)
        visible = ((normals * view[:, None]).sum(-1) < 0) | ~sensor[:, None]
        weights = visible.float() + 1e-6  # a row with no visible point still draws from its cloud
        index = torch.multinomial(weights, self.num_points, replacement=True, generator=generator)
        cloud = torch.gather(points, 1, index[..., None].expand(b, self.num_points, 3))

        noise_std = sensor.float() * _MAX_NOISE_M * torch.rand(b, generator=generator)
        cloud = cloud + torch.randn(cloud.shape, generator=generator) * noise_std[:, None, None]
        low, high = cloud.min(1).values, cloud.max(1).values
        pad = _BOX_MARGIN * (high - low) / 2
        low, high = low - pad, high + pad
        outlier_fraction = sensor.float() * _MAX_OUTLIER_FRACTION * torch.rand(b, generator=generator)
        outlier = torch.rand(b, self.num_points, generator=generator) < outlier_fraction[:, None]
        uniform = low[:, None] + (high - low)[:, None] * torch.rand(cloud.shape, generator=generator)
        cloud = torch.where(outlier[..., None], uniform, cloud)

        inlier = (~outlier).float()[..., None]
        centre = (cloud * inlier).sum(1) / inlier.sum(1).clamp_min(1.0)
        cloud = cloud - centre[:, None]
        eye = torch.eye(3).expand(b, 3, 3)
        left = self.left.select(rows).transformed(eye, -centre)
        right = self.right.select(rows).transformed(eye, -centre)
        x0 = self.normalizer.normalize(right.to_vector())
        cond = self.normalizer.normalize(left.mirrored().to_vector())
        return x0, cond, cloud
