"""Typed configuration of the prior: network size, noise schedule, sampler and training run.

Every class is a frozen dataclass on :class:`~interhandgen_core.config.ConfigBase` whose field
declarations (``setting(...)``: default, range, units, help) are the single source of truth:
YAML recipes (``training/configs/*.yaml``) and checkpoint JSON only override the defaults, and
the validation, the CLI options and the ROS parameters come from the same declarations. A bad
value raises :class:`~interhandgen_core.errors.ConfigError` naming the field and the accepted range.

Paper -> code:
    T                 DiffusionConfig.num_timesteps        (S.4.2: 256)
    beta_1, beta_T    DiffusionConfig.beta_start, beta_end (S.4.2: 1e-4, 0.01, linear)
    p_uncond          TrainConfig.p_uncond                 (Algorithm 1, S.4.2: 0.5)
    w_cfg             SamplerConfig.cfg_weight             (Eq. 4, Algorithm 2 line 18; S.4.2: 0.1)
    w_pen             SamplerConfig.penetration_guidance_weight
                                                           (Algorithm 2 line 22; S.4.2: 4 at t = 0)
                      SamplerConfig.penetration_decay      (S.4.2: x0.9 per step away from t = 0)
    2056, 512         DenoiserConfig.hidden_dim, embed_dim (S.4.3, preset "paper")

Renamed fields (``RENAMED_FIELDS``; from_dict, so YAML and JSON, still takes the former name):
    SamplerConfig.penetration_weight -> penetration_guidance_weight (RefinerConfig.penetration_weight
    is another thing: the weight of the refiner's penetration term)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from interhandgen_core.config import ConfigBase, require_int, require_int_tuple, setting
from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HAND_DIM

# Named network sizes (S.4.3). "small" keeps the paper's depth and widths ratios but shrinks the
# widths so that one denoiser call on a small batch runs in real time on a CPU or a Jetson.
_DENOISER_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "hidden_dim": 2056,
        "embed_dim": 512,
        "num_heads": 4,
        "num_layers": 2,
        "ff_dim": 2048,
        "decoder_layers": 7,
        "dropout": 0.1,
    },
    "small": {
        "hidden_dim": 512,
        "embed_dim": 128,
        "num_heads": 4,
        "num_layers": 2,
        "ff_dim": 512,
        "decoder_layers": 7,
        "dropout": 0.1,
    },
}


@dataclass(frozen=True)
class DenoiserConfig(ConfigBase):
    """Size of the denoiser D_phi (supplementary S.4.3). Defaults are the "small" preset.

    preset: the named preset the sizes started from ("paper", "small", or "custom"); in
        ``from_dict`` the preset's values are the base and explicitly given fields override them.
    hand_dim: size of one hand vector x (64, fixed by the representation).
    embed_dim: token width (emb_xt, emb_xl, emb_t, emb_O); even, divisible by num_heads.
    hidden_dim: width of the embedding MLPs' first layer, of emb_glo and of the decoder.
    num_heads, num_layers, ff_dim: transformer encoder heads, blocks and feed-forward width.
    decoder_layers: fully connected layers of the output decoder (the last one outputs 64).
    dropout: dropout rate inside the transformer blocks, in [0, 1).
    object_embedding_dim: size of the object feature fed as a fourth token; 0 = no object token.
    self_attention: the transformer blocks attend across the tokens (section 3.6); False keeps
        each block's per-token feed-forward part only (the "w/o SelfAtt" ablation, Table 3a).
    num_hands: hands generated per sample: 1 is the paper's decomposition (x_r given x_l); 2 is the
        "w/o Decomposition" baseline (Table 1a), one network over both hands' 128 numbers with
        the hand condition always null.
    """

    PRESETS: ClassVar[tuple[str, ...]] = tuple(_DENOISER_PRESETS)

    preset: str = setting(
        "small", choices=(*_DENOISER_PRESETS, "custom"), help="named size preset the sizes started from"
    )
    hand_dim: int = setting(HAND_DIM, help="size of one hand vector x (fixed by the representation)")
    embed_dim: int = setting(128, low=2, help="token width; even, divisible by num_heads")
    hidden_dim: int = setting(512, low=1, help="width of the embedding MLPs, emb_glo and the decoder")
    num_heads: int = setting(4, low=1, help="attention heads of the transformer encoder")
    num_layers: int = setting(2, low=1, help="transformer encoder blocks")
    ff_dim: int = setting(512, low=1, help="feed-forward width of a transformer block")
    decoder_layers: int = setting(7, low=1, help="fully connected layers of the output decoder")
    dropout: float = setting(0.1, low=0.0, high=1.0, high_open=True, help="dropout rate inside the transformer blocks")
    object_embedding_dim: int = setting(0, low=0, help="size of the object feature token; 0: no object token")
    self_attention: bool = setting(True, help="the transformer blocks attend across the tokens (section 3.6)")
    num_hands: int = setting(1, low=1, high=2, help="hands per sample: 1 decomposed (x_r given x_l), 2 joint baseline")

    def check_consistency(self) -> None:
        owner = "DenoiserConfig"
        if self.hand_dim != HAND_DIM:
            raise ConfigError(f"{owner}.hand_dim must be {HAND_DIM} (the hand vector size), got {self.hand_dim!r}")
        if self.embed_dim % 2:
            raise ConfigError(f"{owner}.embed_dim must be even (sinusoidal time embedding), got {self.embed_dim}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"{owner}.embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DenoiserConfig:
        """The named size preset ("paper" or "small"), optionally with some fields overridden."""
        if name not in _DENOISER_PRESETS:
            raise ConfigError(f"unknown denoiser preset {name!r}; available presets: {', '.join(cls.PRESETS)}")
        return cls.from_dict({**_DENOISER_PRESETS[name], "preset": name, **overrides})

    @classmethod
    def from_dict(cls, data: Any) -> DenoiserConfig:
        values = cls._check_keys(data)
        preset = values.get("preset", "small")
        if isinstance(preset, str) and preset in _DENOISER_PRESETS:
            values = {**_DENOISER_PRESETS[preset], **values}
        return cls._from_fields(values)


@dataclass(frozen=True)
class ObjectEncoderConfig(ConfigBase):
    """PointNet++ single-scale-grouping object encoder (paper 3.6; S.4.3). Defaults: the small preset.

    Lengths are metres in the object frame (origin at the cloud's centroid). The original
    PointNet++ SSG works on clouds scaled into the unit sphere with radii 0.2 / 0.4; the
    objects here are 8-40 cm, so the radii are in metres at about the same fraction of an
    object's size. The defaults are a small preset, sized so that training on a CPU is
    practical (about a quarter of PointNet++'s grouped points and one layer less per level);
    PointNet++'s own sizes are given with each field.

    num_points: points per cloud given to the encoder (clouds are resampled to this many).
    min_points: the fewest distinct points a cloud may have; fewer is refused, not padded.
    centroids: farthest-point-sampled centres per set-abstraction level (512, 128 in PointNet++).
    radii: ball-query radius per level, metres, increasing.
    neighbors: points grouped per centre per level (32, 64 in PointNet++).
    mlps: shared MLP widths per level ((64, 64, 128), (128, 128, 256) in PointNet++).
    global_mlp: widths of the group-all level ((256, 512, 1024) in PointNet++).
    head: widths of the fully connected layers after the global max-pool; the last is the
        object feature size emb_O. PointNet++'s classifier head is 512, 256, k; the paper drops
        the last layer and makes the feature 512 wide, i.e. (512, 512).
    """

    num_points: int = setting(512, low=1, help="points per cloud given to the encoder (resampled to this many)")
    min_points: int = setting(32, low=1, help="fewest distinct points a cloud may have (<= num_points)")
    centroids: tuple[int, ...] = setting((128, 32), low=1, help="farthest-point-sampled centres per level")
    radii: tuple[float, ...] = setting(
        (0.04, 0.10), low=0.0, low_open=True, units="metres", help="ball-query radius per level, increasing"
    )
    neighbors: tuple[int, ...] = setting((16, 16), low=1, help="points grouped per centre per level")
    mlps: tuple[tuple[int, ...], ...] = setting(((32, 64), (64, 128)), help="shared MLP widths per level")
    global_mlp: tuple[int, ...] = setting((128, 256), low=1, help="widths of the group-all level")
    head: tuple[int, ...] = setting(
        (256, 256), low=1, help="widths after the global max-pool; the last is emb_O's size"
    )

    def check_consistency(self) -> None:
        owner = "ObjectEncoderConfig"
        require_int(owner, "min_points", self.min_points, 1, self.num_points)
        levels = len(self.centroids)
        if len(self.radii) != levels:
            raise ConfigError(f"{owner}.radii must list one radius per level ({levels}), got {self.radii!r}")
        if isinstance(self.mlps, str) or not isinstance(self.mlps, tuple | list) or len(self.mlps) != levels:
            raise ConfigError(
                f"{owner}.mlps must list one MLP (list of widths) per level ({levels}), got {self.mlps!r}"
            )
        object.__setattr__(
            self, "mlps", tuple(require_int_tuple(owner, f"mlps[{i}]", m, 1) for i, m in enumerate(self.mlps))
        )
        if len(self.neighbors) != levels:
            raise ConfigError(f"{owner}.neighbors must list one count per level ({levels}), got {self.neighbors!r}")
        if any(b > a for a, b in zip((self.num_points, *self.centroids), self.centroids, strict=False)):
            raise ConfigError(
                f"{owner}.centroids must not increase from level to level nor exceed num_points "
                f"({self.num_points}), got {self.centroids}"
            )

    @property
    def out_dim(self) -> int:
        """Size of the object feature emb_O (the denoiser's object_embedding_dim)."""
        return self.head[-1]


@dataclass(frozen=True)
class DiffusionConfig(ConfigBase):
    """Forward noise schedule (Eq. 3; S.4.2): T steps, beta linear from beta_start to beta_end."""

    num_timesteps: int = setting(256, low=1, help="diffusion steps T")
    beta_start: float = setting(1e-4, low=0.0, high=1.0, low_open=True, high_open=True, help="beta_1 of the schedule")
    beta_end: float = setting(0.01, low=0.0, high=1.0, low_open=True, high_open=True, help="beta_T (>= beta_start)")
    beta_schedule: str = setting("linear", choices=("linear",), help="how beta goes from beta_1 to beta_T")

    def check_consistency(self) -> None:
        if self.beta_end < self.beta_start:
            raise ConfigError(
                f"DiffusionConfig.beta_end ({self.beta_end:g}) must be >= beta_start ({self.beta_start:g})"
            )


# TrainConfig.lr_schedule's kinds.
LR_SCHEDULES = ("step", "cosine")

# SamplerConfig.hand_guidance's kinds.
HAND_GUIDANCE_KINDS = ("capsules", "mesh")
# SamplerConfig.one_sided_completion's kinds.
ONE_SIDED_COMPLETIONS = ("symmetry", "off")
# Which views of a two-hand scene train the prior (TrainConfig.scene_views; data/dataset.py).
SCENE_VIEWS = ("both", "given")


@dataclass(frozen=True)
class SamplerConfig(ConfigBase):
    """Cascaded DDIM sampling (Algorithm 2; S.4.2).

    ddim_steps: number of denoising steps, 1..T (checked against T by ``check_against``). 16, half the paper's
        32 (S.4.2): on the shipped priors 16 steps measured as good as 32 (two-hand FHID 10.15 +- 0.42 against
        10.36 +- 0.50, precision 0.560 against 0.553, training/configs/protocol_steps.yaml; grasps held in
        physics on development objects 22.9% against 23.4% on full clouds), at half the denoiser's cost
        (README "Where this implementation departs from the paper").
    cfg_weight: w_cfg of Eq. 4, >= 0 (0 = purely conditional).
    penetration_guidance_weight: w_pen at t = 0, >= 0 (0 = no anti-penetration guidance); the
        former name penetration_weight is read by from_dict.
    penetration_decay: factor applied to w_pen per step away from t = 0, in (0, 1].
    penetration_min_weight: guidance steps whose w_pen is below this are skipped (not in the paper):
        the noisiest steps' pushes are small and the denoiser's later steps redo them, while each
        guidance step costs a hand-layer pass and a backward pass. 0 = guide every step (the paper's
        Algorithm 2). The default, 2, guides the last 7 steps (w_pen 4 x 0.9^k >= 2) and leaves the
        rest to ``final_guidance_steps``: with the mesh term and no final steps, skipping the steps below 1.0
        had raised hand-hand penetration (0.20 -> 0.69 mm) on the development objects; with the final steps,
        guiding every step measured no better (README "Anti-penetration guidance").
    penetration_max_step: largest change of one sample's normalised 64-vector that one
        anti-penetration step may make (a trust region; not in the paper), > 0; ``inf``
        applies the paper's plain gradient step. The gradient of Eq. 7 grows with the
        number of penetrating vertices, so without a bound a deep penetration throws the
        hands apart instead of separating them to contact (figures in the README); 0.25, half
        the former 0.5, keeps the hands of 96-99% of development samples within 2 cm.
    final_guidance_steps: extra anti-penetration guidance steps taken on the finished sample (t = 0, at weight
        w_pen and within the trust region; not in the paper), >= 0: the steps along the chain are made on
        clean estimates that the denoiser still moves, these on the hands returned.
    hand_guidance: what the hand-hand term of guidance keeps the generated hand out of: "capsules", the other
        hand's capsule proxy (hands/capsule_proxy.py; penetration.capsule_penetration_loss, no neighbour search),
        or "mesh", its mesh by Eq. 7-8 (penetration.penetration_loss, nearest vertices by k-d trees).
    object_contact_weight: with an object, weight of the contact term that pulls a floating
        hand onto the object (the gap of penetration.gap_and_depth; not in the paper), relative to
        w_pen and on its schedule; >= 0, 0 = off.
    object_penetration_band: with an object seen from one side, the deepest penetration into
        the cloud (metres) that guidance acts on (contact/penetration.py: such a cloud has no back
        side, so a hand behind the object would read as deep inside it). A cloud that covers
        its object all round (normal imbalance below ``closed_cloud_imbalance``) has no band; a
        one-sided cloud whose back was inferred (``one_sided_completion``) usually reads so.
    settle_iterations, settle_step_m: with an object, Adam steps and step size (metres) of the
        rigid settling of each sampled hand onto the object (contact/settling.py; not in
        the paper); 0 iterations = off.
    closed_cloud_imbalance: largest |mean normal| (geometry.normals.normal_imbalance) of a
        cloud taken as covering its object all round, in (0, 1].
    one_sided_completion: what is done with an object cloud seen from one side (normal imbalance at
        least ``closed_cloud_imbalance``) before it is encoded and guided on: "symmetry" adds its
        point reflection where the view allows it (geometry/symmetric_completion.py), "off" keeps it
        as seen (guidance then acts within ``object_penetration_band``).
    object_guidance_points: points of the (preprocessed) object cloud that hand-object guidance
        and the per-grasp figures use; more is finer and slower.
    """

    RENAMED_FIELDS: ClassVar[dict[str, str]] = {"penetration_weight": "penetration_guidance_weight"}

    ddim_steps: int = setting(
        16, low=1, help="DDIM denoising steps of each hand (<= the model's T; the paper's 32 measured no better)"
    )
    cfg_weight: float = setting(0.1, low=0.0, high=10.0, help="classifier-free guidance weight w_cfg (paper Eq. 4)")
    penetration_guidance_weight: float = setting(
        4.0, low=0.0, high=1000.0, help="anti-penetration guidance weight w_pen at t = 0 (Algorithm 2); 0: no guidance"
    )
    penetration_decay: float = setting(
        0.9, low=0.0, high=1.0, low_open=True, help="factor on w_pen per step away from t = 0"
    )
    penetration_min_weight: float = setting(
        2.0, low=0.0, help="guidance steps with w_pen below this are skipped (faster); 0: every step"
    )
    penetration_max_step: float = setting(
        0.25,
        low=0.0,
        low_open=True,
        allow_inf=True,
        help="largest change of a normalised hand vector per guidance step; inf: the paper's plain step",
    )
    final_guidance_steps: int = setting(
        4, low=0, high=100, help="extra anti-penetration steps on the finished sample (t = 0, weight w_pen); 0: none"
    )
    hand_guidance: str = setting(
        "capsules",
        choices=HAND_GUIDANCE_KINDS,
        help="what the other hand is kept out of: its capsule proxy (cheap) or its mesh (Eq. 7-8, k-d trees)",
    )
    object_contact_weight: float = setting(
        1.0, low=0.0, help="pull of a floating hand onto the object, relative to w_pen; 0: off"
    )
    object_penetration_band: float = setting(
        0.03,
        low=0.0,
        high=1.0,
        low_open=True,
        units="metres",
        help="deepest penetration into a one-sided object cloud that guidance acts on",
    )
    object_guidance_points: int = setting(1024, low=1, help="object cloud points used by hand-object guidance")
    closed_cloud_imbalance: float = setting(
        0.2, low=0.0, high=1.0, low_open=True, help="largest |mean normal| of a cloud taken as closed"
    )
    one_sided_completion: str = setting(
        "symmetry",
        choices=ONE_SIDED_COMPLETIONS,
        help="a one-sided object cloud completed by its point reflection (symmetry), or kept as seen (off)",
    )
    settle_iterations: int = setting(30, low=0, help="Adam steps settling each hand onto the object; 0: off")
    settle_step_m: float = setting(
        0.002, low=0.0, high=0.1, low_open=True, units="metres", help="step size of the settling"
    )

    def check_against(self, diffusion: DiffusionConfig) -> None:
        """Raise ConfigError when ddim_steps exceeds the model's number of diffusion steps T."""
        require_int("SamplerConfig", "ddim_steps", self.ddim_steps, 1, diffusion.num_timesteps)


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """One training run of Algorithm 1 (S.4.2 for the defaults).

    train_data, val_data: hands files (.npz, README "Conventions"). A relative path is relative to
        the current working directory of the process, not to the YAML file, so that recipes
        are run from the repository root.
    epochs, batch_size, lr: Adam run length, batch size in training pairs, initial learning rate.
    lr_schedule: "step", S.4.2's StepLR (x lr_decay every lr_decay_every epochs), or "cosine", a
        cosine decay to 0 over the run's optimisation steps (epochs x batches, or max_steps) after
        warmup_steps of linear warm-up (training/lr_schedule.py; not in the paper).
    lr_decay, lr_decay_every: StepLR factor and period in epochs (x0.9 every 20 epochs); "step" only.
    warmup_steps: optimisation steps of linear warm-up from lr / warmup_steps to lr; "cosine" only.
    ema_decay: exponential moving average of the weights, updated after every optimisation step
        (w_ema <- d w_ema + (1 - d) w; not in the paper, standard for diffusion models); the saved
        prior and the validation loss are the average's. 0 = off: the saved prior is the last weights.
    unconditional_root_loss: count the root transform of rows without a hand condition in the loss
        (not S.4.2, which leaves it out: it carries no information there); training/loss.py says why.
    scene_views: "both", Algorithm 1 step 4: every scene trains as (x_r | x_l) and as its Gamma-swapped
        view (Gamma(x_l) | Gamma(x_r)), which makes the learned distribution left-right symmetric;
        or "given": only (x_r | x_l), and rows without the hand condition learn the anchor Gamma(x_l)
        itself (the joint model: both hands as given), for data whose two hands play different roles
        (not in the paper; data/dataset.py).
    keypoint_loss_weight: weight of the squared error (m^2) of the predicted hand's 21 keypoints through
        the procedural hand layer, added to the x_0 loss (training/loss.KeypointLoss; not in the paper,
        the authors' code weights its MANO vertex and joint losses 1e4). 0 = off.
    p_uncond: probability of dropping the conditioning hand (Algorithm 1 step 5).
    checkpoint_every: epochs between checkpoints (one is always written at the end).
    log_every: optimisation steps between log lines (log.jsonl and stdout).
    max_steps: stop after this many optimisation steps (smoke runs, tests); None = no cap.
    device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    object_encoder: set for an object-conditioned prior (paper 3.6): the data are then grasp
        sets (``interhandgen data synth --kind object``) and ``model.object_embedding_dim``
        must equal the encoder's output size.
    p_uncond_object: probability of dropping the object condition (supplementary S.1: one
        network holds the object-conditional and the unconditional prior).
    sensor_augmentation: probability that a training cloud is made to look like one depth
        camera's view (one side only, noise, outliers), so that proposals hold up on real clouds.
    init_from: a checkpoint (save_prior's) to fine-tune: its weights and normaliser replace the
        random initialisation and the data's statistics. A relative path is relative to the
        current working directory, as for the data.
    """

    train_data: Path = setting(help="training hands file (.npz), or grasp set with an object_encoder")
    val_data: Path | None = setting(None, help="validation hands file or grasp set; none: no validation")
    epochs: int = setting(80, low=1, help="passes over the training data")
    batch_size: int = setting(256, low=1, help="training pairs per optimisation step")
    lr: float = setting(2e-4, low=0.0, high=1.0, low_open=True, help="initial Adam learning rate")
    lr_decay: float = setting(0.9, low=0.0, high=1.0, low_open=True, help="StepLR factor")
    lr_decay_every: int = setting(20, low=1, help="StepLR period in epochs")
    lr_schedule: str = setting(
        "step", choices=LR_SCHEDULES, help="step: StepLR per epoch (S.4.2); cosine: cosine decay per step to 0"
    )
    warmup_steps: int = setting(0, low=0, help="linear warm-up steps of the cosine schedule")
    ema_decay: float = setting(
        0.0,
        low=0.0,
        high=1.0,
        high_open=True,
        help="decay of the weights' exponential moving average per step; the saved prior is the average; 0: off",
    )
    unconditional_root_loss: bool = setting(
        False,
        help="count the root of unconditional rows in the loss too (not S.4.2; the anchor's chain then sees "
        "root numbers like those it was trained on)",
    )
    scene_views: str = setting(
        "both",
        choices=SCENE_VIEWS,
        help="both: each scene and its left-right swapped view (Algorithm 1; symmetric prior); given: the "
        "scene as it is, the unconditional rows learning the anchor (hands in different roles)",
    )
    keypoint_loss_weight: float = setting(
        0.0, low=0.0, units="1/m^2", help="weight of the predicted hand's keypoint error through the hand layer; 0: off"
    )
    p_uncond: float = setting(0.5, low=0.0, high=1.0, help="probability of dropping the conditioning hand")
    seed: int = setting(0, low=0, help="random seed of the run")
    num_workers: int = setting(0, low=0, help="data loader worker processes")
    checkpoint_every: int = setting(10, low=1, help="epochs between checkpoints")
    log_every: int = setting(200, low=1, help="optimisation steps between log lines")
    max_steps: int | None = setting(None, low=1, help="stop after this many optimisation steps; none: no cap")
    device: str = setting(
        "auto",
        pattern=r"auto|cpu|cuda(:\d+)?",
        pattern_text="auto, cpu, cuda, cuda:N",
        help="torch device; auto: CUDA when available",
    )
    model: DenoiserConfig = setting(default_factory=DenoiserConfig, help="the denoiser's size")
    diffusion: DiffusionConfig = setting(default_factory=DiffusionConfig, help="the noise schedule")
    object_encoder: ObjectEncoderConfig | None = setting(
        None, help="object encoder of an object-conditioned prior; none: two hands only"
    )
    p_uncond_object: float = setting(0.1, low=0.0, high=1.0, help="probability of dropping the object condition")
    sensor_augmentation: float = setting(
        0.5, low=0.0, high=1.0, help="probability that a training cloud is made to look like one depth view"
    )
    init_from: Path | None = setting(
        None,
        help="start from this prior's weights and normaliser (fine-tuning); its model, diffusion and object "
        "encoder must be this recipe's; none: random weights",
    )

    def check_consistency(self) -> None:
        if self.scene_views == "given" and self.object_encoder is not None:
            raise ConfigError(
                "TrainConfig.scene_views: given is for two-hand scenes (no object_encoder); grasp sets train on both views"
            )
        if self.keypoint_loss_weight and self.model.num_hands != 1:
            raise ConfigError("TrainConfig.keypoint_loss_weight needs the decomposed prior (model.num_hands: 1)")
        if self.warmup_steps and self.lr_schedule != "cosine":
            raise ConfigError(
                f"TrainConfig.warmup_steps ({self.warmup_steps}) needs lr_schedule: cosine, got {self.lr_schedule!r}"
            )
        if self.model.num_hands == 2:
            if self.object_encoder is not None:
                raise ConfigError(
                    "TrainConfig: the joint model (model.num_hands: 2) is for two hands without an object"
                )
            if self.p_uncond != 1.0:
                raise ConfigError(
                    "TrainConfig.p_uncond must be 1.0 for the joint model (model.num_hands: 2): it has no hand "
                    f"condition, got {self.p_uncond!r}"
                )
        wanted = 0 if self.object_encoder is None else self.object_encoder.out_dim
        if self.model.object_embedding_dim != wanted:
            raise ConfigError(
                f"TrainConfig.model.object_embedding_dim is {self.model.object_embedding_dim} but must be {wanted} "
                + ("(no object_encoder)" if self.object_encoder is None else "(object_encoder.head[-1])")
            )
