"""`interhandgen train`: train a prior, the VAE baseline or a feature backbone from a YAML recipe.

    interhandgen train --config training/configs/NAME.yaml --out RUN_DIR [--resume]

What the recipe trains is read from its top-level keys: 'vae' (the VAE baseline), 'backbone'
(an evaluation feature backbone), otherwise a prior.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interhandgen_core.errors import InterHandGenError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train",
        help="train from a YAML recipe: a prior, the VAE baseline ('vae:' key) or a feature backbone ('backbone:' key)",
        description="Train from a YAML recipe (training/configs/): a prior, the VAE baseline (a recipe with a "
        "'vae:' key) or an evaluation feature backbone (a 'backbone:' key); the run directory gets the model "
        "and its JSON.",
    )
    train.add_argument("--config", required=True, help="the recipe, e.g. training/configs/twohand_small.yaml")
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.set_defaults(func=run)


def _recipe_kind(path: str) -> str:
    """'prior', 'vae' or 'backbone': what a training recipe trains (its top-level 'vae' or 'backbone' key)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InterHandGenError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise InterHandGenError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "vae" in data:
        return "vae"
    if isinstance(data, dict) and "backbone" in data:
        return "backbone"
    return "prior"


def run(args: argparse.Namespace) -> None:
    kind = _recipe_kind(args.config)
    if kind == "vae":
        from interhandgen_core.training.vae import VaeTrainConfig, train_vae

        if args.resume:
            raise InterHandGenError("--resume: VAE runs are short and are not resumable; start a new run")
        print(f"wrote {train_vae(VaeTrainConfig.from_yaml(args.config), Path(args.out))}")
        return
    if kind == "backbone":
        from interhandgen_core.evaluation.backbone_training import train_backbone
        from interhandgen_core.evaluation.configuration import BackboneTrainConfig
        from interhandgen_core.hands.layer import HandLayer
        from interhandgen_core.hands.loading import load_hand_pair

        if args.resume:
            raise InterHandGenError("--resume: feature backbone runs are not resumable; start a new run")
        right, left = load_hand_pair("procedural", None)
        path = train_backbone(
            BackboneTrainConfig.from_yaml(args.config), Path(args.out), HandLayer(right), HandLayer(left)
        )
        print(f"wrote {path}")
        print(json.dumps(json.loads(path.with_suffix(".json").read_text())["held_out_error"]))
        return
    from interhandgen_core.prior.configuration import TrainConfig
    from interhandgen_core.training.loop import train

    config = TrainConfig.from_yaml(args.config)
    model_path = train(config, Path(args.out), resume=args.resume)
    print(f"wrote {model_path}")
