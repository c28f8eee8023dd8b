"""Physical plausibility of two-hand states: penetration depth and proximity.

These are measurements, not training losses: a vertex counts as penetrating only when
an exact inside test (generalised winding number of the other hand's closed mesh) says
it is inside, and its depth is its distance to the other hand's surface. The guidance
loss of the sampler (contact/penetration.py) uses the paper's cheaper nearest-vertex normal
test instead, so the figures here do not grade the guidance by its own approximation.

Definitions (per sample, both hands in one frame, metres):
    penetration depth  max over the vertices of either hand that lie inside the other
                       hand of their distance to the other hand's surface (0 if none)
    minimum distance   smallest vertex-to-vertex distance between the two hands
    proximity          minimum distance below 2 cm, or any penetration
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from interhandgen_core.contact.penetration import depth_behind_nearest
from interhandgen_core.geometry.distance import points_to_surface_distance_local, vertex_faces
from interhandgen_core.geometry.nearest import nearest_neighbors, nearest_neighbors_both_ways
from interhandgen_core.geometry.normals import vertex_normals
from interhandgen_core.geometry.tree_nearest import nearest_indices_both_ways, use_trees
from interhandgen_core.geometry.winding import winding_numbers_packed

PROXIMITY_THRESHOLD_M = 0.02


@dataclass
class Interpenetration:
    """Per-sample measurements of two hands, metres. depth, min_distance (B,); inside_box (B, 2, 3):
    lower and upper corner of the triangles around the vertices of either hand that lie inside the
    other (lower > upper where none does), which holds the hands' overlap (metrics.interaction_measures)."""

    depth: Tensor
    min_distance: Tensor
    inside_box: Tensor


def _one_way_depth(
    vertices: Tensor, faces: Tensor, other_vertices: Tensor, other_faces: Tensor, index: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(B, V, 3) of the mesh ``faces`` against the closed mesh (B, W, 3), (F', 3), with ``index`` (B, V) of
    each vertex's nearest other vertex -> (deepest vertex inside it (B,), closest approach (B,),
    box of the triangles around the vertices inside it (B, 2, 3)).

    The exact inside test costs one solid angle per triangle, so it runs only on the
    candidates of the cheap test of Eq. 8 (penetration.depth_behind_nearest > 0): vertices
    behind the outward normal of their nearest vertex on the other hand (a point inside a
    closed surface lies behind it, up to the mesh's resolution near sharp creases). Depths
    are distances to the faces around the point's nearest vertices (geometry/distance.py).
    """
    normals = vertex_normals(other_vertices, other_faces)
    depth_along_normal, distance = depth_behind_nearest(vertices, other_vertices, normals, index)
    batch_index, vertex_index = (depth_along_normal > 0).nonzero(as_tuple=True)  # Eq. 8's candidates
    points = vertices[batch_index, vertex_index]
    inside = winding_numbers_packed(points, batch_index, other_vertices, other_faces) > 0.5
    batch_index, vertex_index, points = batch_index[inside], vertex_index[inside], points[inside]
    depth = vertices.new_zeros(vertices.shape[0])
    b = vertices.shape[0]
    lower = vertices.new_full((b, 3), torch.inf)
    upper = vertices.new_full((b, 3), -torch.inf)
    if batch_index.numel():
        surface = points_to_surface_distance_local(points, batch_index, other_vertices, other_faces)
        depth = depth.scatter_reduce(0, batch_index, surface, reduce="amax")
        ring = vertex_faces(faces, vertices.shape[1])[vertex_index]  # (K, D), -1 padded
        ring = torch.where(ring < 0, ring[:, :1], ring)  # padding repeats a real face
        corners = vertices[batch_index[:, None, None], faces[ring]].flatten(1, 2)  # (K, 3 D, 3)
        rows = batch_index[:, None].expand(-1, 3)
        lower = lower.scatter_reduce(0, rows, corners.min(dim=1).values, reduce="amin")
        upper = upper.scatter_reduce(0, rows, corners.max(dim=1).values, reduce="amax")
    return depth, distance.min(dim=1).values, torch.stack([lower, upper], dim=1)


def interpenetration(
    left_vertices: Tensor, left_faces: Tensor, right_vertices: Tensor, right_faces: Tensor
) -> Interpenetration:
    """left/right_vertices (B, V, 3) metres, faces (F, 3) -> Interpenetration, one nearest-neighbour search:
    by k-d trees on the CPU (geometry/tree_nearest.py; 0.1 s less than all pairs per 32 grasps in
    bench grasp), all pairs elsewhere; the same nearest vertices (tests/contact/test_interaction.py)."""
    if use_trees(left_vertices):
        left_to_right, right_to_left = nearest_indices_both_ways(left_vertices, right_vertices)
    else:
        left_to_right, right_to_left = nearest_neighbors_both_ways(left_vertices, right_vertices)
    depth_l, gap, box_l = _one_way_depth(left_vertices, left_faces, right_vertices, right_faces, left_to_right)
    depth_r, _, box_r = _one_way_depth(right_vertices, right_faces, left_vertices, left_faces, right_to_left)
    box = torch.stack([torch.minimum(box_l[:, 0], box_r[:, 0]), torch.maximum(box_l[:, 1], box_r[:, 1])], dim=1)
    return Interpenetration(torch.maximum(depth_l, depth_r), gap, box)


@torch.no_grad()
def penetration_depth(left_vertices: Tensor, left_faces: Tensor, right_vertices: Tensor, right_faces: Tensor) -> Tensor:
    """left/right_vertices (B, V, 3) metres, faces (F, 3) -> (B,) penetration depth in metres."""
    return interpenetration(left_vertices, left_faces, right_vertices, right_faces).depth


@torch.no_grad()
def minimum_distance(left_vertices: Tensor, right_vertices: Tensor) -> Tensor:
    """(B, V, 3), (B, W, 3) metres -> (B,) smallest vertex-to-vertex distance."""
    distance, _ = nearest_neighbors(left_vertices, right_vertices)
    return distance.min(dim=1).values


@dataclass(frozen=True)
class InteractionStatistics:
    """Summary over a set of two-hand samples (lengths in millimetres, ratio in [0, 1])."""

    count: int
    mean_penetration_mm: float
    p95_penetration_mm: float
    penetrating_ratio: float
    proximity_ratio: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean_penetration_mm": self.mean_penetration_mm,
            "p95_penetration_mm": self.p95_penetration_mm,
            "penetrating_ratio": self.penetrating_ratio,
            "proximity_ratio": self.proximity_ratio,
        }

    def summary(self) -> str:
        return (
            f"{self.count} samples: penetration depth mean {self.mean_penetration_mm:.2f} mm, "
            f"p95 {self.p95_penetration_mm:.2f} mm, penetrating {100 * self.penetrating_ratio:.1f}%, "
            f"proximity (< {100 * PROXIMITY_THRESHOLD_M:.0f} cm) {100 * self.proximity_ratio:.1f}%"
        )


def interaction_statistics(depth: Tensor, min_distance: Tensor) -> InteractionStatistics:
    """depth (N,), min_distance (N,) metres -> InteractionStatistics."""
    if depth.numel() == 0:
        raise ValueError("interaction statistics need at least one sample")
    depth_mm = depth.double() * 1000.0
    near = (min_distance < PROXIMITY_THRESHOLD_M) | (depth > 0)
    return InteractionStatistics(
        count=int(depth.numel()),
        mean_penetration_mm=float(depth_mm.mean()),
        p95_penetration_mm=float(torch.quantile(depth_mm, 0.95)),
        penetrating_ratio=float((depth > 0).double().mean()),
        proximity_ratio=float(near.double().mean()),
    )


@torch.no_grad()
def interpenetration_chunks(
    left_vertices: Tensor, left_faces: Tensor, right_vertices: Tensor, right_faces: Tensor, chunk: int = 64
) -> Iterator[tuple[slice, Interpenetration]]:
    """(N, V, 3), (F, 3), (N, W, 3), (F', 3) -> (rows, Interpenetration of those rows), ``chunk`` samples at a time."""
    for start in range(0, left_vertices.shape[0], chunk):  # memory chunks, batched inside
        rows = slice(start, start + chunk)
        yield rows, interpenetration(left_vertices[rows], left_faces, right_vertices[rows], right_faces)


def measure_interaction(
    left_vertices: Tensor, left_faces: Tensor, right_vertices: Tensor, right_faces: Tensor, chunk: int = 64
) -> tuple[Tensor, Tensor]:
    """Penetration depth and minimum distance for many samples, in memory-bounded chunks.

    (N, V, 3), (F, 3), (N, W, 3), (F', 3) -> (depth (N,), min_distance (N,)) metres.
    """
    measured = [m for _, m in interpenetration_chunks(left_vertices, left_faces, right_vertices, right_faces, chunk)]
    return torch.cat([m.depth for m in measured]), torch.cat([m.min_distance for m in measured])
