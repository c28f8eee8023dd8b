"""Typed configuration of the evaluation protocol: the feature backbone, its training run and the metrics.

Frozen dataclasses whose field declarations (default, range, units, help; interhandgen_core/config.py)
are the single source of truth; checkpoints and YAML recipes only override them. A bad value
raises ConfigError naming the field.

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

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from interhandgen_core.config import ConfigBase, require_int_tuple, setting
from interhandgen_core.errors import ConfigError

NUM_BACKBONE_OUTPUTS = 2 * (45 + 6 + 3)


@dataclass(frozen=True)
class FeatureBackboneConfig(ConfigBase):
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

    with_object: bool = setting(False, help="the cloud also holds the object's points; targets in the object frame")
    points_per_hand: int = setting(192, low=8, help="hand-mesh vertices per hand in the cloud")
    object_points: int = setting(192, low=8, help="object points in the cloud (with_object only)")
    scale: float = setting(10.0, low=0.0, high=1e4, low_open=True, help="factor on metres before the network")
    centroids: tuple[int, ...] = setting((96, 24), low=1, help="farthest-point-sampled centres per level")
    radii: tuple[float, ...] = setting(
        (0.25, 0.6), low=0.0, low_open=True, help="ball-query radius per level, scaled units"
    )
    neighbors: tuple[int, ...] = setting((16, 16), low=1, help="points grouped per centre per level")
    mlps: tuple[tuple[int, ...], ...] = setting(((32, 64), (64, 128)), help="shared MLP widths per level")
    global_mlp: tuple[int, ...] = setting((128, 256), low=1, help="widths of the group-all level")
    head: tuple[int, ...] = setting((256, 256), low=1, help="widths after the global max-pool; the last is the feature")
    num_outputs: int = setting(NUM_BACKBONE_OUTPUTS, help="regression outputs (2 x (45 + 6 + 3))")

    def check_consistency(self) -> None:
        owner = "FeatureBackboneConfig"
        levels = len(self.centroids)
        if len(self.radii) != levels:
            raise ConfigError(f"{owner}.radii must list one radius per level ({levels}), got {self.radii!r}")
        if not isinstance(self.mlps, tuple | list) or len(self.mlps) != levels or len(self.neighbors) != levels:
            raise ConfigError(f"{owner}.mlps and neighbors must each have one entry per level ({levels})")
        object.__setattr__(
            self, "mlps", tuple(require_int_tuple(owner, f"mlps[{i}]", m, 1) for i, m in enumerate(self.mlps))
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
class BackboneTrainConfig(ConfigBase):
    """One training run of the feature backbone (S.4.1: PointNet++'s own optimiser settings).

    train_data, val_data: hands files (two-hand) or grasp sets (``backbone.with_object``).
    epochs, batch_size, lr, lr_decay, lr_decay_every: Adam with StepLR (PointNet++: 1e-3, x0.7 / 20 epochs).
    max_steps: stop after this many steps (None: run all epochs).
    """

    train_data: Path = setting(help="training hands file (two-hand) or grasp set (backbone.with_object)")
    val_data: Path | None = setting(None, help="validation hands file or grasp set; none: no held-out error")
    epochs: int = setting(6, low=1, help="passes over the training data")
    batch_size: int = setting(32, low=2, help="scenes per optimisation step")
    lr: float = setting(1e-3, low=0.0, high=1.0, low_open=True, help="initial Adam learning rate")
    lr_decay: float = setting(0.7, low=0.0, high=1.0, low_open=True, help="StepLR factor")
    lr_decay_every: int = setting(2, low=1, help="StepLR period in epochs")
    seed: int = setting(0, low=0, help="random seed of the run")
    max_steps: int | None = setting(None, low=1, help="stop after this many steps; none: run all epochs")
    log_every: int = setting(100, low=1, help="optimisation steps between log lines")
    backbone: FeatureBackboneConfig = setting(default_factory=FeatureBackboneConfig, help="the network's size")


@dataclass(frozen=True)
class MetricsConfig(ConfigBase):
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

    khid_subsets: int = setting(DEFAULT_SUBSETS, low=1, help="random subsets KHID averages over")
    khid_subset_size: int = setting(1000, low=2, help="samples per KHID subset")
    khid_degree: int = setting(1, low=1, help="degree of the KHID polynomial kernel")
    diversity_pairs: int = setting(200, low=1, help="random pairs whose feature distances are averaged")
    pr_k: int = setting(5, low=1, help="k of the precision / recall manifolds")
    pr_samples: int = setting(1000, low=2, help="samples of each set for precision / recall")
    voxel_m: float = setting(
        0.001, low=0.0, high=0.05, low_open=True, units="metres", help="voxel edge of the penetration volume"
    )
    proximity_m: float = setting(
        0.02, low=0.0, high=1.0, low_open=True, units="metres", help="the proximity ratio's threshold"
    )
    seed: int = setting(0, low=0, help="random subsets and pairs (--repeat uses seed, seed + 1, ...)")
