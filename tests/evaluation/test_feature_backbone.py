"""The feature backbone: batch independence, checkpoints, and a training run that learns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_hands import write_hands

from interhandgen_core.errors import CheckpointError, ConfigError
from interhandgen_core.evaluation.backbone_training import backbone_data, new_backbone, train_backbone
from interhandgen_core.evaluation.configuration import BackboneTrainConfig, FeatureBackboneConfig
from interhandgen_core.evaluation.feature_backbone import load_backbone, save_backbone
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair

TINY = FeatureBackboneConfig(
    points_per_hand=48, centroids=(24, 8), neighbors=(8, 8), mlps=((16,), (16,)), global_mlp=(32,), head=(16,)
)


@pytest.fixture(scope="module")
def layers() -> tuple[HandLayer, HandLayer]:
    right, left = load_hand_pair("procedural", None)
    return HandLayer(right), HandLayer(left)


def test_features_do_not_depend_on_batch_mates(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    right, left = layers
    backbone = new_backbone(TINY, right, left)
    data = backbone_data(write_hands(tmp_path / "h.npz", 6, 0), backbone, right, left, both_views=False)
    cloud, labels = backbone.assemble_cloud([data.left_vertices, data.right_vertices])
    together = backbone(cloud, labels)[0]
    alone = torch.cat([backbone(cloud[i : i + 1], labels[i : i + 1])[0] for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_and_refusals(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    right, left = layers
    backbone = new_backbone(TINY, right, left)
    backbone.target_mean.fill_(0.5)
    path = save_backbone(tmp_path / "bb", backbone, {"note": 1})
    loaded = load_backbone(path)
    vertices = torch.randn(3, right.num_vertices, 3) * 0.05
    torch.testing.assert_close(
        loaded.backbone.features_of(vertices, vertices), backbone.features_of(vertices, vertices)
    )
    assert loaded.metadata["note"] == 1
    path.with_suffix(".json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a feature backbone"):
        load_backbone(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_backbone(tmp_path / "missing.safetensors")


def test_config_refuses_more_centres_than_points() -> None:
    with pytest.raises(ConfigError, match="centroids"):
        FeatureBackboneConfig(points_per_hand=8, centroids=(32, 8))


def test_a_short_run_learns_and_reports_its_held_out_error(layers: tuple[HandLayer, HandLayer], tmp_path: Path) -> None:
    right, left = layers
    config = BackboneTrainConfig(
        train_data=write_hands(tmp_path / "train.npz", 64, 0),
        val_data=write_hands(tmp_path / "val.npz", 16, 1),
        epochs=40,
        batch_size=16,
        lr=3e-3,
        lr_decay_every=100,
        log_every=8,
        backbone=TINY,
    )
    path = train_backbone(config, tmp_path / "run", right, left, progress=False)
    meta = json.loads(path.with_suffix(".json").read_text())
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.95 * losses[0]  # toy poses are random: only part of the targets is learnable
    assert set(meta["held_out_error"]) == {"mpjpe_mm", "wrist_mm", "rotation_deg"}
    assert 0 < meta["held_out_error"]["mpjpe_mm"] < 100
    with pytest.raises(ConfigError, match="already holds"):
        train_backbone(config, tmp_path / "run", right, left, progress=False)
