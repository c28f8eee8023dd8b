"""HandPriorRefiner on a tiny random prior: batch refinement, the stream's tracking rules, errors, output."""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
from dataclasses import dataclass
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
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_DIFFUSION, write_tiny_object_prior, write_tiny_prior


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> InterHandGen:
    return InterHandGen.from_pretrained(write_tiny_prior(tmp_path_factory.mktemp("prior")))


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    """(left, right) procedural layers, built apart from the model's so the truth does not lean on it."""
    right, left = load_hand_pair("procedural")
    return HandLayer(left), HandLayer(right)


@dataclass
class Scene:
    left: HandParams
    right: HandParams
    left_keypoints: Tensor  # (N, 21, 3)
    right_keypoints: Tensor
    left_vertices: Tensor  # (N, V, 3)
    right_vertices: Tensor


def _scene(layers: tuple[HandLayer, HandLayer], params: tuple[HandParams, HandParams]) -> Scene:
    left_layer, right_layer = layers
    left, right = params
    with torch.no_grad():
        lo = left_layer(left)
        ro = right_layer(right)
    return Scene(left, right, lo.keypoints, ro.keypoints, lo.vertices, ro.vertices)


def _apart(layers: tuple[HandLayer, HandLayer], batch: int, seed: int, drift_m: float = 0.0) -> Scene:
    """Two mildly posed hands 10 cm apart (not touching), one per row; rows drift along x when ``drift_m``."""
    generator = torch.Generator().manual_seed(seed)
    moving = torch.linspace(0.0, drift_m, batch)[:, None] * torch.tensor([1.0, 0.0, 0.0])

    def hand(y: float, fixed: bool) -> HandParams:
        rows = 1 if fixed else batch
        pose = 0.2 * torch.randn(rows, 45, generator=generator)
        rotation = axis_angle_to_matrix(0.3 * torch.randn(rows, 3, generator=generator))
        return HandParams(
            pose.expand(batch, -1),
            torch.zeros(batch, 10),
            rotation.expand(batch, 3, 3),
            torch.tensor([0.0, y, 0.4]) + moving,
        )

    fixed = drift_m > 0  # a stream keeps its articulation and moves
    scene = _scene(layers, (hand(-0.05, fixed), hand(0.05, fixed)))
    depth = penetration_depth(scene.left_vertices, layers[0].faces, scene.right_vertices, layers[1].faces)
    assert torch.equal(depth, torch.zeros(batch))  # the premise: these hands do not touch
    return scene


def _noisy(keypoints: Tensor, sigma_m: float, seed: int) -> Tensor:
    return keypoints + sigma_m * torch.randn(keypoints.shape, generator=torch.Generator().manual_seed(seed))


def _mpjpe_mm(estimate: Tensor, truth: Tensor) -> float:
    return float((estimate - truth).norm(dim=-1).mean()) * 1000.0


# ---------------------------------------------------------------- refine: independent estimates


@pytest.mark.parametrize("config", [RefinerConfig(prior_weight=0.0), RefinerConfig()], ids=["without_prior", "default"])
def test_refine_lowers_the_keypoint_error(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer], config: RefinerConfig
) -> None:
    truth = _apart(layers, 3, seed=0)
    left, right = _noisy(truth.left_keypoints, 0.005, 1), _noisy(truth.right_keypoints, 0.005, 2)
    out = HandPriorRefiner(model, config).refine(TwoHandObservation.from_keypoints(left.numpy(), right.numpy()))
    for estimate, noisy, true in (
        (out.left_keypoints, left, truth.left_keypoints),
        (out.right_keypoints, right, truth.right_keypoints),
    ):
        assert estimate.shape == (3, 21, 3)
        assert _mpjpe_mm(estimate, true) < 0.85 * _mpjpe_mm(noisy, true)
    assert out.left.batch_size == out.right.batch_size == 3
    assert torch.equal(out.left_confidence, torch.ones(3))
    assert torch.equal(out.right_confidence, torch.ones(3))
    assert out.issues == []


@pytest.fixture(scope="module")
def partial(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> tuple[HandPriorRefiner, RefinedHands]:
    """A batch of two where the second row lost its right hand (all NaN)."""
    truth = _apart(layers, 2, seed=3)
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
    overlapping = _scene(layers, (left, right))
    observed = TwoHandObservation.from_keypoints(overlapping.left_keypoints, overlapping.right_keypoints)

    def depth(penetration_weight: float) -> Tensor:
        config = RefinerConfig(batch_iterations=20, penetration_weight=penetration_weight)
        out = HandPriorRefiner(model, config).refine(observed)
        refined = _scene(layers, (out.left, out.right))
        return penetration_depth(refined.left_vertices, layers[0].faces, refined.right_vertices, layers[1].faces)

    without, with_term = depth(0.0), depth(4.0)
    assert (without > 0.005).all()  # the premise: fitting the keypoints alone leaves them interpenetrating
    assert (with_term < 0.7 * without).all()


def test_refine_takes_float64_keypoints(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    # torch.from_numpy of a default numpy array is float64; the refiner's hand model is float32.
    truth = _apart(layers, 2, seed=13)
    left, right = _noisy(truth.left_keypoints, 0.005, 14), _noisy(truth.right_keypoints, 0.005, 15)
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
    truth = _apart(layers, 2, seed=10)
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
        assert _mpjpe_mm(out.left_keypoints[row], truth.left_keypoints[row]) < 8.0, f"row {row}"


# ---------------------------------------------------------------- step: a stream

STREAM_FRAMES = 10


@dataclass
class Stream:
    refiner: HandPriorRefiner  # after STREAM_FRAMES frames; deep-copy before stepping further
    outputs: list[RefinedHands]
    truth: Scene  # STREAM_FRAMES + 1 frames, the last one not yet stepped
    left: Tensor  # noisy keypoints (N + 1, 21, 3)
    right: Tensor

    def next_frame(self) -> tuple[Tensor, Tensor]:
        return self.left[STREAM_FRAMES], self.right[STREAM_FRAMES]

    def fork(self) -> HandPriorRefiner:
        return copy.deepcopy(self.refiner)


@pytest.fixture(scope="module")
def stream(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> Stream:
    truth = _apart(layers, STREAM_FRAMES + 1, seed=5, drift_m=0.02)
    left, right = _noisy(truth.left_keypoints, 0.003, 6), _noisy(truth.right_keypoints, 0.003, 7)
    refiner = HandPriorRefiner(model)
    outputs = [refiner.step(TwoHandObservation.from_keypoints(left[i], right[i])) for i in range(STREAM_FRAMES)]
    return Stream(refiner, outputs, truth, left, right)


def test_stream_refines_every_frame(stream: Stream) -> None:
    frames = RefinedHands.cat(stream.outputs)
    assert frames.left_keypoints.shape == (STREAM_FRAMES, 21, 3)
    assert frames.right.batch_size == STREAM_FRAMES
    assert torch.isfinite(frames.left_keypoints).all() and torch.isfinite(frames.right_keypoints).all()
    assert torch.equal(frames.left_confidence, torch.ones(STREAM_FRAMES))
    assert frames.issues == []
    n = STREAM_FRAMES
    for refined, noisy, true in (
        (frames.left_keypoints, stream.left[:n], stream.truth.left_keypoints[:n]),
        (frames.right_keypoints, stream.right[:n], stream.truth.right_keypoints[:n]),
    ):
        assert _mpjpe_mm(refined, true) < _mpjpe_mm(noisy, true)


@pytest.mark.parametrize("how", ["none", "nan"])
def test_a_lost_hand_is_held_while_its_confidence_decays(stream: Stream, how: str) -> None:
    refiner = stream.fork()
    last = stream.outputs[-1]
    left, right = stream.next_frame()
    lost = None if how == "none" else torch.full_like(right, torch.nan)
    decay = refiner.config.confidence_decay
    for frames_lost in (1, 2):
        out = refiner.step(TwoHandObservation.from_keypoints(left, lost))
        # Held where it was last seen: it only gives way to the other hand, which is 10 cm off here
        # (the pull to its last keypoints and the prior move it by well under a millimetre).
        assert _mpjpe_mm(out.right_keypoints[0], last.right_keypoints[0]) < 1.0
        torch.testing.assert_close(out.right_confidence, last.right_confidence * decay**frames_lost)
        held = [issue for issue in out.issues if issue.startswith("right hand") and "holding" in issue]
        assert len(held) == 1
        assert f"lost {frames_lost} frames" in held[0]
        # The other hand is still refined from its keypoints.
        assert _mpjpe_mm(out.left_keypoints[0], stream.truth.left_keypoints[STREAM_FRAMES]) < 8.0
        assert float(out.left_confidence) == 1.0


def test_a_frame_in_millimetres_is_converted(stream: Stream) -> None:
    left, right = stream.next_frame()
    in_metres = stream.fork().step(TwoHandObservation.from_keypoints(left, right))
    in_mm = stream.fork().step(TwoHandObservation.from_keypoints(left * 1000.0, right))
    torch.testing.assert_close(in_mm.left_keypoints, in_metres.left_keypoints, atol=1e-4, rtol=0)
    torch.testing.assert_close(in_mm.right_keypoints, in_metres.right_keypoints, atol=1e-4, rtol=0)
    assert any("millimetres" in issue and issue.startswith("left hand") for issue in in_mm.issues)
    assert in_metres.issues == []
    # A repaired observation is trusted less.
    torch.testing.assert_close(
        in_mm.left_confidence, in_metres.left_confidence * RefinerConfig().repaired_confidence_factor
    )


def test_swapped_labels_are_swapped_back(stream: Stream) -> None:
    left, right = stream.next_frame()
    out = stream.fork().step(TwoHandObservation.from_keypoints(right, left))
    assert any("swapped" in issue for issue in out.issues)
    assert _mpjpe_mm(out.left_keypoints[0], stream.truth.left_keypoints[STREAM_FRAMES]) < 8.0
    assert _mpjpe_mm(out.right_keypoints[0], stream.truth.right_keypoints[STREAM_FRAMES]) < 8.0


def test_a_hand_that_jumps_is_caught_up_with(stream: Stream) -> None:
    # The right hand is reported 12 cm from where it was (a fast move, or the tracker finding it
    # again after a glitch) and stays there. The refined hand must follow within a few frames,
    # not stay behind while its confidence says 1.
    refiner = stream.fork()
    left, _ = stream.next_frame()
    jumped = stream.truth.right_keypoints[STREAM_FRAMES] + torch.tensor([0.0, 0.12, 0.0])
    errors = []
    for _ in range(3):
        out = refiner.step(TwoHandObservation.from_keypoints(left, jumped))
        errors.append(_mpjpe_mm(out.right_keypoints[0], jumped))
    assert errors[-1] < 10.0, f"right-hand error per frame after the jump: {[round(e) for e in errors]} mm"


def test_a_hand_lost_for_long_is_initialised_afresh(model: InterHandGen, layers: tuple[HandLayer, HandLayer]) -> None:
    before, after = _apart(layers, 1, seed=11), _apart(layers, 1, seed=12)
    moved = after.right_keypoints[0] + torch.tensor([0.15, 0.05, 0.0])  # back somewhere else entirely
    refiner = HandPriorRefiner(model, RefinerConfig(reinit_after_frames=2, init_iterations=30))
    refiner.step(TwoHandObservation.from_keypoints(before.left_keypoints[0], before.right_keypoints[0]))
    for _ in range(3):
        refiner.step(TwoHandObservation.from_keypoints(before.left_keypoints[0], None))
    out = refiner.step(TwoHandObservation.from_keypoints(before.left_keypoints[0], moved))
    assert _mpjpe_mm(out.right_keypoints[0], moved) < 8.0
    assert float(out.right_confidence) == 1.0
    assert not any("holding" in issue for issue in out.issues)


def test_warnings_are_throttled(stream: Stream, caplog: pytest.LogCaptureFixture) -> None:
    refiner = stream.fork()  # default warning_interval_s, far longer than this test
    left, _ = stream.next_frame()
    with caplog.at_level(logging.WARNING, logger="interhandgen_core.refinement.refiner"):
        issues = [refiner.step(TwoHandObservation.from_keypoints(left, None)).issues for _ in range(3)]
    assert all(len(frame) == 1 for frame in issues)  # every frame still reports its issue
    logged = [r.getMessage() for r in caplog.records if "right hand not observed" in r.getMessage()]
    assert logged == [issues[0][0]]


def test_a_hand_never_seen_has_no_keypoints(
    model: InterHandGen, layers: tuple[HandLayer, HandLayer], tmp_path: Path
) -> None:
    truth = _apart(layers, 1, seed=8)
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
    truth = _apart(layers, 2, seed=9)
    with pytest.raises(DataError, match=r"step takes one frame \(batch of 1\), got 2"):
        HandPriorRefiner(model).step(TwoHandObservation.from_keypoints(truth.left_keypoints, truth.right_keypoints))


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
        ({"iterations": -1}, r"RefinerConfig\.iterations must be >= 0"),
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
