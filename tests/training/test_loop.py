from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from toy_hands import write_grasps, write_hands

from interhandgen_core.data.dataset import TwoHandPairs
from interhandgen_core.errors import CheckpointError, ConfigError
from interhandgen_core.hands.hand_params import ROOT
from interhandgen_core.prior.checkpoint import load_prior, load_training_state
from interhandgen_core.prior.configuration import TrainConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.schedule import DiffusionSchedule
from interhandgen_core.training.loop import evaluate, main, train
from interhandgen_core.training.loss import x0_loss

TINY_MODEL = {
    "preset": "custom",
    "embed_dim": 16,
    "hidden_dim": 32,
    "num_heads": 2,
    "num_layers": 1,
    "ff_dim": 32,
    "decoder_layers": 3,
    "dropout": 0.1,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hands")
    return write_hands(root / "train.npz", 150, 0), write_hands(root / "val.npz", 30, 1)


def tiny_config(data: tuple[Path, Path], **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "train_data": str(data[0]),
        "epochs": 3,
        "batch_size": 32,
        "lr": 2e-3,
        "log_every": 1,
        "checkpoint_every": 1,
        "device": "cpu",
        "model": TINY_MODEL,
        "diffusion": {"num_timesteps": 50},
    }
    values.update(overrides)
    return TrainConfig.from_dict(values)


def log_events(run: Path, event: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def test_x0_loss_drops_root_of_unconditional_rows() -> None:
    x0 = torch.zeros(2, 64)
    pred = torch.zeros(2, 64)
    pred[:, ROOT] = 3.0  # error only in the root transform
    mask = torch.tensor([True, False])
    # Row 0 counts 9 errors of 9.0 over 64 entries; row 1 counts 55 entries, all exact.
    assert x0_loss(pred, x0, mask).item() == pytest.approx(9 * 9.0 / (64 + 55))
    assert x0_loss(pred, x0, torch.tensor([False, False])).item() == 0.0
    pred[1, 0] = 1.0
    assert x0_loss(pred, x0, mask).item() == pytest.approx((81 + 1) / (64 + 55))


def test_training_decreases_loss_and_writes_a_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(data, val_data=str(data[1]), epochs=20, checkpoint_every=5)
    path = train(config, tmp_path / "run", progress=False)
    assert path == tmp_path / "run" / "model.safetensors" and path.is_file()

    loaded = load_prior(path)
    assert loaded.metadata["training"]["steps"] == 20 * 9  # 300 pairs // 32 per epoch
    assert loaded.metadata["training"]["train_data"] == str(data[0])
    schedule = DiffusionSchedule(config.diffusion)
    train_set = TwoHandPairs.from_file(data[0], loaded.normalizer)
    torch.manual_seed(config.seed)
    initial = Denoiser(config.model)  # the weights training started from
    before = evaluate(initial, schedule, train_set, 64, 0.5, 0, torch.device("cpu"))
    after = evaluate(loaded.denoiser, schedule, train_set, 64, 0.5, 0, torch.device("cpu"))
    assert after < 0.7 * before, (before, after)

    epochs = log_events(tmp_path / "run", "epoch")
    assert [e["epoch"] for e in epochs] == list(range(1, 21))
    assert all(np.isfinite(e["val_loss"]) for e in epochs)
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.safetensors"))
    assert checkpoints == ["epoch_0005.safetensors", "epoch_0010.safetensors", "epoch_0015.safetensors"]
    assert TrainConfig.from_yaml(tmp_path / "run" / "config.yaml") == config


def test_lr_decays_per_epoch(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(data, epochs=4, lr_decay_every=2, lr_decay=0.5, lr=1e-3)
    train(config, tmp_path / "run", progress=False)
    lrs = [e["lr"] for e in log_events(tmp_path / "run", "epoch")]
    assert lrs == pytest.approx([1e-3, 5e-4, 5e-4, 2.5e-4])


def test_cosine_schedule_warms_up_then_decays_per_step(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(data, lr_schedule="cosine", warmup_steps=3, max_steps=11, lr=1e-3)
    train(config, tmp_path / "run", progress=False)
    # The lr logged with step s (1-based) is the one the next step will use: factor(s) of 11 steps, warm-up 3.
    lrs = [r["lr"] for r in log_events(tmp_path / "run", "step")]
    expected = [1e-3 * ((s + 1) / 3 if s < 3 else 0.5 * (1 + math.cos(math.pi * (s - 3) / 8))) for s in range(1, 12)]
    assert lrs == pytest.approx(expected)
    assert lrs[1] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ConfigError, match="warmup_steps"):
        tiny_config(data, warmup_steps=3)  # StepLR has no warm-up


def test_saved_prior_is_the_exponential_average_of_the_weights(data: tuple[Path, Path], tmp_path: Path) -> None:
    decay = 0.7
    # The raw weights after steps 1, 2 and 3 (training without the average, which does not change them).
    raw = [
        load_prior(train(tiny_config(data, max_steps=n), tmp_path / f"raw{n}", progress=False)).denoiser.state_dict()
        for n in (1, 2, 3)
    ]
    averaged = train(tiny_config(data, max_steps=3, ema_decay=decay), tmp_path / "ema", progress=False)
    ema = load_prior(averaged).denoiser.state_dict()
    state = load_training_state(tmp_path / "ema" / "training_state.pt")
    for key, value in ema.items():
        # The first update copies the weights, each later one is w_ema <- d w_ema + (1 - d) w.
        expected = decay * (decay * raw[0][key] + (1 - decay) * raw[1][key]) + (1 - decay) * raw[2][key]
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=key)
        assert torch.equal(state["model"][key], raw[2][key]), key  # the optimiser trains the raw weights
    assert load_prior(averaged).metadata["training"]["ema_decay"] == decay


def test_resume_continues_the_average_and_refuses_a_changed_one(data: tuple[Path, Path], tmp_path: Path) -> None:
    straight = train(tiny_config(data, max_steps=12, ema_decay=0.9), tmp_path / "straight", progress=False)
    train(tiny_config(data, max_steps=5, ema_decay=0.9), tmp_path / "split", progress=False)
    resumed = train(tiny_config(data, max_steps=12, ema_decay=0.9), tmp_path / "split", resume=True, progress=False)
    a, c = (load_prior(p).denoiser.state_dict() for p in (straight, resumed))
    for key in a:
        assert torch.equal(a[key], c[key]), key
    with pytest.raises(CheckpointError, match="weights' average"):
        train(tiny_config(data, max_steps=14), tmp_path / "split", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="lr_schedule"):
        train(tiny_config(data, max_steps=14, ema_decay=0.9, lr_schedule="cosine"), tmp_path / "split", resume=True)


def test_keypoint_loss_adds_to_the_training_loss_and_needs_the_decomposed_prior(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    runs = {}
    for name, weight in (("plain", 0.0), ("keypoints", 1e4)):
        config = tiny_config(data, max_steps=1, keypoint_loss_weight=weight, lr=1e-9)
        train(config, tmp_path / name, progress=False)
        runs[name] = log_events(tmp_path / name, "step")[0]["loss"]
    # Same draws, same (barely moved) weights: the first step's loss grows by the keypoint term only.
    assert runs["keypoints"] > runs["plain"] + 1e-3
    with pytest.raises(ConfigError, match="keypoint_loss_weight"):
        tiny_config(data, keypoint_loss_weight=1.0, p_uncond=1.0, model={**TINY_MODEL, "num_hands": 2})


def test_deterministic_and_resume_matches_uninterrupted(data: tuple[Path, Path], tmp_path: Path) -> None:
    straight = train(tiny_config(data, max_steps=14), tmp_path / "straight", progress=False)
    again = train(tiny_config(data, max_steps=14), tmp_path / "again", progress=False)

    # Stop mid-epoch (9 batches per epoch), then resume across the epoch boundary.
    train(tiny_config(data, max_steps=5), tmp_path / "split", progress=False)
    state = load_training_state(tmp_path / "split" / "training_state.pt")
    assert (state["step"], state["epoch"], state["batch"]) == (5, 0, 5)
    resumed = train(tiny_config(data, max_steps=14), tmp_path / "split", resume=True, progress=False)

    a, b, c = (load_prior(p).denoiser.state_dict() for p in (straight, again, resumed))
    for key in a:
        assert torch.equal(a[key], b[key]), key
        assert torch.equal(a[key], c[key]), key
    steps = [r["step"] for r in log_events(tmp_path / "split", "step")]
    assert steps == list(range(1, 15))
    assert load_prior(resumed).metadata["training"]["steps"] == 14


def test_refuses_to_overwrite_and_to_resume_nothing(data: tuple[Path, Path], tmp_path: Path) -> None:
    train(tiny_config(data, max_steps=2), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(tiny_config(data, max_steps=2), tmp_path / "run", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no training state"):
        train(tiny_config(data), tmp_path / "empty", resume=True, progress=False)
    bigger = tiny_config(data, model={**TINY_MODEL, "hidden_dim": 48})
    with pytest.raises(CheckpointError, match="trained with model"):
        train(bigger, tmp_path / "run", resume=True, progress=False)


def test_fine_tuning_starts_from_the_given_prior(data: tuple[Path, Path], tmp_path: Path) -> None:
    base = train(tiny_config(data, max_steps=6), tmp_path / "base", progress=False)
    # Other data with other statistics: the checkpoint's normaliser is kept, not the data's.
    other = write_hands(tmp_path / "other.npz", 60, 7)
    tuned = train(
        tiny_config((other, data[1]), init_from=str(base), max_steps=1, lr=1e-9), tmp_path / "tuned", progress=False
    )
    a, b = load_prior(base), load_prior(tuned)
    assert b.metadata["training"]["init_from"] == str(base) and a.metadata["training"]["init_from"] is None
    assert torch.equal(a.normalizer.mean, b.normalizer.mean) and torch.equal(a.normalizer.std, b.normalizer.std)
    for key, value in a.denoiser.state_dict().items():
        assert torch.allclose(value, b.denoiser.state_dict()[key], atol=1e-6), key
    scratch = train(tiny_config((other, data[1]), max_steps=1, lr=1e-9), tmp_path / "scratch", progress=False)
    assert not torch.equal(load_prior(scratch).normalizer.mean, a.normalizer.mean)
    bigger = tiny_config(data, init_from=str(base), model={**TINY_MODEL, "hidden_dim": 48})
    with pytest.raises(ConfigError, match="model configuration differs"):
        train(bigger, tmp_path / "bigger", progress=False)


def test_training_does_not_touch_the_global_rng(data: tuple[Path, Path], tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(tiny_config(data, max_steps=2), tmp_path / "run", progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_module_entry_point_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = tiny_config(data, epochs=2, val_data=str(data[1]), log_every=2)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(config.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "interhandgen_core.training.loop",
        "--config",
        str(recipe),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    start = log_events(tmp_path / "run", "start")
    assert start[0]["world_size"] == 2
    loaded = load_prior(tmp_path / "run" / "model.safetensors")
    # 300 pairs split over 2 ranks: 150 each, 4 full batches of 32 per epoch.
    assert loaded.metadata["training"]["steps"] == 2 * 4
    assert [e["epoch"] for e in log_events(tmp_path / "run", "epoch")] == [1, 2]


# Object-conditioned training (paper 3.6): grasp sets in, prior with encoder out.


@pytest.fixture(scope="module")
def grasp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_grasps(tmp_path_factory.mktemp("grasps") / "grasps.npz", 20)


def object_config(path: Path, **overrides: object) -> TrainConfig:
    encoder = {"num_points": 32, "min_points": 8, "centroids": [8, 4], "radii": [0.04, 0.1], "neighbors": [4, 4],
               "mlps": [[8], [8]], "global_mlp": [8], "head": [8]}  # fmt: skip
    values: dict[str, object] = {
        "train_data": str(path),
        "val_data": str(path),
        "epochs": 2,
        "batch_size": 8,
        "log_every": 1,
        "device": "cpu",
        "model": {**TINY_MODEL, "object_embedding_dim": 8},
        "diffusion": {"num_timesteps": 50},
        "object_encoder": encoder,
    }
    values.update(overrides)
    return TrainConfig.from_dict(values)


def test_object_training_writes_an_object_prior_and_resumes_exactly(grasp_data: Path, tmp_path: Path) -> None:
    straight = train(object_config(grasp_data, max_steps=7), tmp_path / "straight", progress=False)
    train(object_config(grasp_data, max_steps=3), tmp_path / "split", progress=False)
    resumed = train(object_config(grasp_data, max_steps=7), tmp_path / "split", resume=True, progress=False)
    a, b = load_prior(straight), load_prior(resumed)
    assert a.object_encoder is not None and b.object_encoder is not None
    for key, value in a.object_encoder.state_dict().items():
        assert torch.equal(value, b.object_encoder.state_dict()[key]), key
    for key, value in a.denoiser.state_dict().items():
        assert torch.equal(value, b.denoiser.state_dict()[key]), key
    assert all(math.isfinite(r["val_loss"]) for r in log_events(tmp_path / "straight", "epoch"))


def test_object_encoder_and_object_token_must_match() -> None:
    with pytest.raises(ConfigError, match="object_embedding_dim"):
        TrainConfig.from_dict({"train_data": "x.npz", "object_encoder": {}})
    with pytest.raises(ConfigError, match="object_embedding_dim"):
        TrainConfig.from_dict({"train_data": "x.npz", "model": {"object_embedding_dim": 16}})


def test_scenes_as_given_are_refused_for_grasp_sets() -> None:
    from interhandgen_core.prior.configuration import ObjectEncoderConfig

    token = ObjectEncoderConfig().out_dim
    grasps = {"train_data": "x.npz", "object_encoder": {}, "model": {"object_embedding_dim": token}}
    assert TrainConfig.from_dict(grasps).scene_views == "both"
    with pytest.raises(ConfigError, match="scene_views: given is for two-hand scenes"):
        TrainConfig.from_dict({**grasps, "scene_views": "given"})


def test_given_views_teach_the_unconditional_denoiser_the_anchor_not_the_symmetrised_hands(tmp_path: Path) -> None:
    # Hands in different roles: every right finger joint flexed 0.6 rad more than the left's (about the
    # synthetic set's asymmetry, in units of the pose's spread). Both views teach the anchor the mixture
    # of the left hands (mirrored) and the right ones; given views, the left hands alone.
    path = write_hands(tmp_path / "asymmetric.npz", 150, 3)
    arrays = dict(np.load(path))
    arrays["right_pose"] = arrays["right_pose"] + 0.6
    np.savez(path, **arrays)
    anchor_pose = {}
    for views in ("both", "given"):
        # A schedule that ends in noise (alpha_T 5e-4): at t = T the x_0 prediction is the learned mean.
        diffusion = {"num_timesteps": 50, "beta_end": 0.3}
        epochs = 60 if views == "given" else 30  # the same number of steps: one pair per scene, not two
        config = tiny_config((path, path), epochs=epochs, scene_views=views, diffusion=diffusion)
        loaded = load_prior(train(config, tmp_path / views, progress=False))
        t = torch.full((512,), 49)
        x_t = torch.randn(512, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            pred = loaded.denoiser(x_t, t, torch.zeros(512, 64), torch.zeros(512, dtype=torch.bool))
        anchor_pose[views] = float(loaded.normalizer.denormalize(pred)[:, :45].mean())
    # Gamma(left pose) has mean 0 in every entry; the right poses 0.6 in x and, mirrored into the
    # anchor's frame, 0.6 as well: the mixture's mean is 0.3.
    assert abs(anchor_pose["given"]) < 0.1, anchor_pose
    assert 0.2 < anchor_pose["both"] < 0.4, anchor_pose
