"""GraspPipeline: a tiny object-conditioned prior through the public API, and bad clouds."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from interhandgen_core.data.procedural_objects import generate_objects
from interhandgen_core.errors import Cancelled, CheckpointError, ConfigError, DataError
from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
from interhandgen_core.pipelines.grasp import STOP_CHECK_GRASPS, GraspPipeline
from interhandgen_core.pipelines.samples import GraspSamples
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.prior.checkpoint import load_prior, save_prior
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import (
    TINY_CONFIG,
    TINY_DIFFUSION,
    TINY_ENCODER,
    TINY_OBJECT_CONFIG,
    tiny_normalizer,
    write_tiny_object_prior,
    write_tiny_prior,
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> GraspPipeline:
    return GraspPipeline.from_pretrained(write_tiny_object_prior(tmp_path_factory.mktemp("prior")))


@pytest.fixture(scope="module")
def cloud() -> tuple[torch.Tensor, torch.Tensor]:
    objects = generate_objects(1, seed=3)
    points, normals = objects.sample_surface(1024, seed=0)
    return points[0], normals[0]


def test_object_prior_round_trips_with_its_encoder(tmp_path: Path) -> None:
    path = write_tiny_object_prior(tmp_path)
    loaded = load_prior(path)
    assert loaded.object_conditioned
    assert loaded.object_encoder is not None and loaded.object_encoder.config == TINY_ENCODER
    torch.manual_seed(0)
    original = ObjectEncoder(TINY_ENCODER)  # write_tiny_object_prior seeds 0 before the denoiser, not here
    assert any(
        not torch.equal(a, b)
        for a, b in zip(original.state_dict().values(), loaded.object_encoder.state_dict().values(), strict=True)
    ), "a fresh encoder should differ from the stored one; the comparison below would prove nothing"
    again = load_prior(path)
    assert again.object_encoder is not None
    for key, value in loaded.object_encoder.state_dict().items():
        assert torch.equal(value, again.object_encoder.state_dict()[key])


def test_encoder_and_object_token_must_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object encoder"):
        save_prior(tmp_path / "p", Denoiser(TINY_CONFIG), tiny_normalizer(), TINY_CONFIG, TINY_DIFFUSION,
                   object_encoder=ObjectEncoder(TINY_ENCODER))  # fmt: skip
    with pytest.raises(ValueError, match="object encoder"):
        save_prior(tmp_path / "q", Denoiser(TINY_OBJECT_CONFIG), tiny_normalizer(), TINY_OBJECT_CONFIG, TINY_DIFFUSION)


def test_a_checkpoint_whose_encoder_tensors_are_missing_is_refused(tmp_path: Path) -> None:
    path = write_tiny_object_prior(tmp_path)
    from safetensors.torch import load_file, save_file

    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("object_encoder.head")}
    save_file(tensors, str(path), metadata={"format": "interhandgen-prior", "format_version": "1"})
    with pytest.raises(CheckpointError, match=r"missing object_encoder\.head"):
        load_prior(path)


def test_grasps_come_back_in_the_input_frame(model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]) -> None:
    points, normals = cloud
    offset = torch.tensor([0.5, -1.0, 0.25])
    # Without guidance: its steps on the finished hands (final_guidance_steps) turn the 1e-7 m rounding of the
    # shifted cloud into millimetres (a gap's nearest vertex, a trust region's direction), as the shipped prior's
    # whole guided chain does (README "Anti-penetration guidance"); the frames are what this test checks.
    a = model.sample(
        3, seed=1, ddim_steps=3, object_points=points, object_normals=normals, penetration_guidance_weight=0
    )
    b = model.sample(
        3, seed=1, ddim_steps=3, object_points=points + offset, object_normals=normals, penetration_guidance_weight=0
    )
    assert type(a) is GraspSamples
    # Preprocessing centres the cloud, so a shifted cloud gives the same grasps, shifted.
    assert torch.allclose(b.left_vertices - offset, a.left_vertices, atol=1e-4)
    assert torch.allclose(b.right.translation - offset, a.right.translation, atol=1e-4)
    assert torch.allclose(b.object_points.mean(0) - offset, a.object_points.mean(0), atol=1e-4)
    assert a.scores.shape == (3,) and bool(((a.scores >= 0) & (a.scores <= 1)).all())


def test_ranked_orders_by_score_and_keeps_grasps_whole(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]
) -> None:
    grasps = model.sample(4, seed=2, ddim_steps=3, object_points=cloud[0], object_normals=cloud[1])
    ranked = grasps.ranked()
    assert bool((ranked.scores[:-1] >= ranked.scores[1:]).all())
    best = int(torch.argmax(grasps.scores))
    assert torch.equal(ranked.left_vertices[0], grasps.left_vertices[best])
    assert torch.equal(ranked.right.pose[0], grasps.right.pose[best])
    assert torch.equal(ranked.figures.hand_object_depth[0], grasps.figures.hand_object_depth[best])


def test_grasps_file_holds_object_points_and_scores(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    grasps = model.sample(2, seed=0, ddim_steps=2, object_points=cloud[0], object_normals=cloud[1])
    write_hands_file(tmp_path / "grasps.npz", model.to_hands_file(grasps))
    back = read_hands_file(tmp_path / "grasps.npz")
    assert back.object_points is not None and back.object_points.shape[1] == 3
    assert back.scores is not None and np.allclose(back.scores, grasps.scores.numpy())
    assert back.left_vertices is not None
    assert np.allclose(back.left_vertices, grasps.left_vertices.numpy(), atol=1e-6)


def test_guidance_pushes_hands_out_of_the_cloud(model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]) -> None:
    # A random tiny prior puts hands anywhere, often inside the object; guidance must reduce that.
    off = model.sample(
        8,
        seed=0,
        ddim_steps=6,
        penetration_guidance_weight=0.0,
        settle_iterations=0,
        object_points=cloud[0],
        object_normals=cloud[1],
    )
    on = model.sample(8, seed=0, ddim_steps=6, object_points=cloud[0], object_normals=cloud[1])
    assert float(on.figures.hand_object_depth.mean()) < float(off.figures.hand_object_depth.mean())


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((0, 3)), "empty"),
        (np.full((100, 3), np.nan), "NaN or inf"),
        (np.random.default_rng(0).normal(size=(5, 3)) * 0.05, "points"),
        (np.zeros((10, 2)), "shape"),
    ],
)
def test_bad_clouds_raise_data_error(model: GraspPipeline, points: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        model.sample(2, seed=0, ddim_steps=2, object_points=points)


def test_a_million_point_cloud_goes_through(model: GraspPipeline) -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(1_000_000, 3))
    sphere = 0.08 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    grasps = model.sample(1, seed=0, ddim_steps=1, object_points=sphere)
    assert grasps.cloud.num_input == 1_000_000 and grasps.cloud.num_after_voxel < 50_000


def test_a_two_hand_prior_is_refused_naming_the_two_hand_pipeline(tmp_path: Path) -> None:
    path = write_tiny_prior(tmp_path)
    with pytest.raises(ConfigError, match="no object encoder") as info:
        GraspPipeline.from_pretrained(path)
    # One message for every caller (library, command line, ROS): what the prior is and what is needed, no API names.
    assert str(path) in str(info.value) and "grasp proposals need an object-conditioned prior" in str(info.value)
    assert "from_pretrained" not in str(info.value) and "Pipeline" not in str(info.value)
    loaded = TwoHandPipeline.from_pretrained(path)
    with pytest.raises(ConfigError, match="no object encoder"):
        GraspPipeline(loaded.prior, loaded.right_layer, loaded.left_layer, loaded.device)


def test_sample_refuses_no_grasps(model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(ConfigError, match="num"):
        model.sample(0, object_points=cloud[0])


def test_returned_meshes_are_the_returned_parameters(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]
) -> None:
    # Settling and the return to the input frame move vertices and parameters separately; they must agree.
    grasps = model.sample(3, seed=4, ddim_steps=3, object_points=cloud[0] + 0.3, object_normals=cloud[1])
    for layer, hand, vertices, keypoints in (
        (model.left_layer, grasps.left, grasps.left_vertices, grasps.left_keypoints),
        (model.right_layer, grasps.right, grasps.right_vertices, grasps.right_keypoints),
    ):
        with torch.no_grad():
            out = layer(hand)
        assert torch.allclose(out.vertices, vertices, atol=1e-5)
        assert torch.allclose(out.keypoints, keypoints, atol=1e-5)


def test_a_proposal_call_builds_one_cloud_tree(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guidance, the cascade's rebuilt condition, settling and the figures share the condition's k-d tree."""
    from interhandgen_core.geometry import tree_nearest

    builds: list[int] = []

    class CountingTree(tree_nearest.CloudTree):
        def __init__(self, points: torch.Tensor) -> None:
            builds.append(len(points))
            super().__init__(points)

    monkeypatch.setattr(tree_nearest, "CloudTree", CountingTree)
    model.sample(2, seed=0, object_points=cloud[0], object_normals=cloud[1])
    assert len(builds) == 1


def test_physics_ranking_puts_the_grasps_that_hold_more_pushes_first(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]
) -> None:
    from interhandgen_core.physics.configuration import GraspPhysicsConfig

    points, normals = cloud
    config = GraspPhysicsConfig(threads=1)
    plain = model.sample(6, seed=3, object_points=points, object_normals=normals, ddim_steps=2)
    grasps = model.sample(6, seed=3, object_points=points, object_normals=normals, ddim_steps=2, physics_rank=config)
    assert plain.physics is None and grasps.physics is not None and grasps.physics.num_grasps == 6
    assert torch.equal(grasps.left_vertices, plain.left_vertices)  # the same proposals, only ranked otherwise
    held = torch.as_tensor(grasps.physics.held.sum(axis=1), dtype=torch.float32)
    assert torch.allclose(grasps.scores, (held + plain.scores) / 7)
    best = grasps.ranked()
    assert best.physics is not None
    assert (np.diff(best.physics.held.sum(axis=1)) <= 0).all()  # more pushes held first
    order = torch.argsort(grasps.scores, descending=True, stable=True)
    assert np.array_equal(best.physics.success, grasps.physics.success[order.numpy()])


def test_physics_ranking_of_the_best_candidates_tries_only_those(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """rank_candidates 2 of 6: the two best by the score are simulated, as they are when all six are (the same
    outcome row for row); the other four are marked untried, hold nothing and keep their score's order."""
    from interhandgen_core.physics.configuration import GraspPhysicsConfig

    points, normals = cloud
    every = model.sample(
        6,
        seed=3,
        object_points=points,
        object_normals=normals,
        ddim_steps=2,
        physics_rank=GraspPhysicsConfig(threads=1),
    )
    some = model.sample(
        6,
        seed=3,
        object_points=points,
        object_normals=normals,
        ddim_steps=2,
        physics_rank=GraspPhysicsConfig(threads=1, rank_candidates=2),
    )
    assert every.physics is not None and some.physics is not None and some.physics.num_grasps == 6
    best_two = torch.argsort(some.figures.score, descending=True, stable=True)[:2].numpy()
    tried = some.physics.tried
    assert tried.sum() == 2 and tried[best_two].all() and every.physics.tried.all()
    assert np.array_equal(some.physics.held[tried], every.physics.held[tried])
    assert not some.physics.held[~tried].any() and np.isnan(some.physics.displacement_m[~tried]).all()
    held = torch.as_tensor(some.physics.held.sum(axis=1), dtype=torch.float32)
    assert torch.allclose(some.scores, (held + some.figures.score) / 7)
    assert "2 of 6 grasps tried" in some.physics.summary()


def test_a_one_sided_cloud_is_completed_and_ranked_in_physics(
    model: GraspPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloud seen from one side gets its back by symmetry, and the physics ranking closes it into a solid; with
    the completion off, the cloud stays as seen and the ranking falls back to the score."""
    from interhandgen_core.physics.configuration import GraspPhysicsConfig
    from interhandgen_core.pipelines.sensor_cloud import corrupt_like_sensor

    objects = generate_objects(1, seed=5)
    points, normals = objects.sample_surface(4096, seed=5)
    view = corrupt_like_sensor(points[0].numpy(), normals[0].numpy(), seed=3).points
    physics = GraspPhysicsConfig(threads=1)
    grasps = model.sample(4, seed=0, object_points=view, ddim_steps=2, physics_rank=physics)
    assert grasps.cloud.num_completed > 0 and grasps.physics is not None and grasps.physics.num_grasps == 4
    # The guidance cloud reaches the unseen side: deeper along the view than any seen point (the seen normals face
    # the camera, so the view runs along minus their mean).
    seen = torch.as_tensor(grasps.cloud.points[: len(grasps.cloud.points) - grasps.cloud.num_completed])
    view_direction = -torch.as_tensor(grasps.cloud.normals[: len(seen)]).mean(dim=0)
    view_direction = view_direction / view_direction.norm()
    guide = grasps.object_points - torch.as_tensor(grasps.cloud.centroid, dtype=grasps.object_points.dtype)
    assert (guide @ view_direction).max() > (seen @ view_direction).max() + 0.01

    monkeypatch.setattr(model, "sampler_config", replace(model.sampler_config, one_sided_completion="off"))
    as_seen = model.sample(4, seed=0, object_points=view, ddim_steps=2, physics_rank=physics)
    assert as_seen.cloud.num_completed == 0
    assert as_seen.physics is None and torch.equal(as_seen.scores, as_seen.figures.score)
    assert any("physics ranking skipped" in note and "could not be closed" in note for note in as_seen.cloud.notes)


def test_should_stop_cancels_between_steps_and_chunks(
    model: GraspPipeline, cloud: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """The cancel hook is asked after preprocessing, before each batch and denoising step, and between chunks of
    STOP_CHECK_GRASPS grasps of settling and figures; a hook that never fires gives the grasps of no hook."""
    points, normals = cloud
    asked = [0]

    def stop_at(n: int) -> Callable[[], bool]:
        asked[0] = 0

        def should_stop() -> bool:
            asked[0] += 1
            return asked[0] >= n

        return should_stop

    with pytest.raises(Cancelled, match="after the cloud's preprocessing"):
        model.sample(4, ddim_steps=4, object_points=points, object_normals=normals, should_stop=stop_at(1))
    with pytest.raises(Cancelled, match="denoising step 2 of 4"):  # 1: preprocessed, 2: the batch, 3: step 1
        model.sample(4, ddim_steps=4, object_points=points, object_normals=normals, should_stop=stop_at(4))
    num = STOP_CHECK_GRASPS + 3  # two chunks of settling: stopped before the second
    steps = 2 + 2 * 4  # preprocessed, the batch, 4 steps of each hand
    with pytest.raises(Cancelled, match=f"before settling grasp {STOP_CHECK_GRASPS + 1} of {num}"):
        model.sample(num, ddim_steps=4, object_points=points, object_normals=normals, should_stop=stop_at(steps + 2))
    plain = model.sample(num, seed=2, ddim_steps=4, object_points=points, object_normals=normals)
    hooked = model.sample(
        num, seed=2, ddim_steps=4, object_points=points, object_normals=normals, should_stop=lambda: False
    )
    assert hooked.left_vertices.shape == plain.left_vertices.shape
    assert torch.allclose(hooked.right_vertices, plain.right_vertices, atol=1e-6)
    assert torch.allclose(hooked.scores, plain.scores, atol=1e-6)
