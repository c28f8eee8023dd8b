"""HandPriorRefiner on a tiny random prior: batch refinement, errors, configuration, output.

The stream's tracking rules (step) are tested in test_tracker.py.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from interhandgen_core.contact.interaction import penetration_depth
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.geometry.rotations import axis_angle_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_DIFFUSION, write_tiny_object_prior
from two_hand_scenes import apart, mpjpe_mm, scene_of, with_noise

# ---------------------------------------------------------------- refine: independent estimates


@pytest.mark.parametrize("config", [RefinerConfig(prior_weight=0.0), RefinerConfig()], ids=["without_prior", "default"])
def test_refine_lowers_the_keypoint_error(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer], config: RefinerConfig
) -> None:
    truth = apart(layers, 3, seed=0)
    left, right = with_noise(truth.left_keypoints, 0.005, 1), with_noise(truth.right_keypoints, 0.005, 2)
    out = HandPriorRefiner(model, config).refine(TwoHandObservation.from_keypoints(left.numpy(), right.numpy()))
    for estimate, noisy, true in (
        (out.left_keypoints, left, truth.left_keypoints),
        (out.right_keypoints, right, truth.right_keypoints),
    ):
        assert estimate.shape == (3, 21, 3)
        assert mpjpe_mm(estimate, true) < 0.85 * mpjpe_mm(noisy, true)
    assert out.left.batch_size == out.right.batch_size == 3
    assert torch.equal(out.left_confidence, torch.ones(3))
    assert torch.equal(out.right_confidence, torch.ones(3))
    assert out.issues == []


@pytest.fixture(scope="module")
def partial(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> tuple[HandPriorRefiner, RefinedHands]:
    """A batch of two where the second row lost its right hand (all NaN)."""
    truth = apart(layers, 2, seed=3)
    right = truth.right_keypoints.clone()
    right[1] = torch.nan
    refiner = HandPriorRefiner(model, RefinerConfig(batch_iterations=10))
    observation = TwoHandObservation.from_keypoints(truth.left_keypoints, right, left_confidence=[0.8, 0.6])
    return refiner, refiner.refine(observation)


def test_refine_a_row_without_its_right_hand(partial: tuple[HandPriorRefiner, RefinedHands]) -> None:
    _, out = partial
    assert torch.isnan(out.right_keypoints[1]).all()
    assert torch.isfinite(out.right_keypoints[0]).all()
    assert torch.isfinite(out.left_keypoints).all()
    torch.testing.assert_close(out.right_confidence, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(out.left_confidence, torch.tensor([0.8, 0.6]))
    assert torch.isfinite(out.right.to_vector()).all()  # a placeholder, never NaN parameters


def test_to_hands_file_round_trips_and_keeps_the_missing_hand_missing(
    partial: tuple[HandPriorRefiner, RefinedHands], tmp_path: Path
) -> None:
    refiner, out = partial
    path = tmp_path / "refined.npz"
    write_hands_file(path, refiner.to_hands_file(out))
    back = read_hands_file(path)  # validates the schema
    assert back.num_samples == 2
    assert back.right_keypoints is not None and back.left_keypoints is not None
    assert np.isnan(back.right_keypoints[1]).all()
    np.testing.assert_allclose(back.right_keypoints[0], out.right_keypoints[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(back.left_keypoints, out.left_keypoints.numpy(), atol=1e-6)
    assert back.right_confidence is not None and back.left_confidence is not None
    np.testing.assert_allclose(back.right_confidence, [1.0, 0.0])
    np.testing.assert_allclose(back.left_confidence, [0.8, 0.6], atol=1e-6)
    assert back.left_pose is not None
    np.testing.assert_allclose(back.left_pose, out.left.pose.numpy(), atol=1e-6)


def test_penetration_weight_pushes_overlapping_hands_apart(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    # The right hand turned to lie along the left one and observed 1 cm from it: the keypoints
    # alone put the palms through each other.
    generator = torch.Generator().manual_seed(4)
    flipped = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, torch.pi]])).expand(2, 3, 3)
    left = HandParams(
        0.1 * torch.randn(2, 45, generator=generator),
        torch.zeros(2, 10),
        torch.eye(3).expand(2, 3, 3),
        torch.zeros(2, 3),
    )
    right = HandParams(
        0.1 * torch.randn(2, 45, generator=generator),
        torch.zeros(2, 10),
        flipped,
        torch.tensor([[0.0, 0.01, 0.0]]).expand(2, 3),
    )
    overlapping = scene_of(layers, (left, right))
    observed = TwoHandObservation.from_keypoints(overlapping.left_keypoints, overlapping.right_keypoints)

    def depth(penetration_weight: float) -> Tensor:
        config = RefinerConfig(batch_iterations=20, penetration_weight=penetration_weight)
        out = HandPriorRefiner(model, config).refine(observed)
        refined = scene_of(layers, (out.left, out.right))
        return penetration_depth(refined.left_vertices, layers[0].faces, refined.right_vertices, layers[1].faces)

    without, with_term = depth(0.0), depth(4.0)
    assert (without > 0.005).all()  # the premise: fitting the keypoints alone leaves them interpenetrating
    assert (with_term < 0.7 * without).all()


def test_refine_takes_float64_keypoints(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    # torch.from_numpy of a default numpy array is float64; the refiner's hand model is float32.
    truth = apart(layers, 2, seed=13)
    left, right = with_noise(truth.left_keypoints, 0.005, 14), with_noise(truth.right_keypoints, 0.005, 15)
    refiner = HandPriorRefiner(model, RefinerConfig(batch_iterations=10))
    single = refiner.refine(TwoHandObservation(HandObservation(left), HandObservation(right)))
    double = refiner.refine(TwoHandObservation(HandObservation(left.double()), HandObservation(right.double())))
    torch.testing.assert_close(double.left_keypoints.float(), single.left_keypoints, atol=1e-4, rtol=0)
    torch.testing.assert_close(double.right_keypoints.float(), single.right_keypoints, atol=1e-4, rtol=0)


def test_refine_fits_the_keypoints_of_a_row_whose_parameters_are_nan(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    # A tracker that regresses the hand model gave parameters and keypoints; its parameters for
    # row 1 are NaN. The keypoints are still good, so that row must be fitted to them as if no
    # parameters had been given, not started from a placeholder.
    truth = apart(layers, 2, seed=10)
    params = HandParams(
        truth.left.pose.clone(), truth.left.betas.clone(), truth.left.rotation.clone(), truth.left.translation.clone()
    )
    params.pose[1] = torch.nan
    observation = TwoHandObservation(
        HandObservation(keypoints=truth.left_keypoints, params=params), HandObservation(keypoints=truth.right_keypoints)
    )
    out = HandPriorRefiner(model, RefinerConfig(batch_iterations=20)).refine(observation)
    assert any("left hand parameters hold NaN" in issue for issue in out.issues)
    for row in range(2):
        assert mpjpe_mm(out.left_keypoints[row], truth.left_keypoints[row]) < 8.0, f"row {row}"


# ---------------------------------------------------------------- step: a hand never seen


def test_a_hand_never_seen_has_no_keypoints(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer], tmp_path: Path
) -> None:
    truth = apart(layers, 1, seed=8)
    refiner = HandPriorRefiner(model, RefinerConfig(init_iterations=10))
    out = refiner.step(TwoHandObservation.from_keypoints(truth.left_keypoints[0], None))
    assert torch.isnan(out.right_keypoints).all()
    assert torch.equal(out.right_confidence, torch.zeros(1))
    assert torch.isfinite(out.left_keypoints).all()
    assert torch.equal(out.left_confidence, torch.ones(1))
    path = tmp_path / "one_hand.npz"
    write_hands_file(path, refiner.to_hands_file(out))
    back = read_hands_file(path)
    assert back.right_keypoints is not None and back.left_keypoints is not None
    assert np.isnan(back.right_keypoints).all()
    assert np.isfinite(back.left_keypoints).all()


# ---------------------------------------------------------------- errors


def test_step_takes_one_frame(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    truth = apart(layers, 2, seed=9)
    with pytest.raises(DataError, match=r"step takes one frame \(batch of 1\), got 2"):
        HandPriorRefiner(model).step(TwoHandObservation.from_keypoints(truth.left_keypoints, truth.right_keypoints))


def test_an_interrupt_ends_each_frame_after_its_first_iteration(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer]
) -> None:
    """step(interrupt=...) that answers True (a newer input waiting): the stream of one iteration per frame; one
    that answers False: the stream without it."""
    truth = apart(layers, 4, seed=4)
    one_each = RefinerConfig(iterations=1, init_iterations=1, realign_iterations=1)
    hurried, one = HandPriorRefiner(model), HandPriorRefiner(model, one_each)
    calm, plain = HandPriorRefiner(model), HandPriorRefiner(model)
    for i in range(4):
        frame = TwoHandObservation.from_keypoints(truth.left_keypoints[i : i + 1], truth.right_keypoints[i : i + 1])
        a, b = hurried.step(frame, i / 30.0, interrupt=lambda: True), one.step(frame, i / 30.0)
        torch.testing.assert_close(a.left_keypoints, b.left_keypoints, rtol=0, atol=1e-6)
        c, d = calm.step(frame, i / 30.0, interrupt=lambda: False), plain.step(frame, i / 30.0)
        torch.testing.assert_close(c.right_keypoints, d.right_keypoints, rtol=0, atol=0)


def test_an_object_conditioned_prior_is_refused(tmp_path: Path) -> None:
    object_model = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    with pytest.raises(ConfigError, match="object-conditioned"):
        HandPriorRefiner(object_model)


def test_prior_timestep_must_be_below_the_models_t(model: InterHandGen) -> None:
    steps = TINY_DIFFUSION.num_timesteps
    with pytest.raises(ConfigError, match=f"prior_timestep={steps} must be below the model's T={steps}"):
        HandPriorRefiner(model, RefinerConfig(prior_timestep=steps))
    HandPriorRefiner(model, RefinerConfig(prior_timestep=steps - 1))  # the last step is allowed


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"iterations": -1}, r"RefinerConfig\.iterations must be >= 0 and <= 200"),
        # The same ranges as hand_prior_node's parameters (config.py is their one source).
        ({"iterations": 201}, r"RefinerConfig\.iterations must be >= 0 and <= 200"),
        ({"penetration_weight": 1e5}, r"RefinerConfig\.penetration_weight must be in \[0, 10000\]"),
        ({"min_keypoints": 2}, r"min_keypoints must be >= 3 and <= 21"),
        ({"prior_weight": float("nan")}, r"prior_weight must be a finite number"),
        ({"robust_scale_m": 0.0}, r"robust_scale_m must be in \(0, 1\]"),
        ({"swap_ratio": 0.0}, r"swap_ratio must be in \(0, 1\]"),
        ({"confidence_decay": 1.5}, r"confidence_decay must be in \[0, 1\]"),
        ({"hand_size_range_m": (0.16, 0.05)}, r"hand_size_range_m must be two numbers"),
        ({"hand_size_range_m": (0.05,)}, r"hand_size_range_m must be two numbers"),
    ],
)
def test_config_refuses_bad_values(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RefinerConfig(**values)  # type: ignore[arg-type]


def test_config_normalises_a_size_range_list() -> None:
    assert RefinerConfig(hand_size_range_m=[0.04, 0.2]).hand_size_range_m == (0.04, 0.2)  # type: ignore[arg-type]


def test_reconfigure_changes_weights_between_frames_and_refuses_fixed_fields(model: InterHandGen) -> None:
    refiner = HandPriorRefiner(model, RefinerConfig())
    refiner.reconfigure(dataclasses.replace(refiner.config, prior_weight=0.5, iterations=3))
    assert refiner.objective.config.prior_weight == 0.5 and refiner.config.iterations == 3
    with pytest.raises(ConfigError, match="prior_noise_draws cannot change"):
        refiner.reconfigure(dataclasses.replace(refiner.config, prior_noise_draws=4))
    assert refiner.config.prior_noise_draws == RefinerConfig().prior_noise_draws
