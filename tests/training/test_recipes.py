"""Every shipped training recipe (training/configs/) reads as the configuration it trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interhandgen_core.evaluation.configuration import BackboneTrainConfig
from interhandgen_core.evaluation.protocol import ProtocolConfig
from interhandgen_core.prior.configuration import TrainConfig
from interhandgen_core.training.vae import VaeTrainConfig

CONFIGS = Path(__file__).parents[2] / "training" / "configs"
RECIPES = sorted(CONFIGS.rglob("*.yaml"))


def _kind(path: Path) -> type:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if path.name.startswith("protocol_"):
        return ProtocolConfig
    if "vae" in data:
        return VaeTrainConfig
    if "backbone" in data:
        return BackboneTrainConfig
    return TrainConfig


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(CONFIGS)) for p in RECIPES])
def test_recipe_reads_as_its_configuration(path: Path) -> None:
    _kind(path).from_yaml(path)


def test_each_factor_recipe_changes_one_thing_of_the_shipped_recipe_at_the_ablations_budget() -> None:
    base = TrainConfig.from_yaml(CONFIGS / "ablations" / "twohand_small_ours.yaml").to_dict()
    changed = {}
    for path in sorted((CONFIGS / "factors").glob("*.yaml")):
        recipe = TrainConfig.from_yaml(path).to_dict()
        changed[path.stem] = sorted(key for key in base if recipe[key] != base[key] and key != "checkpoint_every")
    assert changed == {
        "cosine": ["lr_schedule", "warmup_steps"],
        "cosine_lr1e-3": ["lr", "lr_schedule", "warmup_steps"],
        "ema": ["ema_decay"],
        "given_views": ["lr_decay_every", "scene_views"],
        "keypoints": ["keypoint_loss_weight"],
        "nodropout": ["model"],
        "schedule_t1000": ["diffusion"],
        "unconditional_root": ["unconditional_root_loss"],
        "wide": ["model"],
    }


def test_each_given_views_ablation_is_its_ablation_on_the_scenes_as_given() -> None:
    for path in sorted((CONFIGS / "ablations_given").glob("*.yaml")):
        base = TrainConfig.from_yaml(CONFIGS / "ablations" / path.name).to_dict()
        recipe = TrainConfig.from_yaml(path).to_dict()
        assert sorted(key for key in base if recipe[key] != base[key]) == ["lr_decay_every", "scene_views"], path
        assert recipe["scene_views"] == "given" and recipe["lr_decay_every"] == 2 * base["lr_decay_every"]
