"""PointNet++ single-scale grouping (Qi et al. 2017) as plain torch: the layers shared by the object
encoder (prior/object_encoder.py) and the evaluation feature backbone (evaluation/feature_backbone.py).

Notation (PointNet++ -> code):
    N, N'      points, centres per level: ``xyz`` (B, N, 3), centres (B, S, 3)
    r, K       ball radius (same unit as xyz) and points grouped per centre
    h          shared MLP of a level: Linear -> LayerNorm -> ReLU per width, on the channel axis
    f          per-point features carried to the next level (B, S, C)

One level: farthest-point-sampled centres -> ball query -> [neighbour xyz relative to its centre
divided by r, neighbour features] -> h -> max over the group. The group-all level takes
[centre xyz / last r, features] -> h -> max over the centres. LayerNorm replaces BatchNorm so
that a cloud's feature never depends on its batch-mates (prior/object_encoder.py says why).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from interhandgen_core.geometry.point_sampling import ball_query, farthest_point_sample, gather_points


def shared_mlp(in_dim: int, widths: Sequence[int]) -> nn.Sequential:
    """Linear -> LayerNorm -> ReLU per width, acting on the last (channel) axis of (..., in_dim)."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.ReLU()]
        in_dim = width
    return nn.Sequential(*layers)


def level_mlps(
    in_features: int, mlps: Sequence[Sequence[int]], global_mlp: Sequence[int]
) -> tuple[nn.ModuleList, nn.Sequential]:
    """The shared MLPs of each set-abstraction level and of the group-all level, for ``in_features`` per-point inputs."""
    levels = []
    features = in_features
    for widths in mlps:
        levels.append(shared_mlp(3 + features, widths))
        features = widths[-1]
    return nn.ModuleList(levels), shared_mlp(3 + features, global_mlp)


def set_abstraction(
    xyz: Tensor,
    features: Tensor | None,
    levels: nn.ModuleList,
    global_mlp: nn.Module,
    centroids: Sequence[int],
    radii: Sequence[float],
    neighbors: Sequence[int],
) -> Tensor:
    """xyz (B, N, 3), features (B, N, C) or None -> global feature (B, global_mlp width).

    Deterministic: farthest point sampling starts at point 0 of each cloud.
    """
    for mlp, num_centres, radius, num_neighbors in zip(levels, centroids, radii, neighbors, strict=True):
        centres = gather_points(xyz, farthest_point_sample(xyz, num_centres))  # (B, S, 3)
        groups = ball_query(xyz, centres, radius, num_neighbors)  # (B, S, K)
        grouped = (gather_points(xyz, groups) - centres[:, :, None]) / radius  # (B, S, K, 3) in the unit ball
        if features is not None:
            grouped = torch.cat([grouped, gather_points(features, groups)], dim=-1)
        # max().values rather than amax(): its backward is a plain scatter, twice as fast on CPU;
        # padding repeats are copies of one point, so which copy gets the gradient does not matter.
        features = mlp(grouped).max(dim=2).values  # (B, S, C)
        xyz = centres
    grouped = xyz / radii[-1]
    if features is not None:
        grouped = torch.cat([grouped, features], dim=-1)
    return global_mlp(grouped).max(dim=1).values
