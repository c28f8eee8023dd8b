"""TwoHandPipeline on a tiny checkpoint: loading, sampling, hands files, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import interhandgen_core
from interhandgen_core.errors import ConfigError
from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
from interhandgen_core.pipelines.samples import TwoHandSamples
from interhandgen_core.pipelines.two_hand import TwoHandPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, write_tiny_object_prior, write_tiny_prior

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
pytestmark = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TwoHandPipeline:
    path = write_tiny_prior(tmp_path_factory.mktemp("prior"))
    return TwoHandPipeline.from_pretrained(path)


@pytest.fixture(scope="module")
def samples(model: TwoHandPipeline) -> TwoHandSamples:
    return model.sample(5, seed=0, ddim_steps=3)


def test_from_pretrained_loads_the_tiny_checkpoint(model: TwoHandPipeline) -> None:
    assert model.device == torch.device("cpu")
    assert model.prior.model_config == TINY_CONFIG
    assert model.prior.metadata["hand_model"] == "procedural"
    assert model.right_layer.side == "right"
    assert model.left_layer.side == "left"
    assert not model.denoiser.training


def test_sample_shapes_and_canonical_left_hand(model: TwoHandPipeline, samples: TwoHandSamples) -> None:
    num_v = model.right_layer.num_vertices
    num_f = model.right_layer.faces.shape[0]
    assert samples.left_vertices.shape == (5, num_v, 3)
    assert samples.right_vertices.shape == (5, num_v, 3)
    assert samples.left_keypoints.shape == (5, 21, 3)
    assert samples.right_keypoints.shape == (5, 21, 3)
    assert samples.left_faces.shape == (num_f, 3)
    assert samples.right_faces.shape == (num_f, 3)
    for hand in (samples.left, samples.right):
        assert hand.batch_size == 5
        assert hand.pose.shape == (5, 45)
        assert hand.betas.shape == (5, 10)
        assert hand.rotation.shape == (5, 3, 3)
        assert hand.translation.shape == (5, 3)
    for tensor in (samples.left_vertices, samples.right_vertices, samples.left_keypoints, samples.right_keypoints):
        assert torch.isfinite(tensor).all()
    # The left hand is the anchor: identity rotation, wrist (keypoint 0) at the origin.
    torch.testing.assert_close(samples.left.rotation, torch.eye(3).expand(5, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(samples.left.translation, torch.zeros(5, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(samples.left_keypoints[:, 0], torch.zeros(5, 3), atol=1e-5, rtol=0)
    # The right hand's rotation is a proper rotation.
    r = samples.right.rotation
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3).expand(5, 3, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(5), atol=1e-4, rtol=0)


def test_sample_is_reproducible_for_a_seed(model: TwoHandPipeline, samples: TwoHandSamples) -> None:
    again = model.sample(5, seed=0, ddim_steps=3)
    torch.testing.assert_close(again.right_vertices, samples.right_vertices, atol=0, rtol=0)
    torch.testing.assert_close(again.left_vertices, samples.left_vertices, atol=0, rtol=0)
    other = model.sample(5, seed=1, ddim_steps=3)
    assert (other.right_vertices - samples.right_vertices).abs().max() > 1e-3
    assert (other.left.pose - samples.left.pose).abs().max() > 1e-3


def test_sample_in_memory_chunks_returns_every_sample(model: TwoHandPipeline, samples: TwoHandSamples) -> None:
    chunked = model.sample(5, seed=0, ddim_steps=3, batch_size=2)
    assert chunked.right_vertices.shape == samples.right_vertices.shape
    assert torch.isfinite(chunked.right_vertices).all()


def test_to_hands_file_passes_validation_and_round_trips(
    model: TwoHandPipeline, samples: TwoHandSamples, tmp_path: Path
) -> None:
    hands = model.to_hands_file(samples)
    assert hands.num_samples == 5
    np.testing.assert_allclose(hands.right_vertices, samples.right_vertices.numpy(), atol=1e-6)
    np.testing.assert_array_equal(hands.left_faces, samples.left_faces.numpy())
    path = tmp_path / "samples.npz"
    write_hands_file(path, hands)
    back = read_hands_file(path)  # validates the schema
    assert back.num_samples == 5
    np.testing.assert_array_equal(back.right_pose, hands.right_pose)
    np.testing.assert_array_equal(back.left_keypoints, hands.left_keypoints)


@pytest.mark.parametrize("num", [0, -3])
def test_sample_refuses_no_samples(model: TwoHandPipeline, num: int) -> None:
    with pytest.raises(ConfigError, match="num"):
        model.sample(num)


def test_sample_refuses_bad_sampler_settings(model: TwoHandPipeline) -> None:
    with pytest.raises(ConfigError, match="ddim_steps"):
        model.sample(2, ddim_steps=0)
    with pytest.raises(ConfigError, match="cfg_weight"):
        model.sample(2, ddim_steps=2, cfg_weight=-1.0)


def test_an_object_conditioned_prior_is_refused_naming_the_grasp_pipeline(tmp_path: Path) -> None:
    path = write_tiny_object_prior(tmp_path)
    with pytest.raises(ConfigError, match="object-conditioned") as info:
        TwoHandPipeline.from_pretrained(path)
    # One message for every caller (library, command line, ROS): what the prior is and what is needed, no API names.
    assert str(path) in str(info.value) and "need a two-hand prior" in str(info.value)
    assert "from_pretrained" not in str(info.value) and "Pipeline" not in str(info.value)


def test_sample_partners_keeps_the_given_hands_and_moves_with_them(
    model: TwoHandPipeline, samples: TwoHandSamples
) -> None:
    from interhandgen_core.geometry.rotations import axis_angle_to_matrix
    from interhandgen_core.hands.hand_params import HandParams

    given = samples.left
    here = model.sample_partners(given, seed=3, ddim_steps=3)
    torch.testing.assert_close(here.left.pose, given.pose)
    assert here.right.batch_size == given.batch_size and bool(torch.isfinite(here.right_vertices).all())
    # The same hands carried somewhere else by a rigid motion get the same partners, carried along.
    rotation = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.7]]))
    translation = torch.tensor([[0.4, -0.1, 1.3]])
    moved = model.sample_partners(given.transformed(rotation, translation), seed=3, ddim_steps=3)
    expected = here.right.transformed(rotation, translation)
    # float32 round-off of the frames, amplified by guidance: well under a millimetre and a milliradian.
    for part in ("pose", "rotation", "translation"):
        torch.testing.assert_close(getattr(moved.right, part), getattr(expected, part), atol=1e-3, rtol=1e-3)
    chunked = model.sample_partners(given, seed=3, ddim_steps=3, batch_size=2)
    torch.testing.assert_close(chunked.right.pose, here.right.pose, atol=1e-3, rtol=1e-3)
    other_seed = model.sample_partners(given, seed=4, ddim_steps=3)
    assert not torch.allclose(other_seed.right.pose, here.right.pose)
    assert isinstance(moved.right, HandParams)
