"""The two-hand feature backbone of the evaluation protocol (supplementary S.4.1): PointNet++ over both hands.

Notation (paper -> code):
    two-hand shape as a point cloud   ``cloud`` (B, N, 3), metres x config.scale, with one-hot labels
                                      (B, N, L): left, right (, object); N = 2 x points_per_hand
                                      (+ object_points)
    108 estimation targets            ``targets`` (B, 108): per hand (left, then right) the finger pose
                                      (45, axis-angle), root rotation (6D) and wrist position (3, metres)
                                      in the scene's frame; normalised by training-set mean / std
    256-D features                    ``features`` (B, 256): the penultimate layer, what FHID, KHID,
                                      diversity and precision / recall compare

Frames: a two-hand scene is expressed in the left hand's canonical frame (identity rotation,
wrist at the origin), as the prior generates it, so the left root's 9 targets are constant
there; they are kept so that one output layout serves the object-conditional backbone, whose
scene frame is the object's (S.4.1: both roots in the object-centric space).

Departures from PointNet++ (prior/pointnet2.py): LayerNorm instead of BatchNorm (a sample's
features must not depend on its batch-mates, or FHID would depend on the batch size), and a
fixed farthest-point subset of the hand mesh's vertices instead of all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from interhandgen_core.errors import CheckpointError, ConfigError
from interhandgen_core.evaluation.configuration import FeatureBackboneConfig
from interhandgen_core.geometry.point_sampling import farthest_point_sample
from interhandgen_core.geometry.rotations import matrix_to_rotation_6d
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.pointnet2 import level_mlps, set_abstraction

FORMAT_NAME = "interhandgen-feature-backbone"
DEFAULT_BACKBONE_NAME = "feature_backbone_twohand.safetensors"
DEFAULT_OBJECT_BACKBONE_NAME = "feature_backbone_object.safetensors"
FORMAT_VERSION = 1


def default_backbone() -> Path:
    """Path of the shipped two-hand feature backbone (trained by training/configs/backbone_twohand.yaml)."""
    return Path(str(resources.files("interhandgen_core") / "assets" / DEFAULT_BACKBONE_NAME))


def default_object_backbone() -> Path:
    """Path of the shipped object-conditional feature backbone (training/configs/backbone_object.yaml)."""
    return Path(str(resources.files("interhandgen_core") / "assets" / DEFAULT_OBJECT_BACKBONE_NAME))


def scene_targets(left: HandParams, right: HandParams) -> Tensor:
    """Both hands in the scene's frame -> (B, 108): [pose 45, rotation 6D, wrist 3] of the left, then the right."""
    parts = []
    for hand in (left, right):
        parts += [hand.pose, matrix_to_rotation_6d(hand.rotation), hand.translation]
    return torch.cat(parts, dim=-1)


def canonical_scene(left: HandParams, right: HandParams) -> tuple[HandParams, HandParams]:
    """Any two-hand scene -> the same scene in the left hand's canonical frame (the prior's frame)."""
    return left.canonical(), right.in_frame_of(left)


def hand_vertices(layer: HandLayer, hands: HandParams, index: Tensor | None = None, chunk: int = 512) -> Tensor:
    """(N,) hands through the layer, in memory chunks -> (N, V, 3) metres, or (N, len(index), 3) when ``index`` keeps
    a vertex subset (only the subset of each chunk is held)."""
    out = []
    with torch.no_grad():
        for start in range(0, hands.batch_size, chunk):  # memory chunks
            h = hands.select(slice(start, start + chunk))
            vertices = layer(h).vertices
            out.append(vertices if index is None else vertices[:, index])
    return torch.cat(out) if out else torch.zeros(0, layer.num_vertices if index is None else len(index), 3)


def template_vertex_index(rest_vertices: Tensor, num: int) -> Tensor:
    """rest_vertices (V, 3) of a hand template -> (num,) long: a farthest-point subset, deterministic."""
    if num > rest_vertices.shape[0]:
        raise ConfigError(
            f"FeatureBackboneConfig.points_per_hand ({num}) exceeds the hand mesh's {rest_vertices.shape[0]} vertices"
        )
    return farthest_point_sample(rest_vertices[None].float(), num)[0]


class FeatureBackbone(nn.Module):
    """PointNet++ SSG regressor over a labelled two-hand (and object) cloud.

    forward(cloud (B, N, 3) metres, labels (B, N, L)) -> (features (B, 256), prediction (B, 108) normalised)
    hands_to_cloud(left_vertices, right_vertices, object_points=None) -> (cloud, labels)
    features_of(left_vertices, right_vertices, object_points=None, batch_size) -> (B, 256), no gradient

    Buffers: the template vertex subset per side and the target mean / std (set by training).
    """

    left_index: Tensor
    right_index: Tensor
    target_mean: Tensor
    target_std: Tensor

    def __init__(self, config: FeatureBackboneConfig, left_index: Tensor, right_index: Tensor) -> None:
        super().__init__()
        self.config = config
        for name, index in (("left_index", left_index), ("right_index", right_index)):
            if index.shape != (config.points_per_hand,):
                raise ConfigError(f"{name} must hold points_per_hand = {config.points_per_hand} vertex indices")
            self.register_buffer(name, index.long().clone())
        self.register_buffer("target_mean", torch.zeros(config.num_outputs))
        self.register_buffer("target_std", torch.ones(config.num_outputs))
        self.levels, self.global_mlp = level_mlps(config.num_labels, config.mlps, config.global_mlp)
        head: list[nn.Module] = []
        width = config.global_mlp[-1]
        for out in config.head:
            head += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.head = nn.Sequential(*head)
        self.output = nn.Linear(width, config.num_outputs)

    def forward(self, cloud: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        c = self.config
        if cloud.ndim != 3 or cloud.shape[1:] != (c.num_points, 3) or labels.shape != (*cloud.shape[:2], c.num_labels):
            raise ValueError(
                f"cloud must be (B, {c.num_points}, 3) and labels (B, {c.num_points}, {c.num_labels}), "
                f"got {tuple(cloud.shape)} and {tuple(labels.shape)}"
            )
        pooled = set_abstraction(
            cloud * c.scale, labels, self.levels, self.global_mlp, c.centroids, c.radii, c.neighbors
        )
        features = self.head(pooled)
        return features, self.output(features)

    def hands_to_cloud(
        self, left_vertices: Tensor, right_vertices: Tensor, object_points: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """left/right_vertices (B, V, 3), object_points (B, P >= object_points, 3) | None -> (cloud, labels).

        The object cloud's first ``object_points`` points are used (callers resample).
        """
        c = self.config
        if (object_points is not None) != c.with_object:
            raise ValueError("this backbone " + ("needs" if c.with_object else "takes no") + " object points")
        parts = [left_vertices[:, self.left_index], right_vertices[:, self.right_index]]
        if object_points is not None:
            if object_points.shape[1] < c.object_points:
                raise ValueError(f"object_points must hold at least {c.object_points} points per sample")
            parts.append(object_points[:, : c.object_points].to(left_vertices.dtype))
        return self.assemble_cloud(parts)

    def assemble_cloud(self, parts: list[Tensor]) -> tuple[Tensor, Tensor]:
        """[left (B, K, 3), right (B, K, 3)(, object (B, P, 3))] -> (cloud (B, N, 3), one-hot labels (B, N, L))."""
        cloud = torch.cat(parts, dim=1)
        side = torch.cat(
            [torch.full((p.shape[1],), i, dtype=torch.long, device=cloud.device) for i, p in enumerate(parts)]
        )
        labels = nn.functional.one_hot(side, self.config.num_labels).to(cloud.dtype).expand(cloud.shape[0], -1, -1)
        return cloud, labels

    @torch.no_grad()
    def features_of(
        self,
        left_vertices: Tensor,
        right_vertices: Tensor,
        object_points: Tensor | None = None,
        batch_size: int = 256,
    ) -> Tensor:
        """(N, V, 3) vertices of both hands in the scene's frame -> (N, feature_dim) features, in memory chunks."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, left_vertices.shape[0], batch_size):  # memory chunks, batched inside
            rows = slice(start, start + batch_size)
            obj = None if object_points is None else object_points[rows]
            cloud, labels = self.hands_to_cloud(left_vertices[rows], right_vertices[rows], obj)
            out.append(self(cloud, labels)[0])
        self.train(was_training)
        return torch.cat(out) if out else left_vertices.new_zeros(0, self.config.feature_dim)

    @torch.no_grad()
    def target_features(self, left: HandParams, right: HandParams) -> Tensor:
        """Both hands (N rows each) in the scene's frame -> (N, 108): the normalised targets the backbone is
        trained to regress (scene_targets), computed exactly: what a backbone without regression error would
        read (issue 23's check of whether the backbone's own error bounds the measured fidelity)."""
        return (scene_targets(left, right).to(self.target_mean) - self.target_mean) / self.target_std

    def predict(self, cloud: Tensor, labels: Tensor) -> Tensor:
        """(B, 108) targets in their own units (de-normalised)."""
        return self(cloud, labels)[1] * self.target_std + self.target_mean


@dataclass
class LoadedBackbone:
    backbone: FeatureBackbone
    metadata: dict[str, Any]


def save_backbone(path: str | Path, backbone: FeatureBackbone, extra: dict[str, Any] | None = None) -> Path:
    """NAME.safetensors + NAME.json (config, hand model, training figures). Returns the weights path."""
    stem = Path(path).with_suffix("")
    weights, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    save_file(tensors, str(weights), metadata={"format": FORMAT_NAME})
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "backbone": backbone.config.to_dict(),
        **(extra or {}),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return weights


def load_backbone(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedBackbone:
    """Read a backbone written by save_backbone; CheckpointError (naming the file) for anything wrong."""
    stem = Path(path).with_suffix("")
    weights, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    for p in (weights, meta_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: feature backbone file not found")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: unreadable backbone metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f'{meta_path}: not a feature backbone of format "{FORMAT_NAME}" v{FORMAT_VERSION}')
    try:
        config = FeatureBackboneConfig.from_dict(meta.get("backbone"))
    except ConfigError as exc:
        raise CheckpointError(f"{meta_path}: invalid configuration: {exc}") from None
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{weights}: truncated or corrupt safetensors file ({exc})") from None
    if "left_index" not in tensors or "right_index" not in tensors:
        raise CheckpointError(f"{weights}: missing the template vertex subsets")
    backbone = FeatureBackbone(config, tensors["left_index"], tensors["right_index"])
    try:
        backbone.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{weights}: tensors do not match the configuration in {meta_path.name} ({first})"
        ) from None
    return LoadedBackbone(backbone.to(map_location).eval(), meta)
