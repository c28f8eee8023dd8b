"""Sensor cloud preparation: cleaning steps, frames, normals, resampling, simulated depth views."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import numpy as np
import pytest
import torch
import trimesh

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.io.object_files import sample_mesh_surface
from interhandgen_core.pipelines.sensor_cloud import (
    CAMERA_FLIP_COSINE,
    CloudPreprocessConfig,
    PreparedCloud,
    complete_one_sided,
    corrupt_like_sensor,
    preprocess_cloud,
    resample_points,
)

RADIUS = 0.05
CENTER = np.array([0.3, -0.1, 0.8])


def _sphere(num: int, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Points on a 5 cm sphere around CENTER (a camera-frame position) and their outward normals."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(num, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return CENTER + directions * RADIUS + rng.normal(scale=noise, size=(num, 3)), directions


def _outward_fraction(cloud: PreparedCloud) -> float:
    return float(((cloud.normals * cloud.points).sum(axis=1) > 0).mean())


def _data_error(match: str) -> Any:
    return pytest.raises(DataError, match=match)


def _assert_exact_one_line(info: pytest.ExceptionInfo[DataError]) -> None:
    assert type(info.value) is DataError
    assert "\n" not in str(info.value)


def test_config_defaults_and_validation() -> None:
    config = CloudPreprocessConfig(crop_min=[-1, -1, 0], crop_max=(1.0, 1.0, 2))  # type: ignore[arg-type]
    assert config.crop_min == (-1.0, -1.0, 0.0) and isinstance(config.crop_min, tuple)
    assert config.voxel_size == 0.004 and config.min_points == 32
    assert CloudPreprocessConfig(voxel_size=0, outlier_neighbors=0).voxel_size == 0.0
    for kwargs, match in [
        ({"voxel_size": -0.001}, r"voxel_size must be in \[0, 0.05\]"),
        ({"voxel_size": 0.06}, r"voxel_size must be in \[0, 0.05\]"),
        ({"voxel_size": float("nan")}, "finite number"),
        ({"crop_min": (0, 0, 0), "crop_max": (1, 0, 1)}, "below crop_max"),
        ({"crop_min": (0, 0)}, "three numbers"),
        ({"outlier_neighbors": -1}, "outlier_neighbors must be >= 0"),
        ({"outlier_neighbors": True}, "must be an integer"),
        ({"outlier_std_ratio": 0.0}, "must be > 0"),
        ({"normal_radius": 0.003}, "must exceed voxel_size"),
        ({"normal_max_neighbors": 2}, ">= 3"),
        ({"min_points": 0}, ">= 1"),
        ({"max_input_points": 10, "min_points": 20}, "exceeds max_input_points"),
    ]:
        with pytest.raises(ConfigError, match=match):
            CloudPreprocessConfig(**kwargs)  # type: ignore[arg-type]


def test_sphere_is_centred_and_its_normals_point_outward() -> None:
    points, _ = _sphere(6000, noise=0.0005)
    cloud = preprocess_cloud(points)
    assert cloud.points.dtype == np.float32 and cloud.normals.dtype == np.float32
    assert cloud.points.shape == cloud.normals.shape and cloud.points.shape[1] == 3
    assert cloud.centroid.dtype == np.float64
    np.testing.assert_allclose(cloud.centroid, CENTER, atol=2e-3)
    np.testing.assert_allclose(cloud.points.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-5)
    assert _outward_fraction(cloud) > 0.95
    assert cloud.num_input == cloud.num_finite == cloud.num_after_crop == 6000
    assert cloud.num_after_voxel < 6000 and cloud.num_after_outliers <= cloud.num_after_voxel
    assert len(cloud.points) == cloud.num_after_outliers
    assert "6000 points" in cloud.summary()


def test_concave_torus_normals_agree_with_the_surface() -> None:
    # Away from the centroid is wrong on the inner ring; consistent orientation is not.
    torus = trimesh.creation.torus(major_radius=0.06, minor_radius=0.02)
    points, normals = sample_mesh_surface(torus.vertices, torus.faces, 15000, seed=0)
    cloud = preprocess_cloud(points)
    nearest = np.argmin(((points[None, ::4] - cloud.to_input_frame(cloud.points)[:, None]) ** 2).sum(-1), axis=1) * 4
    agreement = ((cloud.normals * normals[nearest]).sum(axis=1) > 0).mean()
    assert agreement > 0.95
    assert ((cloud.normals * cloud.points).sum(axis=1) < 0).mean() > 0.2  # the inner ring faces the centre


def test_large_clouds_skip_consistent_orientation_and_point_away_from_the_centroid() -> None:
    cloud = preprocess_cloud(_sphere(3000)[0], CloudPreprocessConfig(orient_max_points=0))
    assert _outward_fraction(cloud) > 0.99


def test_given_normals_are_kept_even_where_some_are_missing() -> None:
    points, normals = _sphere(3000)
    given = normals.copy()
    given[::2] = np.nan  # unknown for half the points
    cloud = preprocess_cloud(points, CloudPreprocessConfig(voxel_size=0.0, outlier_neighbors=0), normals=given)
    assert len(cloud.points) == 3000
    np.testing.assert_allclose(cloud.normals[1::2], normals[1::2], atol=1e-6)
    assert _outward_fraction(cloud) > 0.95
    averaged = preprocess_cloud(points, normals=normals)
    assert _outward_fraction(averaged) > 0.99


def test_far_outliers_are_removed() -> None:
    points, _ = _sphere(20000, noise=0.0005)
    outliers = CENTER + np.random.default_rng(1).uniform(-0.5, 0.5, size=(200, 3))
    outliers = outliers[np.abs(np.linalg.norm(outliers - CENTER, axis=1) - RADIUS) > 0.05]
    cloud = preprocess_cloud(np.concatenate([points, outliers]))
    distance = np.abs(np.linalg.norm(cloud.to_input_frame(cloud.points) - CENTER, axis=1) - RADIUS)
    # The outliers themselves widen the distance statistics, so the nearest few may stay.
    assert (distance > 0.15).sum() == 0 and _off_sphere(cloud).sum() < 0.05 * len(outliers)
    kept = preprocess_cloud(np.concatenate([points, outliers]), CloudPreprocessConfig(outlier_neighbors=0))
    assert _off_sphere(kept).sum() == len(outliers)


def test_sensor_like_outliers_are_thinned() -> None:
    # Outliers spread through the object's own bounding box sit as close to each other as
    # voxelized surface points do; outlier removal at the defaults drops about half of them,
    # a lower outlier_std_ratio most.
    points, normals = _sphere(20000)
    view = corrupt_like_sensor(points, normals, seed=0, noise_std=0.001, outlier_fraction=0.05).points
    off_before = (np.abs(np.linalg.norm(view - CENTER, axis=1) - RADIUS) > 0.01).sum()
    assert off_before > 250
    assert _off_sphere(preprocess_cloud(view)).sum() < 0.6 * off_before
    assert _off_sphere(preprocess_cloud(view, CloudPreprocessConfig(outlier_std_ratio=1.0))).sum() < 0.15 * off_before


def _off_sphere(cloud: PreparedCloud) -> np.ndarray:
    return np.abs(np.linalg.norm(cloud.to_input_frame(cloud.points) - CENTER, axis=1) - RADIUS) > 0.01


def test_nan_rows_are_dropped_and_crop_keeps_the_box() -> None:
    points, _ = _sphere(3000)
    far, _ = _sphere(3000, seed=1)
    far += [0.5, 0.0, 0.0]
    cloud_in = np.concatenate([points, far, np.full((100, 3), np.nan), [[np.inf, 0.0, 0.0]]])
    config = CloudPreprocessConfig(crop_min=tuple(CENTER - 0.1), crop_max=tuple(CENTER + 0.1))
    cloud = preprocess_cloud(cloud_in, config)
    assert (cloud.num_input, cloud.num_finite, cloud.num_after_crop) == (6101, 6000, 3000)
    np.testing.assert_allclose(cloud.centroid, CENTER, atol=3e-3)
    assert (np.abs(cloud.to_input_frame(cloud.points) - CENTER) <= 0.1).all()


def test_a_million_points_are_reduced_by_the_voxel_step_quickly() -> None:
    points, _ = _sphere(1_000_000, noise=0.001)
    start = time.perf_counter()
    cloud = preprocess_cloud(points)
    elapsed = time.perf_counter() - start
    assert cloud.num_input == 1_000_000 and cloud.num_after_voxel < 20_000
    assert _outward_fraction(cloud) > 0.95
    assert elapsed < 20.0, f"{elapsed:.1f} s"


def test_frames_round_trip_for_numpy_and_torch() -> None:
    cloud = preprocess_cloud(_sphere(2000)[0])
    x = np.random.default_rng(2).normal(size=(4, 5, 3))
    in_object = cloud.to_object_frame(x)
    assert in_object.dtype == np.float64 and in_object.shape == x.shape
    np.testing.assert_allclose(cloud.to_input_frame(in_object), x, atol=1e-12)
    np.testing.assert_allclose(in_object, x - CENTER, atol=3e-3)
    np.testing.assert_allclose(cloud.to_input_frame(cloud.points).mean(axis=0), cloud.centroid, atol=1e-6)
    t = torch.as_tensor(x, dtype=torch.float32)
    back = cloud.to_input_frame(cloud.to_object_frame(t))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    torch.testing.assert_close(back, t)
    with _data_error(r"\(\.\.\., 3\)"):
        cloud.to_input_frame(np.zeros((4, 2)))
    with _data_error("float tensor"):
        cloud.to_object_frame(torch.zeros(4, 3, dtype=torch.int64))


def test_torch_input_is_accepted() -> None:
    points, _ = _sphere(2000)
    from_numpy = preprocess_cloud(points)
    from_torch = preprocess_cloud(torch.as_tensor(points))
    np.testing.assert_array_equal(from_numpy.points, from_torch.points)


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((200, 3)) + np.linspace(0.0, 0.2, 200)[:, None] * [1.0, 0.0, 0.0],  # a line
        np.stack(np.meshgrid(np.linspace(0, 0.1, 30), np.linspace(0, 0.1, 30), [0.0]), -1).reshape(-1, 3),  # a plane
        np.random.default_rng(3).normal(scale=0.0001, size=(50, 3)),  # a speck
    ],
    ids=["line", "plane", "speck"],
)
def test_degenerate_clouds_do_not_crash(points: np.ndarray) -> None:
    config = CloudPreprocessConfig(voxel_size=0.0, outlier_neighbors=0, min_points=1)
    cloud = preprocess_cloud(points, config)
    assert len(cloud.points) == len(points)
    assert np.isfinite(cloud.normals).all()
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-5)


def test_tiny_clouds_do_not_crash() -> None:
    config = CloudPreprocessConfig(min_points=1)
    for num in (1, 2, 3, 5):
        cloud = preprocess_cloud(np.random.default_rng(num).normal(scale=0.05, size=(num, 3)), config)
        np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-5)


def test_bad_clouds_raise_one_line_data_errors() -> None:
    points, _ = _sphere(500)
    config = CloudPreprocessConfig()
    for bad, cfg, match in [
        (np.zeros((0, 3)), config, "empty"),
        (np.full((100, 3), np.nan), config, "NaN or inf"),
        (np.zeros((10, 2)), config, r"\(P, 3\)"),
        (np.zeros((2, 10, 3)), config, r"\(P, 3\)"),
        (np.array([["a", "b", "c"]] * 40), config, "dtype"),
        (points, CloudPreprocessConfig(max_input_points=499), "more than the 499 allowed; crop or downsample"),
        (points[:10], config, r"^the cloud has 10 points; at least 32 needed \(a sparser"),  # nothing dropped
        (np.where(np.arange(40)[:, None] < 20, np.nan, points[:40]), config, "only 20 points left after dropping NaN"),
        (points, CloudPreprocessConfig(crop_min=(5.0, 5.0, 5.0)), "after cropping.*widen the crop box"),
        (np.ones((1000, 3)), config, "after voxel downsampling.*smaller voxel size"),
        (points, CloudPreprocessConfig(voxel_size=1e-12, normal_radius=0.01), "too small for a cloud spanning"),
        (
            np.concatenate([np.zeros((35, 3)), np.ones((2, 3))]),
            CloudPreprocessConfig(voxel_size=0.0, outlier_neighbors=3, min_points=36),
            "after outlier removal.*relax the outlier removal",
        ),
    ]:
        with _data_error(match) as info:
            preprocess_cloud(bad, cfg)
        _assert_exact_one_line(info)
        # The messages reach command-line and ROS users: settings in words, no field names.
        assert not re.search(r"[a-z]+_[a-z_]+=|crop_m|voxel_size|outlier_|_points", str(info.value)), str(info.value)
    with _data_error("normals must be") as info:
        preprocess_cloud(points, config, normals=np.zeros((10, 3)))
    _assert_exact_one_line(info)


def test_resample_points_subsets_or_repeats_deterministically() -> None:
    points = np.arange(30, dtype=np.float32).reshape(10, 3)
    normals = -points
    sub_p, sub_n = resample_points(points, normals, 6, seed=0)
    assert sub_p.shape == (6, 3) and sub_p.dtype == np.float32
    assert len({tuple(row) for row in sub_p}) == 6  # no repeats
    np.testing.assert_array_equal(sub_n, -sub_p)  # rows stay paired
    again_p, _ = resample_points(points, normals, 6, seed=0)
    np.testing.assert_array_equal(sub_p, again_p)
    up_p, up_n = resample_points(points, normals, 25, seed=1)
    assert up_p.shape == (25, 3)
    assert {tuple(row) for row in up_p} == {tuple(row) for row in points}  # every point at least once
    np.testing.assert_array_equal(up_n, -up_p)
    with _data_error("positive integer"):
        resample_points(points, normals, 0, seed=0)
    with _data_error("normals must be"):
        resample_points(points, normals[:5], 4, seed=0)
    with _data_error(r"\(M, 3\)"):
        resample_points(np.zeros((0, 3)), np.zeros((0, 3)), 4, seed=0)


def test_corrupt_like_sensor_keeps_about_half_a_sphere() -> None:
    points, normals = _sphere(4000)
    seen = corrupt_like_sensor(points, normals, seed=0, noise_std=0.0, outlier_fraction=0.0, view_direction=(0, 0, 1))
    view = seen.points
    # The camera stands 3 bounding-box diagonals before the centroid, looking along +z.
    np.testing.assert_allclose(seen.camera, CENTER - [0, 0, 3 * np.linalg.norm(np.ptp(points, axis=0))], atol=0.005)
    assert view.dtype == np.float64 and 0.45 < len(view) / 4000 < 0.55
    assert (view[:, 2] < CENTER[2] + 1e-9).all()  # the camera looks along +z, so it sees the -z side
    hidden = corrupt_like_sensor(
        points, None, seed=0, noise_std=0.0, outlier_fraction=0.0, view_direction=(0, 0, 1)
    ).points
    assert 0.35 < len(hidden) / 4000 < 0.55 and (hidden[:, 2] < CENTER[2] + 0.01).all()
    random_view = corrupt_like_sensor(points, normals, seed=5).points
    np.testing.assert_array_equal(random_view, corrupt_like_sensor(points, normals, seed=5).points)
    assert 0.45 * 1.05 < len(random_view) / 4000 < 0.55 * 1.05


def test_corrupt_like_sensor_adds_noise_and_outliers() -> None:
    points, normals = _sphere(8000)
    clean = corrupt_like_sensor(points, normals, seed=2, noise_std=0.0, outlier_fraction=0.0).points
    noisy = corrupt_like_sensor(points, normals, seed=2, noise_std=0.002, outlier_fraction=0.1).points
    kept = len(clean)
    assert len(noisy) == kept + round(0.1 * kept)
    radial_error = np.linalg.norm(noisy[:kept] - CENTER, axis=1) - RADIUS
    assert 0.0015 < radial_error.std() < 0.0025
    low, high = noisy[:kept].min(axis=0), noisy[:kept].max(axis=0)
    margin = 0.1 * (high - low) + 1e-9
    outliers = noisy[kept:]
    assert ((outliers >= low - margin) & (outliers <= high + margin)).all()


def test_corrupt_like_sensor_handles_flat_clouds_and_refuses_bad_input() -> None:
    flat = np.stack(np.meshgrid(np.linspace(0, 0.1, 20), np.linspace(0, 0.1, 20), [0.0]), -1).reshape(-1, 3)
    assert len(corrupt_like_sensor(flat, None, seed=0, noise_std=0.0, outlier_fraction=0.0).points) == len(flat)
    points, normals = _sphere(100)
    for kwargs, match in [
        ({"view_direction": (0, 0, 0)}, "zero vector"),
        ({"view_direction": (1, 0)}, r"\(3,\)"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"outlier_fraction": float("nan")}, "outlier_fraction"),
    ]:
        with _data_error(match) as info:
            corrupt_like_sensor(points, normals, seed=0, **kwargs)  # type: ignore[arg-type]
        _assert_exact_one_line(info)
    with _data_error("faces the camera"):
        corrupt_like_sensor(points, np.tile([0.0, 0.0, 1.0], (100, 1)), seed=0, view_direction=(0, 0, 1))
    with _data_error(r"\(P, 3\)"):
        corrupt_like_sensor(np.zeros((5, 2)), None, seed=0)


@pytest.mark.parametrize("diameter_mm", [20.0, 100.0, 1500.0])
def test_a_cloud_in_millimetres_is_converted_with_a_warning(
    diameter_mm: float, caplog: pytest.LogCaptureFixture
) -> None:
    points, normals = _sphere(4000)
    in_metres = CENTER + (points - CENTER) * (diameter_mm / 1000.0 / (2 * RADIUS))
    with caplog.at_level("WARNING", logger="interhandgen_core"):
        cloud = preprocess_cloud(in_metres * 1000.0, CloudPreprocessConfig(voxel_size=0.0), normals)
    assert len(cloud.notes) == 1 and "looks like millimetres" in cloud.notes[0]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == cloud.notes
    assert "\n" not in cloud.notes[0] and "converted from millimetres" in cloud.summary()
    # Everything comes back in metres: the object's size and its place in the (metre) input frame.
    np.testing.assert_allclose(np.ptp(cloud.points, axis=0).max(), diameter_mm / 1000.0, rtol=0.02)
    np.testing.assert_allclose(cloud.centroid, CENTER, atol=diameter_mm / 1000.0 * 0.02)


@pytest.mark.parametrize(
    ("extent_m", "crop"),
    [(0.02, False), (0.3, False), (1.5, False), (8.0, False), (40.0, True)],
    ids=["2 cm", "30 cm", "1.5 m", "8 m scene", "40 m scene cropped"],
)
def test_metre_clouds_are_not_taken_for_millimetres(
    extent_m: float, crop: bool, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    points = CENTER + rng.uniform(-extent_m / 2, extent_m / 2, size=(4000, 3))
    config = CloudPreprocessConfig(voxel_size=0.0, outlier_neighbors=0)
    if crop:  # a wide scene cropped to a table top around the object
        object_points, _ = _sphere(2000)
        points = np.concatenate([points, object_points])
        config = CloudPreprocessConfig(
            voxel_size=0.0, outlier_neighbors=0, crop_min=tuple(CENTER - 1.0), crop_max=tuple(CENTER + 1.0)
        )
    with caplog.at_level("WARNING", logger="interhandgen_core"):
        cloud = preprocess_cloud(points, config)
    assert cloud.notes == [] and not caplog.records
    assert np.ptp(cloud.to_input_frame(cloud.points), axis=0).max() <= (2.0 if crop else extent_m) + 1e-9


def test_a_one_sided_view_of_a_sphere_is_completed_round_it() -> None:
    """One noisy depth view of the 5 cm sphere, cleaned: the completion adds its back, so that the cloud covers the
    sphere all round, while the seen points, the frame and everything else stay as they were."""
    points, normals = _sphere(6000)
    view = corrupt_like_sensor(points, normals, seed=4, view_direction=[0.2, -0.3, 1.0]).points
    seen = preprocess_cloud(view)
    done = complete_one_sided(seen, closed_imbalance=0.2)
    assert done.num_completed > 0.6 * len(seen.points) and len(done.points) == len(seen.points) + done.num_completed
    assert np.array_equal(done.points[: len(seen.points)], seen.points)
    assert np.array_equal(done.centroid, seen.centroid) and seen.num_completed == 0
    assert any("seen from one side" in note for note in done.notes) and not seen.notes
    world = done.to_input_frame(done.points)
    radial = np.linalg.norm(world - CENTER, axis=1)
    assert np.median(np.abs(radial[len(seen.points) :] - RADIUS)) < 0.008  # the added points lie on the sphere
    assert np.linalg.norm(world.mean(axis=0) - CENTER) < 0.3 * np.linalg.norm(seen.centroid - CENTER)
    assert np.linalg.norm(done.normals.mean(axis=0)) < 0.5 * np.linalg.norm(seen.normals.mean(axis=0))


def test_a_cloud_all_round_is_not_completed() -> None:
    points, normals = _sphere(4000)
    cloud = preprocess_cloud(points, normals=normals)
    assert complete_one_sided(cloud, closed_imbalance=0.2) is cloud


def test_a_viewpoint_leaves_no_estimated_normal_facing_away_from_the_camera() -> None:
    """With the camera's position, no estimated normal of a one-sided view faces clearly away from it, and each
    agrees with the exact outward normal wherever the surface faces the camera by more than a grazing angle; the
    viewpoint is kept in the object frame. Given on the far side, it turns the whole set inward."""
    points, normals = _sphere(6000)
    direction = np.array([0.2, -0.3, 1.0]) / np.linalg.norm([0.2, -0.3, 1.0])
    view = corrupt_like_sensor(points, normals, seed=4, noise_std=0.001, outlier_fraction=0.0, view_direction=direction)
    cloud = preprocess_cloud(view.points, viewpoint=view.camera)
    np.testing.assert_allclose(cloud.viewpoint, view.camera - cloud.centroid)
    assert (_facing(cloud) >= -CAMERA_FLIP_COSINE).all()
    exact = cloud.to_input_frame(cloud.points) - CENTER
    exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    assert ((cloud.normals * exact).sum(axis=1)[exact @ -direction > 0.2] > 0.5).all()
    assert preprocess_cloud(view.points).viewpoint is None
    far_side = preprocess_cloud(view.points, viewpoint=2.0 * CENTER - view.camera)
    assert (_facing(far_side) >= -CAMERA_FLIP_COSINE).all() and (_facing(far_side) > 0).mean() > 0.9


def _facing(cloud: PreparedCloud) -> np.ndarray:
    assert cloud.viewpoint is not None
    towards = cloud.viewpoint - cloud.points
    return (cloud.normals * towards).sum(axis=1) / np.linalg.norm(towards, axis=1)


def test_a_viewpoint_repairs_normals_that_propagation_flipped() -> None:
    """A dumbbell of the development objects (seed 9, object 12) seen from the side: propagation carries a wrong
    sign into most of it (a third of the normals face the camera), so the cloud reads as seen all round and gets
    no back. With the camera's position none faces clearly away, and the back is inferred."""
    objects = generate_objects(13, seed=9)
    points, normals = objects.sample_surface(4096, seed=9)
    view = corrupt_like_sensor(points[12].numpy(), normals[12].numpy(), seed=21)
    unknown = preprocess_cloud(view.points)
    seen = preprocess_cloud(view.points, viewpoint=view.camera)
    camera_at = dataclasses.replace(unknown, viewpoint=seen.viewpoint)
    assert (_facing(camera_at) < -CAMERA_FLIP_COSINE).mean() > 0.2 and complete_one_sided(
        unknown, 0.2
    ).num_completed == 0
    assert (_facing(seen) >= -CAMERA_FLIP_COSINE).all() and complete_one_sided(seen, 0.2).num_completed > 1000


def test_a_viewpoint_is_converted_with_a_cloud_in_millimetres() -> None:
    points, normals = _sphere(3000)
    view = corrupt_like_sensor(points, normals, seed=1, outlier_fraction=0.0, view_direction=(0, 0, 1))
    metres = preprocess_cloud(view.points, viewpoint=view.camera)
    millimetres = preprocess_cloud(1000.0 * view.points, viewpoint=1000.0 * view.camera)
    np.testing.assert_allclose(millimetres.viewpoint, metres.viewpoint, atol=1e-3)


def test_a_bad_viewpoint_is_refused_in_one_line() -> None:
    points, _ = _sphere(2000)
    for viewpoint, match in [
        ((0.0, 0.0), "3 finite numbers"),
        ((np.nan, 0.0, 0.0), "3 finite numbers"),
        (("a", "b", "c"), "3 finite numbers"),
        (tuple(CENTER), "within the cloud's bounding box"),
    ]:
        with _data_error(match):
            preprocess_cloud(points, viewpoint=viewpoint)
