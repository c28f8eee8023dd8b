"""Training of the evaluation feature backbone (supplementary S.4.1) and its held-out regression error.

Data: a hands file (two-hand scenes, canonicalised to the left hand's frame) or a grasp set
(hands and object in the object frame). Each scene also gives its mirror image Gamma with the
sides swapped (the same augmentation as Algorithm 1's), so the backbone sees both views.
Clouds are made once through the hand layers (only the vertex subset is kept); an object's
cloud is re-drawn from its surface samples at every step.

Held-out error (``regression_error``): the predicted pose and root of both hands, with the
true shape, through the hand layers: MPJPE over the 21 keypoints of both hands (mm; the paper
reports 1.49 mm on InterHand2.6M), wrist position error (mm) and root rotation error (degrees).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import ConfigError
from interhandgen_core.evaluation.configuration import BackboneTrainConfig, FeatureBackboneConfig
from interhandgen_core.evaluation.feature_backbone import (
    FeatureBackbone,
    canonical_scene,
    hand_vertices,
    save_backbone,
    scene_targets,
    template_vertex_index,
)
from interhandgen_core.geometry.mirroring import mirror_points
from interhandgen_core.geometry.rotations import rotation_6d_to_matrix
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer


@dataclass
class BackboneData:
    """Scenes ready for the backbone. left/right_vertices (N, points_per_hand, 3) metres, scene frame;
    targets (N, 108); betas (N, 2, 10) for the error; object clouds (M, P, 3) and object_index (N,) | None."""

    left_vertices: Tensor
    right_vertices: Tensor
    targets: Tensor
    betas: Tensor
    object_clouds: Tensor | None = None
    object_index: Tensor | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def object_points(self, rows: Tensor, num: int, generator: torch.Generator | None) -> Tensor | None:
        """(len(rows), num, 3): a random subset of each scene's object cloud (the first ``num`` when no generator)."""
        if self.object_clouds is None or self.object_index is None:
            return None
        clouds = self.object_clouds[self.object_index[rows]]
        if generator is None:
            return clouds[:, :num]
        order = torch.rand(clouds.shape[:2], generator=generator).argsort(dim=1)[:, :num]
        return torch.gather(clouds, 1, order[..., None].expand(-1, -1, 3))


def backbone_data(
    path: Path,
    backbone: FeatureBackbone,
    right_layer: HandLayer,
    left_layer: HandLayer,
    both_views: bool = True,
) -> BackboneData:
    """A hands file (two-hand) or grasp set (object) -> BackboneData, with the Gamma-swapped views when ``both_views``."""
    clouds = index = None
    if backbone.config.with_object:
        grasps = GraspSet.load(path)
        left, right = grasps.left, grasps.right
        clouds, index = grasps.object_points, grasps.object_index
    else:
        left, right = canonical_scene(*load_twohand_params(path))
    views = [(left, right)]
    if both_views:
        # Gamma(right) is a left hand: the mirror image of the scene with the sides swapped.
        views.append((right.mirrored(), left.mirrored()))
    lv, rv, targets, betas = [], [], [], []
    for v_left, v_right in views:
        if not backbone.config.with_object:
            v_left, v_right = canonical_scene(v_left, v_right)
        lv.append(hand_vertices(left_layer, v_left, backbone.left_index))
        rv.append(hand_vertices(right_layer, v_right, backbone.right_index))
        targets.append(scene_targets(v_left, v_right))
        betas.append(torch.stack([v_left.betas, v_right.betas], dim=1))
    object_clouds = object_index = None
    if clouds is not None and index is not None:
        object_clouds = torch.cat([clouds, mirror_points(clouds)]) if both_views else clouds
        object_index = torch.cat([index, index + clouds.shape[0]]) if both_views else index
    return BackboneData(torch.cat(lv), torch.cat(rv), torch.cat(targets), torch.cat(betas), object_clouds, object_index)


def new_backbone(config: FeatureBackboneConfig, right_layer: HandLayer, left_layer: HandLayer) -> FeatureBackbone:
    """A backbone with the template vertex subsets of these hand layers (rest pose, mean shape).

    Farthest point sampling depends only on distances, so the template's own frame serves.
    """
    return FeatureBackbone(
        config,
        template_vertex_index(left_layer.v_template, config.points_per_hand),
        template_vertex_index(right_layer.v_template, config.points_per_hand),
    )


def _batch(
    backbone: FeatureBackbone, data: BackboneData, rows: Tensor, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    obj = data.object_points(rows, backbone.config.object_points, generator)
    # The stored vertices are the template subset already, so they go straight to assembly.
    parts = [data.left_vertices[rows], data.right_vertices[rows]] + ([] if obj is None else [obj])
    return backbone.assemble_cloud(parts)


@torch.no_grad()
def regression_error(
    backbone: FeatureBackbone, data: BackboneData, right_layer: HandLayer, left_layer: HandLayer, batch_size: int = 256
) -> dict[str, float]:
    """Held-out error of the backbone's regression (module docstring), over every scene of ``data``."""
    backbone.eval()
    errors: dict[str, list[Tensor]] = {"mpjpe_mm": [], "wrist_mm": [], "rotation_deg": []}
    for start in range(0, len(data), batch_size):  # memory chunks
        rows = torch.arange(start, min(start + batch_size, len(data)))
        cloud, labels = _batch(backbone, data, rows, None)
        pred, true = backbone.predict(cloud, labels), data.targets[rows]
        for side, layer in enumerate((left_layer, right_layer)):
            block = slice(54 * side, 54 * side + 54)
            p, t = pred[:, block], true[:, block]
            betas = data.betas[rows, side]
            p_rot, t_rot = rotation_6d_to_matrix(p[:, 45:51]), rotation_6d_to_matrix(t[:, 45:51])
            kp_p = layer(HandParams(p[:, :45], betas, p_rot, p[:, 51:])).keypoints
            kp_t = layer(HandParams(t[:, :45], betas, t_rot, t[:, 51:])).keypoints
            errors["mpjpe_mm"].append(1000 * (kp_p - kp_t).norm(dim=-1).mean(-1))
            errors["wrist_mm"].append(1000 * (p[:, 51:] - t[:, 51:]).norm(dim=-1))
            cos = ((p_rot.transpose(-1, -2) @ t_rot).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
            errors["rotation_deg"].append(torch.rad2deg(torch.arccos(cos.clamp(-1, 1))))
    return {k: float(torch.cat(v).mean()) for k, v in errors.items()}


def train_backbone(
    config: BackboneTrainConfig,
    out_dir: str | Path,
    right_layer: HandLayer,
    left_layer: HandLayer,
    progress: bool = True,
) -> Path:
    """Train per the config; writes OUT/backbone.{safetensors,json} (with the held-out error) and log.jsonl."""
    out_dir = Path(out_dir)
    if (out_dir / "backbone.safetensors").exists():
        raise ConfigError(f"{out_dir}: already holds a trained backbone; choose another output directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    backbone = new_backbone(config.backbone, right_layer, left_layer)
    train_set = backbone_data(config.train_data, backbone, right_layer, left_layer)
    val_set = (
        None if config.val_data is None else backbone_data(config.val_data, backbone, right_layer, left_layer, False)
    )
    backbone.target_mean.copy_(train_set.targets.mean(0))
    std = train_set.targets.std(0)
    backbone.target_std.copy_(torch.where(std < 1e-4, torch.ones_like(std), std))  # constant targets pass through

    optimizer = torch.optim.Adam(backbone.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.lr_decay_every, config.lr_decay)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = len(train_set) // config.batch_size
    total = (
        config.epochs * steps_per_epoch
        if config.max_steps is None
        else min(config.max_steps, config.epochs * steps_per_epoch)
    )
    log_path = out_dir / "log.jsonl"
    bar = tqdm(total=total, desc="train backbone", disable=not progress)
    step, t0, window = 0, time.monotonic(), []
    backbone.train()
    with log_path.open("a", encoding="utf-8") as log:
        for epoch in range(config.epochs):
            order = torch.randperm(len(train_set), generator=generator)
            for i in range(steps_per_epoch):
                rows = order[i * config.batch_size : (i + 1) * config.batch_size]
                cloud, labels = _batch(backbone, train_set, rows, generator)
                target = (train_set.targets[rows] - backbone.target_mean) / backbone.target_std
                loss = (backbone(cloud, labels)[1] - target).square().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                window.append(loss.item())
                bar.update(1)
                if step % config.log_every == 0:
                    mean = sum(window) / len(window)
                    bar.set_postfix(loss=f"{mean:.4f}", epoch=epoch)
                    log.write(
                        json.dumps({"step": step, "epoch": epoch, "loss": mean, "time_s": time.monotonic() - t0}) + "\n"
                    )
                    log.flush()
                    window = []
                if step >= total:
                    break
            scheduler.step()
            if step >= total:
                break
    bar.close()
    held_out = None if val_set is None else regression_error(backbone, val_set, right_layer, left_layer)
    extra = {
        "training": {
            "train_data": str(config.train_data),
            "val_data": None if config.val_data is None else str(config.val_data),
            "steps": step,
            "epochs": math.ceil(step / max(1, steps_per_epoch)),
            "batch_size": config.batch_size,
            "seed": config.seed,
            "train_scenes": len(train_set),
            "minutes": round((time.monotonic() - t0) / 60, 1),
        },
        "held_out_error": held_out,
    }
    return save_backbone(out_dir / "backbone", backbone, extra)
