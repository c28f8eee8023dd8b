"""A depth camera's object cloud -> the clean, centred, oriented cloud the object encoder takes.

:func:`preprocess_cloud` runs, in this order: drop NaN/inf rows, crop to a box, millimetres
to metres (see below), voxel downsample, statistical outlier removal, move the origin to the
centroid, then normals (the given ones where the input had them, otherwise estimated and
oriented outward by propagation, their signs checked against the camera's position where the
caller gives it, the viewpoint).
:func:`resample_points` brings the result to the encoder's fixed size.
:func:`corrupt_like_sensor` goes the other way for evaluation: a clean object cloud made to
look like one depth view of it.

Every length is in metres. The input frame is the caller's (a camera or a world frame); the
object frame has its origin at the cleaned cloud's centroid and the input frame's axes, so
going between the two is a translation (:meth:`PreparedCloud.to_input_frame`).

Millimetres: a cloud (after the crop, when one is given) whose robust span (the largest axis
extent between its 1st and 99th percentiles) exceeds MILLIMETRE_SPAN = 15 units cannot be a
graspable object or a cropped table-top scene in metres (2 cm to 1.5 m objects; a depth view
cropped to a few metres), while any object of 2 cm or more in millimetres spans 20 units and
up. Such a cloud is divided by 1000 and a warning is logged (``PreparedCloud.notes``), as the
refiner does with keypoints in millimetres (refinement/observation.py); everything returned
is then in metres: the input frame's axes and origin, its lengths divided by 1000. An
uncropped metre-scale scene wider than 15 m is taken for millimetres too: crop it.

open3d does the geometry (voxel grid, outlier removal, normal estimation and orientation);
it is imported on first use.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, overload

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from interhandgen_core.config import ConfigBase, require_float, setting
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.symmetric_completion import complete_by_point_symmetry
from interhandgen_core.io.object_files import import_open3d

# Neighbours of each point in the graph along which open3d propagates normal orientation.
ORIENT_NEIGHBORS = 10
# open3d's orientation triangulates the cloud (Delaunay) and cannot with fewer points.
_ORIENT_MIN_POINTS = 4
# With the camera's position known, an estimated normal that faces away from it with a cosine below minus this
# is turned (preprocess_cloud); those nearer grazing keep the sign propagation gave them.
CAMERA_FLIP_COSINE = 0.3
# A cloud whose robust span exceeds this many units is in millimetres (module docstring).
MILLIMETRE_SPAN = 15.0
MILLIMETRES_PER_METRE = 1000.0
# The span ignores the outermost 1% of the points on each side of each axis (stray depths).
_SPAN_PERCENTILES = (1.0, 99.0)

log = logging.getLogger(__name__)

Corner = tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class CloudPreprocessConfig(ConfigBase):
    """Settings of :func:`preprocess_cloud`; lengths in metres, in the input frame.

    crop_min, crop_max: corners of an axis-aligned box in the input frame; points outside
        are dropped (the table, the background, the robot). Either may be None for no bound
        on that side; both None keeps everything.
    voxel_size: edge of the voxel grid that merges nearby points into their mean (points,
        and normals when given); evens out the density of a depth view and bounds the work
        of the later steps. 0 disables.
    outlier_neighbors: neighbours over which statistical outlier removal averages each
        point's distance; 0 disables the step, as does a cloud of no more points than this.
    outlier_std_ratio: a point whose mean neighbour distance exceeds the cloud's mean by
        more than this many standard deviations is dropped; larger keeps more.
    normal_radius: search radius of normal estimation (PCA of the neighbourhood); must
        exceed voxel_size, or voxelized points find no neighbours.
    normal_max_neighbors: at most this many neighbours per normal, nearest first.
    orient_max_points: estimated normals of a cleaned cloud up to this size are oriented
        consistently (open3d's tangent-plane propagation, about 4 s per 100k points on two
        cores); a larger one (an uncropped scene rather than an object) has each normal
        point away from the centroid instead. 0 always does the latter.
    max_input_points: larger clouds are refused before any work, rather than running out
        of memory (an uncropped multi-camera scene, or points in the wrong units).
    min_points: the fewest points allowed after any step; fewer is refused, naming the
        step and the setting to relax.
    """

    crop_min: Corner | None = setting(None, units="metres", help="lower corner of the crop box; none: no bound")
    crop_max: Corner | None = setting(None, units="metres", help="upper corner of the crop box; none: no bound")
    voxel_size: float = setting(0.004, low=0.0, high=0.05, units="metres", help="cloud voxel downsampling; 0: off")
    outlier_neighbors: int = setting(20, low=0, help="neighbours of statistical outlier removal; 0: off")
    outlier_std_ratio: float = setting(
        2.0, low=0.0, low_open=True, help="standard deviations beyond which a point is an outlier"
    )
    normal_radius: float = setting(
        0.015, low=0.0, low_open=True, units="metres", help="search radius of normal estimation (> voxel_size)"
    )
    normal_max_neighbors: int = setting(30, low=3, help="most neighbours per estimated normal")
    orient_max_points: int = setting(
        50_000, low=0, help="largest cloud whose normals are oriented consistently; 0: away from the centroid"
    )
    max_input_points: int = setting(5_000_000, low=1, help="larger clouds are refused before any work")
    min_points: int = setting(32, low=1, help="fewest points allowed after any step")

    def check_consistency(self) -> None:
        for name in ("crop_min", "crop_max"):
            object.__setattr__(self, name, _corner(name, getattr(self, name)))
        if self.crop_min is not None and self.crop_max is not None:
            if any(lo >= hi for lo, hi in zip(self.crop_min, self.crop_max, strict=True)):
                raise ConfigError(
                    f"CloudPreprocessConfig: crop_min {self.crop_min} must be below crop_max {self.crop_max} on every axis"
                )
        if self.normal_radius <= self.voxel_size:
            raise ConfigError(
                f"CloudPreprocessConfig.normal_radius ({self.normal_radius}) must exceed voxel_size ({self.voxel_size}); "
                "about 3-4 voxels is right"
            )
        if self.min_points > self.max_input_points:
            raise ConfigError(
                f"CloudPreprocessConfig.min_points ({self.min_points}) exceeds max_input_points ({self.max_input_points})"
            )


@dataclasses.dataclass
class PreparedCloud:
    """The cleaned cloud in the object frame, and how it got there.

    points: (M, 3) float32, metres, object frame (origin at the cleaned cloud's centroid,
        axes of the input frame).
    normals: (M, 3) float32 unit vectors, outward (see :func:`preprocess_cloud` for how far
        that can be trusted).
    centroid: (3,) float64, metres, input-frame position of the object frame's origin.
    num_input, num_finite, num_after_crop, num_after_voxel, num_after_outliers: point counts
        after each step, for the log.
    notes: warnings about the input, and what was inferred, one line each (a cloud taken for
        millimetres and converted; an object too small or large for two hands, pipelines/grasp.py;
        a back inferred, :func:`complete_one_sided`); empty for a clean cloud seen all round. Each
        is also logged.
    from_millimetres: the input was taken for millimetres and divided by 1000.
    num_completed: the last this many of ``points`` were not seen but inferred
        (:func:`complete_one_sided`); 0 for a cloud as seen.
    viewpoint: (3,) float64, metres, object frame: where the camera that saw the cloud stood, where the caller
        gave it (:func:`preprocess_cloud`); None where unknown.
    """

    points: NDArray[np.float32]
    normals: NDArray[np.float32]
    centroid: NDArray[np.float64]
    num_input: int
    num_finite: int
    num_after_crop: int
    num_after_voxel: int
    num_after_outliers: int
    notes: list[str] = dataclasses.field(default_factory=list)
    from_millimetres: bool = False
    num_completed: int = 0
    viewpoint: NDArray[np.float64] | None = None

    def summary(self) -> str:
        """One log line with the count after each step (and "converted from millimetres", or the number of points
        inferred, where that was done)."""
        converted = "; converted from millimetres" if self.from_millimetres else ""
        completed = (
            f"; seen from one side, {self.num_completed} points of its back inferred by symmetry"
            if self.num_completed
            else ""
        )
        return (
            f"object cloud: {self.num_input} points, {self.num_finite} finite, {self.num_after_crop} in the crop box, "
            f"{self.num_after_voxel} after voxels, {self.num_after_outliers} after outlier removal; "
            f"centroid {np.array2string(self.centroid, precision=4)} m{converted}{completed}"
        )

    def seen_and_inferred(self) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """The seen points (M, 3) and the inferred ones (``num_completed``, 3), or None where none were, metres,
        input frame (for previews that tell them apart)."""
        seen = len(self.points) - self.num_completed
        inferred = self.to_input_frame(self.points[seen:]) if self.num_completed else None
        return self.to_input_frame(self.points[:seen]), inferred

    @overload
    def to_input_frame(self, x: torch.Tensor) -> torch.Tensor: ...
    @overload
    def to_input_frame(self, x: NDArray[Any]) -> NDArray[np.float64]: ...
    def to_input_frame(self, x: torch.Tensor | NDArray[Any]) -> torch.Tensor | NDArray[np.float64]:
        """x (..., 3) metres, object frame -> (..., 3) input frame.

        numpy arrays come back float64 (input-frame coordinates may be far from the origin);
        tensors keep their dtype and device.
        """
        return _translate(x, self.centroid, 1.0)

    @overload
    def to_object_frame(self, x: torch.Tensor) -> torch.Tensor: ...
    @overload
    def to_object_frame(self, x: NDArray[Any]) -> NDArray[np.float64]: ...
    def to_object_frame(self, x: torch.Tensor | NDArray[Any]) -> torch.Tensor | NDArray[np.float64]:
        """x (..., 3) metres, input frame -> (..., 3) object frame; dtypes as in :meth:`to_input_frame`."""
        return _translate(x, self.centroid, -1.0)


def preprocess_cloud(
    points: ArrayLike | torch.Tensor,
    config: CloudPreprocessConfig | None = None,
    normals: ArrayLike | torch.Tensor | None = None,
    viewpoint: ArrayLike | torch.Tensor | None = None,
) -> PreparedCloud:
    """points (P, 3) metres, input frame, normals (P, 3) or None, viewpoint (3,) metres, input frame, or None
    -> PreparedCloud (object frame).

    The steps are those of the module docstring. Given normals are kept (unit-normalized;
    zero or NaN rows mean unknown) and averaged through the voxel step; they are trusted
    to point outward. Missing normals are estimated by PCA over ``normal_radius`` and
    oriented by open3d's consistent tangent-plane propagation, which handles concave parts
    that "away from the centroid" gets wrong; the whole estimated set is then flipped if
    it disagrees with the given normals (or, without any, if most of it faces away from the
    ``viewpoint``, else if most of it points towards the centroid). Where propagation fails (flat,
    linear or tiny clouds), or the cloud has more than ``orient_max_points``, each estimated normal
    points away from the centroid instead.

    ``viewpoint``: the position of the one depth camera that saw every point (the origin for a cloud
    in the camera's own frame, as depth drivers publish it). Every surface a camera sees faces it
    (PCL's viewpoint rule), so an estimated normal that faces clearly away from it (cosine below
    -CAMERA_FLIP_COSINE) is turned: propagation can carry a wrong sign across a crease into a whole
    part of a one-sided cloud (a dumbbell seen from the side: 38% of its normals), which then reads as
    seen all round and is not completed. Normals nearer grazing keep propagation's sign: there the
    camera's test is no better than the noise (turning every normal to face the camera left the
    inferred backs of 47 development clouds further from the truth, 5.6 against 5.2 mm; this rule
    5.3 mm, README "Clouds seen from one side"). The
    viewpoint must lie outside the cloud's bounding box; it is kept in the object frame
    (``PreparedCloud.viewpoint``).

    A cloud in millimetres (its span after the crop exceeds MILLIMETRE_SPAN units) is divided
    by 1000, with a logged warning kept in ``PreparedCloud.notes`` (module docstring).

    Raises DataError (one line) for a wrong shape, an empty or all-NaN cloud, more than
    ``max_input_points``, or fewer than ``min_points`` after any step (naming the step). The
    messages reach command-line and ROS users too, so they name settings in words ("the voxel
    size"), not by field, option or parameter name.
    """
    cfg = CloudPreprocessConfig() if config is None else config
    xyz = _as_numpy(points)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise DataError(f"points must be (P, 3), got shape {xyz.shape}")
    num_input = int(xyz.shape[0])
    if num_input == 0:
        raise DataError("the point cloud is empty (0 points); check the sensor topic or the segmentation upstream")
    if num_input > cfg.max_input_points:
        raise DataError(
            f"the point cloud has {num_input} points, more than the {cfg.max_input_points} allowed; "
            "crop or downsample it before it is sent"
        )
    if not (np.issubdtype(xyz.dtype, np.floating) or np.issubdtype(xyz.dtype, np.integer)):
        raise DataError(f"points must be numbers (metres), got dtype {xyz.dtype}")
    xyz = xyz.astype(np.float64, copy=False)
    camera = _viewpoint(viewpoint)
    given: NDArray[np.float64] | None = None
    if normals is not None:
        given = _as_numpy(normals)
        if given.shape != xyz.shape or not np.issubdtype(given.dtype, np.floating):
            raise DataError(f"normals must be float (P, 3) like points {xyz.shape}, got {given.dtype} {given.shape}")
        given = given.astype(np.float64, copy=False)

    keep = np.isfinite(xyz).all(axis=1)
    num_finite = int(keep.sum())
    if num_finite == 0:
        raise DataError(f"all {num_input} points are NaN or inf; the sensor saw no valid depth")
    if num_finite == num_input:  # nothing dropped: the cloud itself is too small
        _require_points(num_input, cfg, "", "a sparser or more distant view than the prior needs")
    _require_points(num_finite, cfg, "dropping NaN/inf rows", "the sensor returned too few valid depths")
    if cfg.crop_min is not None:
        keep &= (xyz >= np.asarray(cfg.crop_min)).all(axis=1)
    if cfg.crop_max is not None:
        keep &= (xyz <= np.asarray(cfg.crop_max)).all(axis=1)
    num_after_crop = int(keep.sum())
    _require_points(
        num_after_crop, cfg, "cropping", "widen the crop box, or check that its corners are metres in the cloud's frame"
    )
    xyz = xyz[keep]
    normals_in = None if given is None else _unknown_to_zero(given[keep])
    notes = []
    span = robust_span(xyz)
    if span > MILLIMETRE_SPAN:
        xyz = xyz / MILLIMETRES_PER_METRE
        camera = None if camera is None else camera / MILLIMETRES_PER_METRE
        notes.append(
            f"object cloud spans {span:.0f} units: it looks like millimetres (an object or a cropped scene in metres "
            f"spans at most a few); divided by 1000 - send metres, or crop a metre-scale scene to the object"
        )
        log.warning(notes[-1])

    o3d = import_open3d()
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
        if normals_in is not None:
            cloud.normals = o3d.utility.Vector3dVector(normals_in)
        if cfg.voxel_size > 0.0:
            try:
                cloud = cloud.voxel_down_sample(cfg.voxel_size)
            except RuntimeError as err:
                # open3d indexes voxels with 32-bit integers and refuses a grid that overflows them.
                extent = float(np.linalg.norm(cloud.get_max_bound() - cloud.get_min_bound()))
                raise DataError(
                    f"a voxel size of {cfg.voxel_size} m is too small for a cloud spanning {extent:.3g} m; "
                    "crop the cloud, or check it is in metres"
                ) from err
        num_after_voxel = len(cloud.points)
        _require_points(
            num_after_voxel, cfg, "voxel downsampling", f"use a smaller voxel size (now {cfg.voxel_size} m)"
        )
        # With no more points than neighbours there are no statistics to judge by, and
        # open3d then drops every point of a one- or two-point cloud.
        if 0 < cfg.outlier_neighbors < len(cloud.points):
            cloud, _ = cloud.remove_statistical_outlier(cfg.outlier_neighbors, cfg.outlier_std_ratio)
        num_after_outliers = len(cloud.points)
        _require_points(
            num_after_outliers,
            cfg,
            "outlier removal",
            f"relax the outlier removal (now {cfg.outlier_neighbors} neighbours, {cfg.outlier_std_ratio:g} "
            "standard deviations) or turn it off",
        )
        cleaned = np.asarray(cloud.points, dtype=np.float64)
        centroid = cleaned.mean(axis=0)
        local = cleaned - centroid
        normals_out = np.zeros_like(local)
        known = np.zeros(len(local), dtype=bool)
        if cloud.has_normals():
            averaged = np.asarray(cloud.normals, dtype=np.float64)
            length = np.linalg.norm(averaged, axis=1)
            # Opposite normals averaged in one voxel cancel; such a voxel's normal is unknown.
            known = length > 1e-3
            normals_out[known] = averaged[known] / length[known, None]
        local_camera = None if camera is None else _camera_outside(camera, cleaned) - centroid
        if not known.all():
            estimated = _estimated_normals(o3d, local, cfg, normals_out, known, local_camera)
            normals_out[~known] = estimated[~known]
    return PreparedCloud(
        points=local.astype(np.float32),
        normals=_sanitized_normals(normals_out, local).astype(np.float32),
        centroid=centroid,
        num_input=num_input,
        num_finite=num_finite,
        num_after_crop=num_after_crop,
        num_after_voxel=num_after_voxel,
        num_after_outliers=num_after_outliers,
        notes=notes,
        from_millimetres=span > MILLIMETRE_SPAN,
        viewpoint=local_camera,
    )


def complete_one_sided(cloud: PreparedCloud, closed_imbalance: float) -> PreparedCloud:
    """A cleaned cloud seen from one side -> the same with its point reflection appended; a cloud that
    covers its object all round, returned as it is.

    One-sided: |mean normal| (geometry.normals.normal_imbalance) at least ``closed_imbalance``.
    The camera's viewing direction is taken as minus the mean normal (the seen normals face the
    camera), so no camera pose is needed; where ``cloud.viewpoint`` is known it has already set the
    normals' signs (:func:`preprocess_cloud`). (Its own direction to the centroid, in place of the mean
    normal, left the inferred points further from the true surfaces on the development objects:
    6.4 against 5.2 mm on 47 clouds of seeds 7-9.) The reflection (geometry/symmetric_completion.py) is
    appended after the seen points, ``num_completed`` of them, in the same object frame: the
    origin stays at the seen points' centroid, the frame the prior learned one-sided clouds in
    (data/grasp_pairs.py), so the encoder can be given the seen points alone. A note says how
    many points were added.
    """
    mean_normal = cloud.normals.astype(np.float64).mean(axis=0)
    if float(np.linalg.norm(mean_normal)) < closed_imbalance:
        return cloud
    completed = complete_by_point_symmetry(cloud.points, cloud.normals, -mean_normal)
    if completed.added == 0:
        return cloud
    notes = [
        *cloud.notes,
        f"the object cloud is seen from one side: its back is estimated by the point reflection of what was seen "
        f"({completed.added} points added to {len(cloud.points)})",
    ]
    log.info(notes[-1])
    return dataclasses.replace(
        cloud,
        points=completed.points.astype(np.float32),
        normals=completed.normals.astype(np.float32),
        notes=notes,
        num_completed=completed.added,
    )


def robust_span(points: NDArray[np.floating]) -> float:
    """points (P, 3), finite, any unit -> the largest axis extent between the 1st and 99th percentiles (0 when empty).

    The unit test of :func:`preprocess_cloud`: stray depths (the outermost 1% on each side of
    each axis) do not count.
    """
    if len(points) == 0:
        return 0.0
    low, high = np.percentile(points, _SPAN_PERCENTILES, axis=0)
    return float((high - low).max())


def resample_points(
    points: ArrayLike, normals: ArrayLike, num: int, seed: int
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """points (M, 3), normals (M, 3) -> (num, 3), (num, 3), same float dtype; deterministic for a seed.

    M >= num: a random subset without replacement. M < num: every point once plus random
    repeats, in random order. Repeats add no information but change nothing either for an
    encoder that max-pools over points (PointNet++): a duplicate's features equal its
    original's, so the maximum is the same; only ball-query neighbour counts see them.
    """
    p = np.asarray(points)
    n = np.asarray(normals)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise DataError(f"points must be (M, 3) with M >= 1, got shape {p.shape}")
    if n.shape != p.shape:
        raise DataError(f"normals must be (M, 3) like points {p.shape}, got shape {n.shape}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise DataError(f"the number of points to resample to must be a positive integer, got {num!r}")
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    if not np.issubdtype(n.dtype, np.floating):
        n = n.astype(np.float64)
    rng = np.random.default_rng(seed)
    count = len(p)
    if count >= num:
        index = rng.choice(count, size=num, replace=False)
    else:
        index = rng.permutation(np.concatenate([np.arange(count), rng.integers(0, count, size=num - count)]))
    return p[index], n[index]


@dataclasses.dataclass(frozen=True)
class SensorView:
    """points (P', 3) float64 metres: what one depth camera saw (corrupt_like_sensor); camera (3,) float64 metres,
    the same frame: where it stood."""

    points: NDArray[np.float64]
    camera: NDArray[np.float64]


def _camera_along(points: NDArray[np.float64], direction: NDArray[np.float64]) -> NDArray[np.float64]:
    """A camera looking along unit ``direction`` at the centroid of points (P, 3), 3 bounding-box diagonals off."""
    extent = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    return np.asarray(points.mean(axis=0) - 3.0 * max(extent, 1e-3) * direction, dtype=np.float64)


def corrupt_like_sensor(
    points: ArrayLike,
    normals: ArrayLike | None,
    seed: int,
    noise_std: float = 0.002,
    outlier_fraction: float = 0.05,
    view_direction: ArrayLike | None = None,
) -> SensorView:
    """points (P, 3) metres, normals (P, 3) outward or None -> SensorView: one noisy depth view, and its camera.

    Keeps the side seen by a camera looking along ``view_direction`` (3,) (default: a random
    direction for the seed): with normals, the points whose normal faces the camera
    (n . -d > 0); without, those open3d's hidden-point removal sees from a camera at
    centroid - 3 * (bounding-box diagonal) * d, all of them if the cloud is flat or linear.
    Then adds Gaussian noise of ``noise_std`` metres to each kept point and appends
    round(outlier_fraction * kept) points uniform in the kept points' bounding box grown
    by 20%. The camera stands at centroid - 3 * (bounding-box diagonal) * d in either case
    (SensorView.camera: the viewpoint a depth driver's cloud carries). Deterministic for a seed.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0 or not np.isfinite(p).all():
        raise DataError(f"points must be finite (P, 3) with P >= 1, got shape {p.shape}")
    if not (math.isfinite(noise_std) and noise_std >= 0.0):
        raise DataError(f"noise_std must be a finite number >= 0 (metres), got {noise_std}")
    if not (math.isfinite(outlier_fraction) and outlier_fraction >= 0.0):
        raise DataError(f"outlier_fraction must be a finite number >= 0, got {outlier_fraction}")
    rng = np.random.default_rng(seed)
    if view_direction is None:
        direction = rng.normal(size=3)
    else:
        direction = np.asarray(view_direction, dtype=np.float64)
        if direction.shape != (3,) or not np.isfinite(direction).all():
            raise DataError(f"view_direction must be a finite (3,) vector, got {direction.shape}")
    length = float(np.linalg.norm(direction))
    if length < 1e-12:
        raise DataError("view_direction is the zero vector; give the direction the camera looks along")
    direction = direction / length
    camera = _camera_along(p, direction)

    if normals is not None:
        n = np.asarray(normals, dtype=np.float64)
        if n.shape != p.shape:
            raise DataError(f"normals must be (P, 3) like points {p.shape}, got shape {n.shape}")
        visible = n @ -direction > 0.0
    else:
        visible = _visible_from(p, camera)
    kept = p[visible]
    if len(kept) == 0:
        raise DataError("no point faces the camera along view_direction; check that the normals point outward")
    kept = kept + rng.normal(scale=noise_std, size=kept.shape)
    num_outliers = round(outlier_fraction * len(kept))
    low, high = kept.min(axis=0), kept.max(axis=0)
    center, half = (low + high) / 2.0, (high - low) / 2.0 * 1.2
    outliers = rng.uniform(center - half, center + half, size=(num_outliers, 3))
    return SensorView(np.concatenate([kept, outliers]), camera)


def _visible_from(points: NDArray[np.float64], camera: NDArray[np.float64]) -> NDArray[np.bool_]:
    o3d = import_open3d()
    extent = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    visible = np.ones(len(points), dtype=bool)
    if extent <= 0.0 or len(points) < _ORIENT_MIN_POINTS:
        return visible
    distance = 3.0 * extent
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        try:
            # A large radius makes the spherical flip approach exact visibility (open3d's
            # tutorial uses 100 diameters).
            _, index = cloud.hidden_point_removal(camera, 100.0 * distance)
        except RuntimeError:
            # Qhull cannot hull a flat or linear cloud; such a cloud hides none of itself.
            return visible
    visible[:] = False
    visible[np.asarray(index, dtype=np.int64)] = True
    return visible


def _estimated_normals(
    o3d: Any,
    local: NDArray[np.float64],
    cfg: CloudPreprocessConfig,
    given: NDArray[np.float64],
    known: NDArray[np.bool_],
    camera: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """local (M, 3) metres, object frame -> (M, 3) unit normals: PCA, oriented by propagation (or away from the
    centroid), the whole set's sign from the given normals, else from the camera (3,) where known, else from the
    centroid; then, with a camera, each normal that faces away from it by more than CAMERA_FLIP_COSINE turned."""
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(local))
    cloud.estimate_normals(
        o3d.geometry.KDTreeSearchParamHybrid(radius=cfg.normal_radius, max_nn=cfg.normal_max_neighbors)
    )
    oriented = False
    if _ORIENT_MIN_POINTS <= len(local) <= cfg.orient_max_points:
        try:
            cloud.orient_normals_consistent_tangent_plane(ORIENT_NEIGHBORS)
            oriented = True
        except RuntimeError:
            # Qhull's Delaunay fails on flat, linear or coincident clouds.
            oriented = False
    normals = np.asarray(cloud.normals, dtype=np.float64).copy()
    radial = (normals * local).sum(axis=1)
    if not oriented:
        normals[radial < 0.0] *= -1.0
        radial = np.abs(radial)
    # Propagation fixes orientation only up to one sign for the whole cloud.
    if known.any():
        agreement = (normals[known] * given[known]).sum(axis=1)
    elif camera is not None:
        agreement = _cosine_towards(normals, local, camera)
    else:
        agreement = radial
    if (agreement < 0.0).sum() > (agreement > 0.0).sum():
        normals = -normals
    if camera is not None:
        # Every surface a camera sees faces it: a normal turned clearly away from it is one that propagation
        # carried across a crease with the wrong sign. Near grazing the test is no better than the noise, and
        # propagation's sign, continuous with the neighbours', stays.
        normals[_cosine_towards(normals, local, camera) < -CAMERA_FLIP_COSINE] *= -1.0
    return normals


def _cosine_towards(
    normals: NDArray[np.float64], points: NDArray[np.float64], camera: NDArray[np.float64]
) -> NDArray[np.float64]:
    """normals, points (M, 3), camera (3,) metres -> (M,) cosine between each normal and the way to the camera."""
    to_camera = camera - points
    return (normals * to_camera).sum(axis=1) / np.maximum(np.linalg.norm(to_camera, axis=1), 1e-12)


def _viewpoint(viewpoint: ArrayLike | torch.Tensor | None) -> NDArray[np.float64] | None:
    if viewpoint is None:
        return None
    camera = _as_numpy(viewpoint)
    if camera.shape != (3,) or not np.issubdtype(camera.dtype, np.number) or not np.isfinite(camera).all():
        raise DataError(
            f"the viewpoint must be 3 finite numbers (the camera's position in the cloud's frame, metres), "
            f"got {np.array2string(np.asarray(camera).ravel()[:6])} of shape {camera.shape}"
        )
    return camera.astype(np.float64)


def _camera_outside(camera: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """camera (3,), points (M, 3) metres, one frame -> camera, or DataError where it lies within the points' box."""
    if bool(((points.min(axis=0) <= camera) & (camera <= points.max(axis=0))).all()):
        raise DataError(
            f"the viewpoint {np.array2string(camera, precision=3)} m lies within the cloud's bounding box; "
            "give the position of the camera that saw it, in the cloud's frame (the origin for a cloud in the "
            "camera's own frame)"
        )
    return camera


def _sanitized_normals(normals: NDArray[np.float64], local: NDArray[np.float64]) -> NDArray[np.float64]:
    # A point without neighbours in the normal radius gets open3d's placeholder or a zero
    # vector; pointing it away from the centroid is the best guess left.
    length = np.linalg.norm(normals, axis=1)
    bad = ~np.isfinite(length) | (length < 0.5)
    if bad.any():
        radial = local[bad]
        radial_length = np.linalg.norm(radial, axis=1, keepdims=True)
        fallback = np.where(radial_length > 1e-12, radial / np.maximum(radial_length, 1e-12), [0.0, 0.0, 1.0])
        normals = normals.copy()
        normals[bad] = fallback
        length = np.linalg.norm(normals, axis=1)
    return normals / length[:, None]


def _unknown_to_zero(normals: NDArray[np.float64]) -> NDArray[np.float64]:
    # Zero rows do not bias open3d's per-voxel average of the known ones' directions.
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    known = np.isfinite(length) & (length > 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known, normals / length, 0.0)


def _require_points(count: int, cfg: CloudPreprocessConfig, step: str, hint: str) -> None:
    """DataError when fewer than cfg.min_points are left after ``step`` ("": in the input as given)."""
    if count >= cfg.min_points:
        return
    if not step:
        raise DataError(f"the cloud has {count} points; at least {cfg.min_points} needed ({hint})")
    raise DataError(f"only {count} points left after {step}, fewer than the {cfg.min_points} needed; {hint}")


def _as_numpy(values: ArrayLike | torch.Tensor) -> NDArray[Any]:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _translate(x: torch.Tensor | NDArray[Any], centroid: NDArray[np.float64], sign: float) -> Any:
    if isinstance(x, torch.Tensor):
        if x.shape[-1:] != (3,) or not x.is_floating_point():
            raise DataError(f"expected a float tensor (..., 3) of positions, got {x.dtype} {tuple(x.shape)}")
        return x + sign * torch.as_tensor(centroid, dtype=x.dtype, device=x.device)
    array = np.asarray(x)
    if array.ndim == 0 or array.shape[-1] != 3:
        raise DataError(f"expected positions (..., 3), got shape {array.shape}")
    return array.astype(np.float64) + sign * centroid


def _corner(name: str, value: Any) -> Corner | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) != 3:
        raise ConfigError(f"CloudPreprocessConfig.{name} must be None or three numbers (x, y, z metres), got {value!r}")
    x, y, z = (require_float("CloudPreprocessConfig", f"{name}[{i}]", v) for i, v in enumerate(value))
    return (x, y, z)
