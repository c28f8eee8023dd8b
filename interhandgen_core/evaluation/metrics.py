"""The metrics of the two-hand synthesis protocol (paper section 4, supplementary S.4.1).

Feature metrics, over (N, D) arrays of backbone features (evaluation/feature_backbone.py):
    fhid              Frechet distance of two Gaussians fitted to the sets (FID's formula):
                      |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r^1/2 S_f S_r^1/2)^1/2)
    khid              unbiased MMD^2 with the polynomial kernel k(x, y) = (x . y / D + 1)^degree,
                      averaged over random subsets (KID's estimator; degree 1 as the authors)
    diversity         mean feature distance of random pairs of samples of one set
    precision_recall  k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019): the share of fake
                      samples inside some real sample's k-NN ball, and the reverse

Mesh metrics, per sample (metres; reports convert):
    penetration_volume  volume of the voxels (1 mm) whose centres lie inside both hands
    penetration depth   contact/interaction.py (exact inside test, distance to the surface)
    proximity ratio     share of samples whose hands are closer than 2 cm or interpenetrate

Everything is batched (matrix products and distance matrices, no Python loop over samples);
bad input raises DataError naming the problem rather than returning NaN.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from interhandgen_core.contact.interaction import interpenetration_chunks
from interhandgen_core.errors import DataError
from interhandgen_core.geometry.voxel_occupancy import grid_inside_mesh

# KHID subsets evaluated in one batched product (memory: subsets x m x m float64).
_SUBSETS_PER_CHUNK = 8
# Overlap boxes are widened by the longest mesh edge, and never larger than this per axis
# (two whole hands inside each other), so one sample cannot take all the memory.
_MAX_VOXELS_PER_AXIS = 256
_GRID_SHIFT = (0.3183, 0.5772, 0.1415)
_ROWS_PER_GRID = 8


def as_features(name: str, values: ArrayLike | Tensor, min_rows: int = 1) -> Tensor:
    """A (N, D) float64 tensor of finite features, or DataError naming ``name`` and the problem."""
    x = torch.as_tensor(np.asarray(values) if not isinstance(values, Tensor) else values).detach().cpu().double()
    if x.ndim != 2:
        raise DataError(f"{name} must be an (N, D) array of features, got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise DataError(f"{name} has {x.shape[0]} samples; this metric needs at least {min_rows}")
    bad = (~torch.isfinite(x)).any(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        raise DataError(
            f"{name} has NaN or infinite values in {int(bad.sum())} of {x.shape[0]} samples "
            f"(first at row {int(rows[0])}); fix or drop those samples"
        )
    return x


def _pair(real: ArrayLike | Tensor, fake: ArrayLike | Tensor, min_rows: int) -> tuple[Tensor, Tensor]:
    r, f = as_features("real features", real, min_rows), as_features("fake features", fake, min_rows)
    if r.shape[1] != f.shape[1]:
        raise DataError(f"real and fake features differ in size: {r.shape[1]} and {f.shape[1]}")
    return r, f


def _sqrt_psd(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def fhid(real: ArrayLike | Tensor, fake: ArrayLike | Tensor) -> float:
    """Frechet distance between Gaussians fitted to real (N, D) and fake (M, D) features.

    Needs more samples than feature dimensions in each set (N, M > D), or the covariances are singular.
    """
    r, f = _pair(real, fake, 2)
    d = r.shape[1]
    for name, x in (("real", r), ("fake", f)):
        if x.shape[0] <= d:
            raise DataError(
                f"{name} features: {x.shape[0]} samples cannot give a covariance of {d}-D features; "
                f"FHID needs more than {d} samples per set"
            )
    mu_r, mu_f = r.mean(0), f.mean(0)
    cov_r, cov_f = torch.cov(r.T), torch.cov(f.T)
    root_r = _sqrt_psd(cov_r)
    # tr((S_r S_f)^1/2) = tr((S_r^1/2 S_f S_r^1/2)^1/2): the inner matrix is symmetric PSD.
    cross = torch.linalg.eigvalsh(root_r @ cov_f @ root_r).clamp_min(0).sqrt().sum()
    value = (mu_r - mu_f).square().sum() + torch.trace(cov_r) + torch.trace(cov_f) - 2 * cross
    return float(value.clamp_min(0))


def khid(
    real: ArrayLike | Tensor,
    fake: ArrayLike | Tensor,
    n_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 1,
    seed: int = 0,
) -> float:
    """Unbiased polynomial-kernel MMD^2 between real (N, D) and fake (M, D), averaged over random subsets.

    Each subset draws min(subset_size, N, M) samples of each set without replacement.
    """
    r, f = _pair(real, fake, 2)
    if n_subsets < 1 or degree < 1:
        raise DataError(f"n_subsets and degree must be >= 1, got {n_subsets} and {degree}")
    m = min(subset_size, r.shape[0], f.shape[0])
    if m < 2:
        raise DataError(f"KHID needs subsets of at least 2 samples, got subset_size {subset_size}")
    d = r.shape[1]
    generator = torch.Generator().manual_seed(seed)

    def draw(x: Tensor, count: int) -> Tensor:
        return torch.rand(count, x.shape[0], generator=generator).argsort(dim=1)[:, :m]

    total = 0.0
    off_diagonal = ~torch.eye(m, dtype=torch.bool)
    for start in range(0, n_subsets, _SUBSETS_PER_CHUNK):  # memory chunks of subsets, batched inside
        count = min(_SUBSETS_PER_CHUNK, n_subsets - start)
        x, y = r[draw(r, count)], f[draw(f, count)]  # (S, m, D)
        k_xx = (x @ x.transpose(1, 2) / d + 1) ** degree
        k_yy = (y @ y.transpose(1, 2) / d + 1) ** degree
        k_xy = (x @ y.transpose(1, 2) / d + 1) ** degree
        within = (k_xx * off_diagonal).sum((1, 2)) + (k_yy * off_diagonal).sum((1, 2))
        mmd = within / (m * (m - 1)) - 2 * k_xy.sum((1, 2)) / (m * m)
        total += float(mmd.sum())
    return total / n_subsets


def diversity(features: ArrayLike | Tensor, num_pairs: int = 200, seed: int = 0) -> float:
    """Mean distance between the features of ``num_pairs`` random pairs of distinct samples of one (N, D) set."""
    x = as_features("features", features, 2)
    n = x.shape[0]
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, n, (num_pairs,), generator=generator)
    # A draw from the other n - 1 samples, so that no pair is a sample with itself.
    second = (first + torch.randint(1, n, (num_pairs,), generator=generator)) % n
    return float((x[first] - x[second]).norm(dim=1).mean())


def _knn_radii(x: Tensor, k: int) -> Tensor:
    """(N, D) -> (N,) distance of each sample to its k-th nearest other sample."""
    distances = torch.cdist(x, x)
    return distances.topk(k + 1, dim=1, largest=False).values[:, k]  # column 0 is the sample itself


def precision_recall(
    real: ArrayLike | Tensor, fake: ArrayLike | Tensor, k: int = 5, num_samples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) on ``num_samples`` random samples of each set.

    precision: share of fake samples within the k-NN radius of at least one real sample;
    recall: share of real samples within the k-NN radius of at least one fake sample.
    """
    r, f = _pair(real, fake, k + 1)
    generator = torch.Generator().manual_seed(seed)
    r = r[torch.randperm(r.shape[0], generator=generator)[:num_samples]]
    f = f[torch.randperm(f.shape[0], generator=generator)[:num_samples]]
    cross = torch.cdist(f, r)  # (M, N)
    precision = (cross <= _knn_radii(r, k)[None, :]).any(dim=1).double().mean()
    recall = (cross <= _knn_radii(f, k)[:, None]).any(dim=0).double().mean()
    return float(precision), float(recall)


def _overlap_volume(lv: Tensor, lf: Tensor, rv: Tensor, rf: Tensor, inside_box: Tensor, voxel: float) -> Tensor:
    """One chunk: (B,) cubic metres of voxels inside both meshes, over each sample's inside box.

    Rows are grouped by box size so that one large overlap does not size every grid of the chunk.
    """
    volumes = lv.new_zeros(lv.shape[0])
    rows = (inside_box[:, 0] <= inside_box[:, 1]).all(dim=1).nonzero().flatten()
    if rows.numel() == 0:
        return volumes
    # Shifted off the vertices' lattice by a fraction of a voxel: a grid placed exactly on a mesh's
    # own coordinates (boxes, tests) would send columns through edges, where crossings double.
    lower = inside_box[rows, 0] - voxel + lv.new_tensor(_GRID_SHIFT) * voxel
    counts = ((inside_box[rows, 1] + voxel - lower) / voxel).ceil().long().clamp(1, _MAX_VOXELS_PER_AXIS)
    order = counts.prod(dim=1).argsort()
    for start in range(0, order.numel(), _ROWS_PER_GRID):  # groups of similar size, batched inside
        group = order[start : start + _ROWS_PER_GRID]
        size = counts[group].max(dim=0).values
        shape = (int(size[0]), int(size[1]), int(size[2]))
        sel = rows[group]
        inside_left = grid_inside_mesh(lower[group], shape, voxel, lv[sel], lf)
        both = inside_left & grid_inside_mesh(lower[group], shape, voxel, rv[sel], rf)
        volumes[sel] = both.flatten(1).sum(1).to(volumes.dtype) * voxel**3
    return volumes


def interaction_measures(
    left_vertices: Tensor,
    left_faces: Tensor,
    right_vertices: Tensor,
    right_faces: Tensor,
    voxel: float = 0.001,
    chunk: int = 64,
) -> tuple[Tensor, Tensor, Tensor]:
    """(N, V, 3), (F, 3), (N, W, 3), (F', 3) closed meshes, metres ->
    (penetration depth (N,) m, minimum distance (N,) m, penetration volume (N,) m^3), one pass per chunk.

    Volume: the voxels (edge ``voxel``) whose centres lie inside both hands. The grid covers the
    box of the triangles around the vertices of either hand inside the other (interaction.py):
    the overlap is bounded by the two skins' parts inside each other, which lie in those
    triangles as long as each triangle that crosses the other skin has a corner inside it. A
    sample with no vertex inside the other hand counts zero (two skins grazing between vertices:
    at most an edge squared times the depth). Occupancy is the exact signed-ray test of
    geometry/voxel_occupancy.py, right for any closed mesh.
    """
    if voxel <= 0 or not math.isfinite(voxel):
        raise DataError(f"voxel must be a positive length in metres, got {voxel}")
    if left_vertices.shape[0] != right_vertices.shape[0]:
        raise DataError(
            f"left and right hands differ in number: {left_vertices.shape[0]} and {right_vertices.shape[0]}"
        )
    for name, v in (("left", left_vertices), ("right", right_vertices)):
        if not bool(torch.isfinite(v).all()):
            raise DataError(f"{name} hand vertices hold NaN or infinite values; fix or drop those samples")
    depths, gaps, volumes = [], [], []
    for rows, measured in interpenetration_chunks(left_vertices, left_faces, right_vertices, right_faces, chunk):
        depths.append(measured.depth)
        gaps.append(measured.min_distance)
        with torch.no_grad():
            volumes.append(
                _overlap_volume(
                    left_vertices[rows], left_faces, right_vertices[rows], right_faces, measured.inside_box, voxel
                )
            )
    empty = left_vertices.new_zeros(0)
    return torch.cat([empty, *depths]), torch.cat([empty, *gaps]), torch.cat([empty, *volumes])


def penetration_volume(
    left_vertices: Tensor, left_faces: Tensor, right_vertices: Tensor, right_faces: Tensor, voxel: float = 0.001
) -> Tensor:
    """(B, V, 3), (F, 3), (B, W, 3), (F', 3) closed meshes, metres -> (B,) cubic metres inside both
    (interaction_measures says how)."""
    return interaction_measures(left_vertices, left_faces, right_vertices, right_faces, voxel)[2]


def proximity_ratio(depth: Tensor, min_distance: Tensor, threshold: float = 0.02) -> float:
    """depth, min_distance (N,) metres -> share of samples closer than ``threshold`` or interpenetrating."""
    if depth.numel() == 0:
        raise DataError("proximity ratio needs at least one sample")
    return float(((min_distance < threshold) | (depth > 0)).double().mean())
