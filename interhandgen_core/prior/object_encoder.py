"""The object encoder O -> emb_O of paper section 3.6: PointNet++ single-scale grouping (SSG), supplementary S.4.3.

Notation (paper -> code):
    O              points          (B, P, 3) object point cloud, metres, object frame (origin at
                                   the cloud's centroid), P = ObjectEncoderConfig.num_points
    emb_O          output          (B, out_dim) object feature, the denoiser's object_embedding
    null (no O)    null_embedding  learned (out_dim,) feature standing for "no object"; the
                                   object-condition dropout of S.1 swaps it in (``drop``) so that
                                   one network holds the object-conditional and unconditional priors

Architecture (PointNet++ SSG classifier, Qi et al. 2017, as modified in S.4.3: the classifier's
last layer dropped and the feature widened): set-abstraction levels, each farthest-point-sampled
centres -> ball query -> [neighbour xyz relative to its centre / radius, neighbour features] ->
shared MLP -> max-pool over the group; then a group-all level, [centre xyz / last radius, features]
-> shared MLP -> max-pool over the centres; then fully connected layers with ReLU between them.
Default config (ObjectEncoderConfig()), per cloud:
    input                           512 points x 3
    level 1: 128 centres, r  4 cm, 16 neighbours, MLP 3 -> 32 -> 64            -> 128 x 64
    level 2:  32 centres, r 10 cm, 16 neighbours, MLP 67 -> 64 -> 128          ->  32 x 128
    group-all: MLP 131 -> 128 -> 256, max over the 32 centres                  -> 256
    head: 256 -> 256, ReLU, 256 -> 256                                         -> emb_O 256
Parameter count of the default config: 198,016 (null_embedding included); 1,595,712 with
PointNet++'s SSG widths (MLPs (64, 64, 128), (128, 128, 256), group-all (256, 512, 1024)) and
the paper's (512, 512) head (S.4.3).

Departures from the original PointNet++:
  * LayerNorm over the channels of each point replaces BatchNorm. Batch statistics would make a
    grasp proposal depend on its batch-mates and misbehave with the batch of 1 used at inference.
    LayerNorm rather than GroupNorm: GroupNorm pools statistics over all groups of a cloud, so a
    ball's feature would depend on the other balls and on how many padding repeats each holds,
    and over the group-all level it would normalise away the object's size. Per-point LayerNorm
    keeps each ball's feature a function of the set of points in that ball alone.
  * Relative coordinates are divided by the level's radius (and the group-all coordinates by the
    last radius): objects are 8-40 cm and radii a few cm, so raw offsets in metres are ~0.01 and
    the first layer would start out blind to geometry next to unit-scale features; in units of the
    radius they lie in the unit ball at every level, as in PointNet++ on unit-sphere clouds.
  * Farthest point sampling starts at point 0 of each cloud (as the original CUDA kernel; some
    ports start at a random point), so that the encoder is deterministic. The output therefore
    depends on the point order (the start, and which K points a full ball keeps): the caller's
    resampling decides it, and a random resampling per epoch doubles as augmentation.
  * The head has no normalisation nor dropout (ReLU between linear layers, none after the last).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from interhandgen_core.prior.configuration import ObjectEncoderConfig
from interhandgen_core.prior.pointnet2 import level_mlps, set_abstraction


class ObjectEncoder(nn.Module):
    """PointNet++ SSG encoder of an object point cloud into one feature vector emb_O (S.4.3).

    forward(points (B, num_points, 3) metres, object frame) -> (B, out_dim)
    embed(points | None, batch_size) -> (B, out_dim): the feature, or the null embedding
    drop(embedding (B, out_dim), keep (B,) bool) -> (B, out_dim): null embedding where keep is False

    Deterministic (no dropout, no random sampling) in train and eval mode alike; a sample's
    output does not depend on the other samples of its batch.
    """

    def __init__(self, config: ObjectEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.levels, self.global_mlp = level_mlps(0, config.mlps, config.global_mlp)
        head: list[nn.Module] = []
        in_dim = config.global_mlp[-1]
        for i, width in enumerate(config.head):
            if i > 0:
                head.append(nn.ReLU())
            head.append(nn.Linear(in_dim, width))
            in_dim = width
        self.head = nn.Sequential(*head)
        # Small like the denoiser's null token, so that "no object" starts near the typical feature scale.
        self.null_embedding = nn.Parameter(torch.randn(config.out_dim) * 0.02)

    @property
    def out_dim(self) -> int:
        """Size of emb_O (config.head[-1])."""
        return self.config.out_dim

    def _check_points(self, points: Tensor) -> None:
        expected = self.config.num_points
        if points.ndim != 3 or points.shape[1] != expected or points.shape[2] != 3:
            raise ValueError(
                f"points must be (B, {expected}, 3) (ObjectEncoderConfig.num_points = {expected}), got shape "
                f"{tuple(points.shape)}; resample each cloud to {expected} points first"
            )
        if not points.is_floating_point():
            raise ValueError(f"points must be a floating-point tensor (metres), got {points.dtype}")

    def forward(self, points: Tensor) -> Tensor:
        """points (B, num_points, 3) float, metres, object frame -> emb_O (B, out_dim) in the module's dtype.

        Differentiable in the parameters and in the point coordinates (the sampled centres and
        groups themselves are piecewise constant).
        """
        self._check_points(points)
        config = self.config
        xyz = points.to(self.null_embedding.dtype)
        pooled = set_abstraction(
            xyz, None, self.levels, self.global_mlp, config.centroids, config.radii, config.neighbors
        )
        return self.head(pooled)

    def embed(self, points: Tensor | None, batch_size: int) -> Tensor:
        """points (batch_size, num_points, 3) or None -> (batch_size, out_dim): forward(points), or the null embedding.

        None means "no object" (the unconditional prior); the null embedding is returned as an
        expanded view, so do not write into it.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be an integer >= 0, got {batch_size!r}")
        if points is None:
            return self.null_embedding[None].expand(batch_size, -1)
        if points.ndim < 1 or points.shape[0] != batch_size:
            raise ValueError(f"points must hold batch_size = {batch_size} clouds, got shape {tuple(points.shape)}")
        return self(points)

    def drop(self, embedding: Tensor, keep: Tensor) -> Tensor:
        """embedding (B, out_dim), keep (B,) bool -> (B, out_dim) with the rows where keep is False replaced by null.

        Object-condition dropout (S.1). torch.where: the kept rows pass gradients to the encoder,
        the dropped rows to null_embedding only.
        """
        if embedding.ndim != 2 or embedding.shape[1] != self.out_dim:
            raise ValueError(f"embedding must be (B, {self.out_dim}), got shape {tuple(embedding.shape)}")
        if keep.dtype != torch.bool or keep.shape != embedding.shape[:1]:
            raise ValueError(
                f"keep must be a ({embedding.shape[0]},) bool tensor (one flag per row), got {keep.dtype} "
                f"{tuple(keep.shape)}"
            )
        return torch.where(keep[:, None], embedding, self.null_embedding.to(embedding.dtype))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
