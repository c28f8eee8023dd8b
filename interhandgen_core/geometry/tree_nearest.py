"""Nearest neighbours by k-d tree (scipy.spatial.cKDTree): the CPU fast path of geometry/nearest.py.

Shapes: queries (B, N, 3), points (B, M, 3) or one cloud (M, 3), metres, any common frame.
The results are the indices the all-pairs searches of geometry/nearest.py return (the slow
reference; tests/geometry/test_tree_nearest.py compares them), found in O(N log M) per sample
instead of O(N M). Indices carry no gradient; callers gather the points and take distances in
torch, so gradients are exactly those of the reference.

On a CUDA device the all-pairs searches stay (they are fast there, and a CUDA graph may not
read back to the host); ``use_trees`` says which path a tensor takes.

scipy's trees are unbatched: a batch of point sets gets one tree per sample (the loop below
is over trees in C, about 0.3 ms each for a hand; one tree over all samples, offset apart,
measured three times slower on this machine's CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from torch import Tensor

from interhandgen_core.geometry.background_search import search_in_background
from interhandgen_core.geometry.distance_grid import GridSignedDistance
from interhandgen_core.geometry.mirroring import mirror_points

_ALL_PAIRS_ON_CPU = threading.local()


def use_trees(tensor: Tensor) -> bool:
    """True where the k-d tree path is taken: tensors on the CPU (outside ``all_pairs_search``)."""
    return tensor.device.type == "cpu" and not getattr(_ALL_PAIRS_ON_CPU, "on", False)


@contextmanager
def all_pairs_search() -> Iterator[None]:
    """In this thread, take the device path (all-pairs search, no host round trip) on the CPU too:
    for checking on a CPU what a CUDA graph capture of the cascade would meet."""
    former = getattr(_ALL_PAIRS_ON_CPU, "on", False)
    _ALL_PAIRS_ON_CPU.on = True
    try:
        yield
    finally:
        _ALL_PAIRS_ON_CPU.on = former


def _numpy(points: Tensor) -> NDArray[np.float64]:
    # numpy's conversion: torch's .to(float64) of a small tensor measured 10x slower on this CPU.
    return np.asarray(points.detach().contiguous().numpy(), dtype=np.float64)


# Trees built for one query pass: the median split and compaction cost more than they save here.
_ONE_PASS = {"balanced_tree": False, "compact_nodes": False}


class CloudTree:
    """A k-d tree over one cloud (M, 3), built once; queried by any batch of points."""

    def __init__(self, points: Tensor) -> None:
        if points.ndim != 2 or points.shape[-1] != 3 or points.shape[0] == 0:
            raise ValueError(f"a cloud tree needs points (M, 3) with M >= 1, got shape {tuple(points.shape)}")
        self.num_points = int(points.shape[0])
        self._tree = cKDTree(_numpy(points))
        self.grid: GridSignedDistance | None = None  # TreeSignedDistance.grid's, built once per tree

    def k_nearest(self, queries: Tensor, k: int) -> Tensor:
        """queries (..., 3) -> (..., k) long indices into the cloud, nearest first (k capped at M)."""
        k = min(k, self.num_points)
        _, index = self._tree.query(_numpy(queries).reshape(-1, 3), k=k)
        index = np.asarray(index, dtype=np.int64).reshape(*queries.shape[:-1], k)
        return torch.from_numpy(index).to(queries.device)


def tree_signed_distance(tree: CloudTree, points: Tensor, cloud: Tensor, normals: Tensor, k: int = 8) -> Tensor:
    """points (B, N, 3), cloud (P, 3), normals (P, 3) unit outward -> (B, N) metres, negative inside.

    geometry/nearest.points_to_cloud_signed_distance with the k nearest found by ``tree`` (built on
    ``cloud``): the same magnitude and sign rule; differentiable in ``points``. Inside needs all k
    nearest behind, so the k nearest are searched only for points behind their nearest one (most
    hand vertices are in front of the object: a k = 1 search for all is about 3 times cheaper).
    """
    nearest = tree.k_nearest(points, 1)[..., 0]  # (B, N)
    offset = points - cloud[nearest]
    distance = offset.norm(dim=-1)
    with torch.no_grad():
        inside = (offset * normals[nearest]).sum(-1) < 0  # behind the nearest; all k decided below
        candidates = points[inside]  # (C, 3)
        if candidates.shape[0] > 0:
            index = tree.k_nearest(candidates, k)  # (C, k)
            behind = ((candidates[:, None] - cloud[index]) * normals[index]).sum(-1) < 0
            inside[inside.clone()] = behind.all(dim=-1)
    return torch.where(inside, -distance, distance)


class TreeSignedDistance:
    """The reference signed distance of one oriented cloud, its k-d tree built once: callable on (B, N, 3)
    queries -> (B, N) metres, negative inside (tree_signed_distance); differentiable in the queries."""

    def __init__(self, points: Tensor, normals: Tensor, mirrored: bool = False, tree: CloudTree | None = None) -> None:
        """points, normals (P, 3) unit outward; ``mirrored``: answer for Gamma of the cloud (x -> -x)."""
        self.points = points.detach()
        self.normals = normals.detach()
        self.is_mirrored = mirrored
        self.tree = CloudTree(self.points) if tree is None else tree

    def mirrored(self) -> TreeSignedDistance:
        """The mirrored cloud's (geometry/mirroring.py): queries are mirrored into this one's tree."""
        return TreeSignedDistance(self.points, self.normals, not self.is_mirrored, self.tree)

    def grid(self) -> GridSignedDistance:
        """This distance sampled on a grid around the cloud (geometry/distance_grid.py), built on the first call
        and kept with the tree: every condition rebuilt around the same tree, and its mirror image, shares it."""
        if self.tree.grid is None:
            unmirrored = TreeSignedDistance(self.points, self.normals, False, self.tree)
            self.tree.grid = GridSignedDistance.around(unmirrored, self.points)
        return self.tree.grid.mirrored() if self.is_mirrored else self.tree.grid

    def __call__(self, points: Tensor) -> Tensor:
        if self.is_mirrored:
            points = mirror_points(points)
        return tree_signed_distance(self.tree, points, self.points.to(points.dtype), self.normals.to(points.dtype))


def _wanted(queries: Tensor, points: Tensor, margin: float | None) -> Tensor:
    """(B, N) bool: the queries within ``margin`` of the box of their sample's points (all where None)."""
    if margin is None:
        return torch.ones(queries.shape[:2], dtype=torch.bool, device=queries.device)
    lower = points.detach().amin(dim=1, keepdim=True) - margin
    upper = points.detach().amax(dim=1, keepdim=True) + margin
    q = queries.detach()
    return ((q >= lower) & (q <= upper)).all(dim=-1)


def nearest_indices(
    queries: Tensor, points: Tensor, margin: float | None = None, radius: float | None = None
) -> Tensor:
    """queries (B, N, 3), points (B, M, 3) -> (B, N) long: each query's nearest point of its own sample.

    With ``margin`` (metres), queries more than ``margin`` outside the bounding box of their sample's
    points are not searched and read -1: for a set that samples a closed surface they lie in front of
    it, where the penetration tests of contact/penetration.py read 0 (a hand's vertex spacing is about
    5 mm; the margin should exceed it). Most pairs of hands are apart, so most searches are skipped.
    With ``radius`` (metres), a query whose nearest point is farther than that reads -1 too (the search
    is cut off there: about twice as fast for interlocked hands at 2.5 cm).
    """
    wanted = _wanted(queries, points, margin)
    q_np, p_np, wanted_np = _numpy(queries), _numpy(points), wanted.cpu().numpy()
    out = np.full(q_np.shape[:2], -1, dtype=np.int64)
    bound = np.inf if radius is None else radius
    for b in np.flatnonzero(wanted_np.any(axis=1)):  # one tree per sample (module docstring), where any query is near
        rows = np.flatnonzero(wanted_np[b])
        found = cKDTree(p_np[b], **_ONE_PASS).query(q_np[b, rows], k=1, distance_upper_bound=bound)[1]
        out[b, rows] = np.where(found < p_np.shape[1], found, -1)  # M: none within the radius
    return torch.from_numpy(out).to(queries.device)


class SampleTrees:
    """One k-d tree per sample of a batch of point sets (B, M, 3), built once: for a set that stays put while
    others move (the anchor hand of prior/sampler.sample_other), searched at every step without a rebuild."""

    def __init__(self, points: Tensor) -> None:
        self.points = points.detach()
        self._trees = [cKDTree(p) for p in _numpy(self.points)]  # one per sample (module docstring)

    def nearest(self, queries: Tensor, margin: float | None = None) -> Tensor:
        """queries (B, N, 3) -> (B, N) long: nearest_indices(queries, points, margin), the same indices."""
        wanted = _wanted(queries, self.points, margin)
        q_np, wanted_np = _numpy(queries), wanted.cpu().numpy()
        out = np.full(q_np.shape[:2], -1, dtype=np.int64)
        for b in np.flatnonzero(wanted_np.any(axis=1)):  # one tree per sample, where any query is near
            rows = np.flatnonzero(wanted_np[b])
            out[b, rows] = self._trees[b].query(q_np[b, rows], k=1)[1]
        return torch.from_numpy(out).to(queries.device)


def nearest_indices_within(cloud: Tensor, points: Tensor, candidates: Tensor, radius: float) -> Tensor:
    """cloud (P, 3) shared by the batch, points (B, M, 3) metres, candidates (B, M) bool -> (B, P) long: each cloud
    point's nearest candidate point of each sample where that lies within ``radius`` metres, else -1.

    Equal to nearest_indices(cloud.expand(B, -1, -1), points) for every cloud point whose nearest point (of
    all M) lies within ``radius`` and is a candidate: a caller that knows which points can be within reach
    of the cloud (the hand vertices near an object, contact/penetration.object_guidance_terms) passes only
    those. One search for the whole batch: the pairs within ``radius`` of a tree over the cloud and one
    over the candidates of every sample, the nearest of each (sample, cloud point) kept.
    """
    rows, columns = candidates.nonzero(as_tuple=True)  # (K,) sample and index of each candidate point
    batch, size = points.shape[0], cloud.shape[0]
    out = torch.full((batch * size,), -1, dtype=torch.long)
    if rows.numel() > 0:
        chosen = _numpy(points[rows, columns])
        pairs = cKDTree(_numpy(cloud), **_ONE_PASS).sparse_distance_matrix(
            cKDTree(chosen, **_ONE_PASS), radius, output_type="ndarray"
        )
        near, found = torch.from_numpy(pairs["i"].astype(np.int64)), torch.from_numpy(pairs["j"].astype(np.int64))
        distance = torch.from_numpy(pairs["v"])
        key = rows.cpu()[found] * size + near  # (sample, cloud point) of each pair
        nearest = torch.full((batch * size,), torch.inf, dtype=distance.dtype)
        nearest = nearest.scatter_reduce(0, key, distance, reduce="amin")
        best = distance <= nearest[key]  # the nearest pair of each key (any one of exact ties)
        out[key[best]] = columns.cpu()[found[best]]
    return out.reshape(batch, size).to(points.device)


def nearest_indices_both_ways(
    a: Tensor, b: Tensor, margin: float | None = None, radius: float | None = None
) -> tuple[Tensor, Tensor]:
    """a (B, N, 3), b (B, M, 3) -> (index into b of each point of a (B, N), index into a of each point of b (B, M));
    -1 for points skipped by ``margin`` or beyond ``radius`` (nearest_indices). The second search runs on the search
    thread beside the first (geometry/background_search.py)."""
    from_b = search_in_background(nearest_indices, b, a, margin, radius)
    return nearest_indices(a, b, margin, radius), from_b.result()
