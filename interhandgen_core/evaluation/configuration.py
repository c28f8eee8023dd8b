"""Typed configuration of the evaluation protocol: the feature backbone, its training run and the metrics.

Frozen dataclasses whose field defaults are the single source of truth; checkpoints and
YAML recipes only override them. ``__post_init__`` raises ConfigError naming the field.

Paper -> code (supplementary S.4.1):
    108 outputs          FeatureBackboneConfig.num_outputs (both hands' pose and root: 2 x (45 + 6 + 3))
    256-D features       FeatureBackboneConfig.head[-1] (the penultimate layer)
    KHID subsets         MetricsConfig.khid_subsets, khid_subset_size, khid_degree (authors: 100, 1,000, 1)
    diversity pairs      MetricsConfig.diversity_pairs (authors: 200)
    precision/recall     MetricsConfig.pr_k, pr_samples (k = 5 on 1,000 samples)
    penetration volume   MetricsConfig.voxel_m (1 mm voxels occupied by both hands)
    proximity            MetricsConfig.proximity_m (2 cm, section 4.4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.configuration import (
    _ConfigBase,
    _require_float,
    _require_int,
    _require_int_tuple,
)

NUM_BACKBONE_OUTPUTS = 2 * (45 + 6 + 3)


@dataclass(frozen=True)
class FeatureBackboneConfig(_ConfigBase):
    """PointNet++ (single-scale grouping) that reads a two-hand cloud and regresses both hands (S.4.1).

    with_object: the cloud also holds the object's points (a third label), and the targets
        are in the object frame (S.4.1, object-conditional backbone); otherwise the scene is
        in the left hand's canonical frame.
    points_per_hand: hand-mesh vertices per hand in the cloud (a fixed, farthest-point
        subset of the template; the authors use all 778 MANO vertices).
    object_points: object-cloud points in the cloud (with_object only).
    scale: metres are multiplied by this before the network (the authors scale by 10), so
        radii are in these units: 0.2 = 2 cm.
    centroids, radii, neighbors, mlps, global_mlp: the set-abstraction levels (prior/pointnet2.py).
    head: fully connected widths after the global max-pool; the last is the feature size.
    num_outputs: regression outputs (108: per hand 45 pose, 6D root rotation, 3 wrist position).
    """

    with_object: bool = False
    points_per_hand: int = 192
    object_points: int = 192
    scale: float = 10.0
    centroids: tuple[int, ...] = (96, 24)
    radii: tuple[float, ...] = (0.25, 0.6)
    neighbors: tuple[int, ...] = (16, 16)
    mlps: tuple[tuple[int, ...], ...] = ((32, 64), (64, 128))
    global_mlp: tuple[int, ...] = (128, 256)
    head: tuple[int, ...] = (256, 256)
    num_outputs: int = NUM_BACKBONE_OUTPUTS

    def __post_init__(self) -> None:
        owner = "FeatureBackboneConfig"
        if not isinstance(self.with_object, bool):
            raise ConfigError(f"{owner}.with_object must be true or false, got {self.with_object!r}")
        _require_int(owner, "points_per_hand", self.points_per_hand, 8)
        _require_int(owner, "object_points", self.object_points, 8)
        object.__setattr__(self, "scale", _require_float(owner, "scale", self.scale, 0.0, 1e4, low_open=True))
        for name in ("centroids", "neighbors", "global_mlp", "head"):
            object.__setattr__(self, name, _require_int_tuple(owner, name, getattr(self, name), 1))
        levels = len(self.centroids)
        if not isinstance(self.radii, tuple | list) or len(self.radii) != levels:
            raise ConfigError(f"{owner}.radii must list one radius per level ({levels}), got {self.radii!r}")
        radii = tuple(
            _require_float(owner, f"radii[{i}]", r, 0.0, math.inf, low_open=True, high_open=True)
            for i, r in enumerate(self.radii)
        )
        object.__setattr__(self, "radii", radii)
        if not isinstance(self.mlps, tuple | list) or len(self.mlps) != levels or len(self.neighbors) != levels:
            raise ConfigError(f"{owner}.mlps and neighbors must each have one entry per level ({levels})")
        object.__setattr__(
            self, "mlps", tuple(_require_int_tuple(owner, f"mlps[{i}]", m, 1) for i, m in enumerate(self.mlps))
        )
        if self.num_outputs != NUM_BACKBONE_OUTPUTS:
            raise ConfigError(
                f"{owner}.num_outputs must be {NUM_BACKBONE_OUTPUTS} (2 x (45 + 6 + 3)), got {self.num_outputs!r}"
            )
        if self.centroids[0] > self.num_points:
            raise ConfigError(
                f"{owner}.centroids[0] ({self.centroids[0]}) exceeds the points in a cloud ({self.num_points})"
            )

    @property
    def num_labels(self) -> int:
        """Per-point one-hot label channels: left, right (, object)."""
        return 3 if self.with_object else 2

    @property
    def num_points(self) -> int:
        return 2 * self.points_per_hand + (self.object_points if self.with_object else 0)

    @property
    def feature_dim(self) -> int:
        return self.head[-1]


@dataclass(frozen=True)
class BackboneTrainConfig(_ConfigBase):
    """One training run of the feature backbone (S.4.1: PointNet++'s own optimiser settings).

    train_data, val_data: hands files (two-hand) or grasp sets (``backbone.with_object``).
    epochs, batch_size, lr, lr_decay, lr_decay_every: Adam with StepLR (PointNet++: 1e-3, x0.7 / 20 epochs).
    max_steps: stop after this many steps (None: run all epochs).
    """

    train_data: Path
    val_data: Path | None = None
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    lr_decay: float = 0.7
    lr_decay_every: int = 2
    seed: int = 0
    max_steps: int | None = None
    log_every: int = 100
    backbone: FeatureBackboneConfig = field(default_factory=FeatureBackboneConfig)

    def __post_init__(self) -> None:
        owner = "BackboneTrainConfig"
        for name in ("train_data", "val_data"):
            value = getattr(self, name)
            if value is None and name == "val_data":
                continue
            if not isinstance(value, str | Path) or not str(value):
                raise ConfigError(f"{owner}.{name} must be a file path, got {value!r}")
            object.__setattr__(self, name, Path(value))
        _require_int(owner, "epochs", self.epochs, 1)
        _require_int(owner, "batch_size", self.batch_size, 2)
        object.__setattr__(self, "lr", _require_float(owner, "lr", self.lr, 0.0, 1.0, low_open=True))
        object.__setattr__(self, "lr_decay", _require_float(owner, "lr_decay", self.lr_decay, 0.0, 1.0, low_open=True))
        _require_int(owner, "lr_decay_every", self.lr_decay_every, 1)
        _require_int(owner, "seed", self.seed, 0)
        _require_int(owner, "log_every", self.log_every, 1)
        if self.max_steps is not None:
            _require_int(owner, "max_steps", self.max_steps, 1)
        if not isinstance(self.backbone, FeatureBackboneConfig):
            raise ConfigError(f"{owner}.backbone must be a FeatureBackboneConfig")

    @classmethod
    def from_dict(cls, data: Any) -> BackboneTrainConfig:
        values = cls._check_keys(data)
        if "backbone" in values:
            values["backbone"] = FeatureBackboneConfig.from_dict(values["backbone"] or {})
        return cls(**values)


@dataclass(frozen=True)
class MetricsConfig(_ConfigBase):
    """Settings of the metrics (S.4.1 and the authors' evaluation; module docstring for the mapping).

    khid_subsets, khid_subset_size, khid_degree: KHID averages the unbiased MMD^2 with the
        kernel k(x, y) = (x . y / d + 1)^degree over this many random subsets of this size
        (the usual KID uses degree 3).
    diversity_pairs: random pairs of samples whose feature distances are averaged.
    pr_k, pr_samples: k-nearest-neighbour manifolds (Kynkaenniemi et al. 2019) on this many
        samples of each set.
    voxel_m: voxel edge of the penetration volume, metres. proximity_m: the proximity threshold.
    seed: the random subsets and pairs (``--repeat`` uses seed, seed + 1, ...).
    """

    DEFAULT_SUBSETS: ClassVar[int] = 100

    khid_subsets: int = DEFAULT_SUBSETS
    khid_subset_size: int = 1000
    khid_degree: int = 1
    diversity_pairs: int = 200
    pr_k: int = 5
    pr_samples: int = 1000
    voxel_m: float = 0.001
    proximity_m: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "MetricsConfig"
        _require_int(owner, "khid_subsets", self.khid_subsets, 1)
        _require_int(owner, "khid_subset_size", self.khid_subset_size, 2)
        _require_int(owner, "khid_degree", self.khid_degree, 1)
        _require_int(owner, "diversity_pairs", self.diversity_pairs, 1)
        _require_int(owner, "pr_k", self.pr_k, 1)
        _require_int(owner, "pr_samples", self.pr_samples, 2)
        object.__setattr__(self, "voxel_m", _require_float(owner, "voxel_m", self.voxel_m, 0.0, 0.05, low_open=True))
        object.__setattr__(
            self, "proximity_m", _require_float(owner, "proximity_m", self.proximity_m, 0.0, 1.0, low_open=True)
        )
        _require_int(owner, "seed", self.seed, 0)
