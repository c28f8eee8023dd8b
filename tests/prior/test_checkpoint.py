from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from interhandgen_core.errors import CheckpointError
from interhandgen_core.prior.checkpoint import (
    FORMAT_VERSION,
    load_prior,
    load_training_state,
    save_prior,
    save_training_state,
)
from interhandgen_core.prior.configuration import DenoiserConfig, DiffusionConfig, ObjectEncoderConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.prior.object_encoder import ObjectEncoder
from interhandgen_core.prior.representation import Normalizer

TINY = {"preset": "custom", "embed_dim": 16, "hidden_dim": 32, "num_heads": 2, "num_layers": 1, "ff_dim": 32}


def make(tmp_path: Path, **overrides: object) -> tuple[Path, Denoiser, Normalizer, DenoiserConfig]:
    torch.manual_seed(0)
    config = DenoiserConfig.from_dict({**TINY, "decoder_layers": 3, **overrides})
    denoiser = Denoiser(config)
    normalizer = Normalizer(torch.randn(64), torch.rand(64) + 0.5)
    # A denoiser with an object token is saved with its object encoder (a tiny one here).
    encoder = None
    if config.object_embedding_dim:
        head = (config.object_embedding_dim,)
        encoder = ObjectEncoder(
            ObjectEncoderConfig(
                num_points=16,
                min_points=4,
                centroids=(4,),
                radii=(0.1,),
                neighbors=(4,),
                mlps=((4,),),
                global_mlp=(4,),
                head=head,
            )
        )
    path = save_prior(
        tmp_path / "prior",
        denoiser,
        normalizer,
        config,
        DiffusionConfig(num_timesteps=100),
        extra={"training": {"steps": 7, "seed": 3}},
        object_encoder=encoder,
    )
    return path, denoiser, normalizer, config


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    path, denoiser, normalizer, config = make(tmp_path, object_embedding_dim=4)
    assert path == tmp_path / "prior.safetensors" and (tmp_path / "prior.json").is_file()
    loaded = load_prior(path)
    assert not loaded.denoiser.training
    assert loaded.model_config == config and loaded.diffusion_config == DiffusionConfig(num_timesteps=100)
    assert loaded.metadata["training"] == {"steps": 7, "seed": 3}
    assert loaded.metadata["hand_model"] == "procedural" and loaded.metadata["format_version"] == FORMAT_VERSION
    torch.testing.assert_close(loaded.normalizer.mean, normalizer.mean, rtol=0, atol=0)
    torch.testing.assert_close(loaded.normalizer.std, normalizer.std, rtol=0, atol=0)
    denoiser.eval()
    g = torch.Generator().manual_seed(0)
    args = (
        torch.randn(5, 64, generator=g),
        torch.randint(0, 100, (5,), generator=g),
        torch.randn(5, 64, generator=g),
        torch.tensor([True, False, True, True, False]),
        torch.randn(5, 4, generator=g),
    )
    with torch.no_grad():
        assert torch.equal(loaded.denoiser(*args), denoiser(*args))
    # The stem and the JSON name work as well.
    assert load_prior(tmp_path / "prior").model_config == config
    assert load_prior(tmp_path / "prior.json").model_config == config


def test_reserved_extra_keys_refused(tmp_path: Path) -> None:
    config = DenoiserConfig.from_dict({**TINY, "decoder_layers": 2})
    with pytest.raises(ValueError, match="model"):
        save_prior(tmp_path / "p", Denoiser(config), Normalizer(), config, DiffusionConfig(), extra={"model": 1})


def one_line_error(path: Path, name: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_prior(path)
    message = str(info.value)
    assert name in message and "\n" not in message, message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in one_line_error(tmp_path / "absent.safetensors", "absent.safetensors")


def test_missing_json(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    (tmp_path / "prior.json").unlink()
    assert "missing" in one_line_error(path, "prior.json")


@pytest.mark.parametrize("keep", [4, 100, -200])
def test_truncated_or_corrupt_weights(tmp_path: Path, keep: int) -> None:
    path, *_ = make(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    assert "corrupt" in one_line_error(path, "prior.safetensors")


def test_garbage_weights(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    path.write_bytes(b"\xff" * 64)
    one_line_error(path, "prior.safetensors")


def test_other_format_version(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    meta_path = tmp_path / "prior.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    assert "format version" in one_line_error(path, "prior.json")


def test_corrupt_json(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    (tmp_path / "prior.json").write_text("{not json")
    one_line_error(path, "prior.json")


def test_tensors_of_another_configuration(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    meta_path = tmp_path / "prior.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["hidden_dim"] = 48
    meta_path.write_text(json.dumps(meta))
    message = one_line_error(path, "prior.safetensors")
    assert "denoiser.embed_x.0.weight" in message and "(32, 64)" in message and "(48, 64)" in message


def test_tensors_missing_for_configuration(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    meta_path = tmp_path / "prior.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["decoder_layers"] = 5
    meta_path.write_text(json.dumps(meta))
    assert "missing denoiser.decoder.3" in one_line_error(path, "prior.safetensors")


def test_invalid_configuration_in_json(tmp_path: Path) -> None:
    path, *_ = make(tmp_path)
    meta_path = tmp_path / "prior.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["embed_dim"] = -3
    meta_path.write_text(json.dumps(meta))
    assert "embed_dim" in one_line_error(path, "prior.json")


def test_training_state_round_trip_and_errors(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 3, "name": "x"}
    save_training_state(tmp_path / "state.pt", state)
    back = load_training_state(tmp_path / "state.pt")
    assert back["step"] == 3 and torch.equal(back["model"]["weight"], model.weight)
    opt.load_state_dict(back["optimizer"])

    with pytest.raises(CheckpointError, match=r"absent\.pt"):
        load_training_state(tmp_path / "absent.pt")
    (tmp_path / "bad.pt").write_bytes((tmp_path / "state.pt").read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"bad\.pt"):
        load_training_state(tmp_path / "bad.pt")


class Evil:
    """Any class outside torch's weights-only allowlist."""


def test_training_state_refuses_arbitrary_objects(tmp_path: Path) -> None:
    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        load_training_state(tmp_path / "evil.pt")
