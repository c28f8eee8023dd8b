from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import (
    DenoiserConfig,
    DiffusionConfig,
    ObjectEncoderConfig,
    SamplerConfig,
    TrainConfig,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_paper() -> None:
    diffusion = DiffusionConfig()
    assert (diffusion.num_timesteps, diffusion.beta_start, diffusion.beta_end) == (256, 1e-4, 0.01)
    sampler = SamplerConfig()
    assert (sampler.cfg_weight, sampler.penetration_guidance_weight, sampler.penetration_decay) == (0.1, 4.0, 0.9)
    # The one departure: 16 DDIM steps, not S.4.2's 32 (measured as good, SamplerConfig's docstring); the
    # paper's protocol pins 32.
    assert sampler.ddim_steps == 16
    train = TrainConfig(train_data=Path("x.npz"))
    assert (train.epochs, train.batch_size, train.lr, train.lr_decay, train.lr_decay_every, train.p_uncond) == (
        80,
        256,
        2e-4,
        0.9,
        20,
        0.5,
    )


def test_presets() -> None:
    paper = DenoiserConfig.from_preset("paper")
    assert (paper.hidden_dim, paper.embed_dim, paper.num_heads, paper.num_layers, paper.ff_dim) == (
        2056,
        512,
        4,
        2,
        2048,
    )
    assert (paper.decoder_layers, paper.dropout, paper.preset) == (7, 0.1, "paper")
    small = DenoiserConfig.from_preset("small")
    assert (small.hidden_dim, small.embed_dim, small.ff_dim) == (512, 128, 512)
    assert small == DenoiserConfig()  # the dataclass defaults are the small preset
    assert DenoiserConfig.from_preset("paper", dropout=0.0).dropout == 0.0


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match="paper, small"):
        DenoiserConfig.from_preset("huge")
    with pytest.raises(ConfigError, match="preset"):
        DenoiserConfig.from_dict({"preset": "huge"})


def test_preset_in_dict_is_the_base_for_overrides() -> None:
    config = DenoiserConfig.from_dict({"preset": "paper", "num_layers": 3})
    assert (config.hidden_dim, config.num_layers) == (2056, 3)


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (DenoiserConfig, {"embed_dim": 0}, "embed_dim"),
        (DenoiserConfig, {"embed_dim": 30, "num_heads": 4}, "num_heads"),
        (DenoiserConfig, {"embed_dim": 15, "num_heads": 1}, "even"),
        (DenoiserConfig, {"dropout": 1.0}, "dropout"),
        (DenoiserConfig, {"hand_dim": 63}, "hand_dim"),
        (DenoiserConfig, {"num_layers": 2.5}, "num_layers"),
        (DenoiserConfig, {"object_embedding_dim": -1}, "object_embedding_dim"),
        (DiffusionConfig, {"num_timesteps": 0}, "num_timesteps"),
        (DiffusionConfig, {"beta_start": 0.02, "beta_end": 0.01}, "beta_end"),
        (DiffusionConfig, {"beta_end": 1.0}, "beta_end"),
        (DiffusionConfig, {"beta_schedule": "cosine"}, "beta_schedule"),
        (SamplerConfig, {"ddim_steps": 0}, "ddim_steps"),
        (SamplerConfig, {"cfg_weight": -0.1}, "cfg_weight"),
        (SamplerConfig, {"cfg_weight": 10.5}, "cfg_weight"),
        (SamplerConfig, {"penetration_guidance_weight": 1001.0}, "penetration_guidance_weight"),
        (SamplerConfig, {"penetration_decay": 0.0}, "penetration_decay"),
        (SamplerConfig, {"penetration_decay": 1.5}, "penetration_decay"),
        (TrainConfig, {"train_data": "a.npz", "p_uncond": 1.5}, "p_uncond"),
        (TrainConfig, {"train_data": "a.npz", "lr": 0}, "lr"),
        (TrainConfig, {"train_data": "a.npz", "batch_size": True}, "batch_size"),
        (TrainConfig, {"train_data": "a.npz", "device": "tpu"}, "device"),
        (TrainConfig, {"train_data": "a.npz", "max_steps": 0}, "max_steps"),
        (TrainConfig, {"train_data": ""}, "train_data"),
    ],
)
def test_validation_names_the_field(cls: type, kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        cls(**kwargs)


def test_sampler_steps_checked_against_timesteps() -> None:
    SamplerConfig(ddim_steps=256).check_against(DiffusionConfig())
    with pytest.raises(ConfigError, match="ddim_steps"):
        SamplerConfig(ddim_steps=257).check_against(DiffusionConfig())


def test_yaml_style_float_strings_are_numbers() -> None:
    # PyYAML reads "2e-4" (no dot) as a string.
    config = TrainConfig.from_dict(yaml.safe_load("train_data: a.npz\nlr: 2e-4\n"))
    assert config.lr == pytest.approx(2e-4)
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig.from_dict({"train_data": "a.npz", "lr": "fast"})


def test_dict_round_trip() -> None:
    config = TrainConfig(
        train_data=Path("data/train.npz"),
        val_data=Path("data/val.npz"),
        epochs=3,
        max_steps=7,
        model=DenoiserConfig.from_preset("paper", object_embedding_dim=512),
        diffusion=DiffusionConfig(num_timesteps=100),
        object_encoder=ObjectEncoderConfig(head=(512, 512)),
    )
    data = config.to_dict()
    assert data["train_data"] == "data/train.npz" and data["model"]["preset"] == "paper"
    assert TrainConfig.from_dict(data) == config
    assert TrainConfig.from_dict(json.loads(json.dumps(data))) == config  # tuples survive JSON as lists
    for cls in (DenoiserConfig, DiffusionConfig, SamplerConfig, ObjectEncoderConfig):
        assert cls.from_dict(cls().to_dict()) == cls()


def test_unknown_and_missing_keys() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        DiffusionConfig.from_dict({"num_timesteps": 10, "bogus": 1})
    with pytest.raises(ConfigError, match="wdith"):
        TrainConfig.from_dict({"train_data": "a.npz", "model": {"wdith": 3}})
    with pytest.raises(ConfigError, match="train_data"):
        TrainConfig.from_dict({"epochs": 3})


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    config = TrainConfig(train_data=Path("a.npz"), epochs=5, model=DenoiserConfig.from_preset("small", dropout=0.0))
    path = tmp_path / "run.yaml"
    config.to_yaml(path)
    assert TrainConfig.from_yaml(path) == config

    with pytest.raises(ConfigError, match=r"missing\.yaml.*not found"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        TrainConfig.from_yaml(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("train_data: a.npz\nepochz: 3\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml: .*epochz") as info:
        TrainConfig.from_yaml(wrong)
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        TrainConfig.from_yaml(empty)


def test_relative_data_paths_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("train_data: runs/data/x.npz\n")
    assert TrainConfig.from_yaml(path).train_data == Path("runs/data/x.npz")


@pytest.mark.parametrize(("name", "preset"), [("twohand_small", "small"), ("twohand_paper", "paper")])
def test_shipped_recipes_load(name: str, preset: str) -> None:
    config = TrainConfig.from_yaml(REPO / "training" / "configs" / f"{name}.yaml")
    assert config.model == DenoiserConfig.from_preset(preset)
    assert (config.batch_size, config.lr, config.p_uncond) == (256, 2e-4, 0.5)
    assert config.diffusion == DiffusionConfig()


@pytest.mark.parametrize(
    ("name", "batch", "object_conditioned"), [("interhand_paper", 256, False), ("arctic_paper", 64, True)]
)
def test_dataset_recipes_are_the_papers_settings(name: str, batch: int, object_conditioned: bool) -> None:
    config = TrainConfig.from_yaml(REPO / "training" / "configs" / f"{name}.yaml")
    assert config.model.preset == "paper"
    assert (config.epochs, config.batch_size, config.lr, config.lr_decay, config.lr_decay_every) == (
        80,
        batch,
        2e-4,
        0.9,
        20,
    )
    assert (config.object_encoder is not None) == object_conditioned
    if config.object_encoder is not None:
        assert config.object_encoder.out_dim == config.model.object_embedding_dim == 512


def test_sampler_reads_the_former_name_of_the_guidance_weight(tmp_path: Path) -> None:
    # SamplerConfig.penetration_weight was renamed penetration_guidance_weight (RefinerConfig has its
    # own penetration_weight, another thing); files written before still load.
    assert SamplerConfig.from_dict({"penetration_weight": 2}).penetration_guidance_weight == 2.0
    path = tmp_path / "sampler.yaml"
    path.write_text("penetration_weight: 0.0\nddim_steps: 8\n")
    assert SamplerConfig.from_yaml(path) == SamplerConfig(ddim_steps=8, penetration_guidance_weight=0.0)
    with pytest.raises(ConfigError, match="former name"):
        SamplerConfig.from_dict({"penetration_weight": 2, "penetration_guidance_weight": 3})
    assert "penetration_guidance_weight" in SamplerConfig().to_dict()


@pytest.mark.parametrize("name", ["twohand_small", "twohand_object_small"])
def test_shipped_checkpoint_configs_load_unchanged(name: str) -> None:
    meta = json.loads((REPO / "interhandgen_core" / "assets" / f"{name}.json").read_text())
    model = DenoiserConfig.from_dict(meta["model"])
    assert {k: model.to_dict()[k] for k in meta["model"]} == meta["model"]
    assert DiffusionConfig.from_dict(meta["diffusion"]).to_dict() == meta["diffusion"]
    if "object_encoder" in meta:
        assert ObjectEncoderConfig.from_dict(meta["object_encoder"]).to_dict() == meta["object_encoder"]
