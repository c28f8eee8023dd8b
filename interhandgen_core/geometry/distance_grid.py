"""A signed distance sampled once on a regular grid, read by trilinear interpolation: the guidance fast path.

Shapes: queries (B, N, 3) metres in the frame of the distance it samples; results (B, N) metres,
negative inside. The grid holds a reference signed distance (any callable (1, M, 3) -> (1, M),
in practice geometry/tree_nearest.TreeSignedDistance of an object cloud) at the nodes of cubic
cells over the cloud's bounding box grown by a margin; a query reads the trilinear interpolation
of its cell's eight nodes (torch's grid_sample, differentiable in the queries), so a guidance or
settling step costs one gather instead of a k-d tree search of every vertex. Outside the grid a
query reads the value at its nearest point of the grid's box plus its distance to the box: far
hands are pulled towards the object all the same.

Interpolation differs from the reference by a fraction of a cell where the reference is smooth
(in front of the surface, behind it), more across the reference's own discontinuities (its sign
flips between two cloud points at an edge); tests/geometry/test_distance_grid.py bounds both.
The measured figures of a grasp keep the reference (pipelines/grasp.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from interhandgen_core.geometry.mirroring import mirror_points

# The defaults for an object cloud: 5 cm around it (a hand's reach during settling and the last guidance
# steps), at most 64 nodes along its longest side (about 4 mm cells for a 20 cm object; one grid of
# 64^3 nodes is built in about 0.1 s on this machine's CPU, where a guidance step's tree search took 15 ms).
GRID_MARGIN_M = 0.05
GRID_NODES = 64


class GridSignedDistance:
    """A signed distance on a grid over a box, read by trilinear interpolation: callable on (B, N, 3) queries
    -> (B, N) metres, negative inside; differentiable in the queries."""

    def __init__(self, values: Tensor, lower: Tensor, cell: float, mirrored: bool = False) -> None:
        """values (X, Y, Z) metres at the nodes lower + cell * (i, j, k); ``mirrored``: answer for Gamma of
        the sampled shape (x -> -x, geometry/mirroring.py)."""
        if values.ndim != 3 or min(values.shape) < 2 or not cell > 0:
            raise ValueError(
                f"a distance grid needs values (X, Y, Z) with at least 2 nodes per axis and a positive cell, got "
                f"shape {tuple(values.shape)} and cell {cell!r}"
            )
        self.values = values.detach()
        self.lower = lower.detach().to(values)
        self.cell = float(cell)
        self.upper = self.lower + self.cell * (torch.tensor(values.shape, dtype=values.dtype) - 1).to(values.device)
        self.is_mirrored = mirrored
        # grid_sample reads (N, C, D, H, W) at (x, y, z) = (W, H, D): the node axes reversed.
        self._volume = self.values.permute(2, 1, 0)[None, None].contiguous()

    @classmethod
    def around(
        cls,
        distance: Callable[[Tensor], Tensor],
        points: Tensor,
        margin: float = GRID_MARGIN_M,
        nodes: int = GRID_NODES,
    ) -> GridSignedDistance:
        """Sample ``distance`` ((1, M, 3) -> (1, M) metres) on cubic cells over the box of ``points`` (P, 3)
        grown by ``margin`` metres, ``nodes`` nodes along its longest side."""
        if points.ndim != 2 or points.shape[-1] != 3 or points.shape[0] == 0 or nodes < 2:
            raise ValueError(
                f"a distance grid needs points (P, 3) with P >= 1 and nodes >= 2, got shape {tuple(points.shape)} "
                f"and {nodes} nodes"
            )
        lower = points.detach().amin(dim=0) - margin
        size = points.detach().amax(dim=0) + margin - lower
        cell = max(float(size.max()) / (nodes - 1), 1e-6)
        counts = [max(2, math.ceil(float(s) / cell) + 1) for s in size]
        axes = [lower[i] + cell * torch.arange(counts[i], dtype=points.dtype, device=points.device) for i in range(3)]
        nodes_xyz = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (X, Y, Z, 3)
        with torch.no_grad():
            values = distance(nodes_xyz.reshape(1, -1, 3)).reshape(*counts)
        return cls(values, lower, cell)

    def mirrored(self) -> GridSignedDistance:
        """The mirrored shape's: queries are mirrored into this grid."""
        grid = GridSignedDistance.__new__(GridSignedDistance)
        grid.__dict__.update(self.__dict__)
        grid.is_mirrored = not self.is_mirrored
        return grid

    def __call__(self, points: Tensor) -> Tensor:
        if self.is_mirrored:
            points = mirror_points(points)
        lower, upper = self.lower.to(points), self.upper.to(points)
        inside_box = torch.maximum(torch.minimum(points, upper), lower)
        outside = (points - inside_box).norm(dim=-1)  # 0 within the box
        unit = (inside_box - lower) / (upper - lower) * 2.0 - 1.0  # [-1, 1] per axis
        sampled = F.grid_sample(
            self._volume.to(points),
            unit.reshape(1, 1, 1, -1, 3),
            mode="bilinear",  # trilinear on a volume
            padding_mode="border",
            align_corners=True,
        )
        return sampled.reshape(points.shape[:-1]) + outside


class ScreenedSignedDistance:
    """The reference signed distance where it matters, the grid elsewhere: callable on (B, N, 3) queries -> (B, N)
    metres, negative inside; differentiable in the queries.

    Queries whose grid value is below ``reach`` metres (in or near the object: every penetration, and the
    closest vertices that the contact gap reads) get the reference's value and gradient; the others, in front
    of the object by more than ``reach`` up to the grid's error, keep the grid's, where a penetration term
    reads 0 anyway. Guidance reads it: its terms see the reference near the object for a fraction of the
    searches.
    """

    def __init__(self, grid: GridSignedDistance, reference: Callable[[Tensor], Tensor], reach: float) -> None:
        self.grid = grid
        self.reference = reference
        self.reach = reach

    def __call__(self, points: Tensor) -> Tensor:
        return self.refine(points, self.grid(points))

    def refine(self, points: Tensor, approximate: Tensor) -> Tensor:
        """points (B, N, 3) and their grid values ``approximate`` (B, N) (``self.grid(points)``) -> (B, N) metres:
        the reference's values where the grid reads below ``reach``. For a caller that reads the grid's values
        first (contact/penetration.object_guidance_terms starts a search from them)."""
        near = approximate.detach() < self.reach
        if not bool(near.any()):
            return approximate
        exact = self.reference(points[near][None])[0]
        return approximate.index_put((near,), exact)
