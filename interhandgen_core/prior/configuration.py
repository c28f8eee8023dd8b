"""Typed configuration of the prior: network size, noise schedule, sampler and training run.

Every class is a frozen dataclass whose field defaults are the single source of truth for
default values: YAML recipes (``training/configs/*.yaml``) and checkpoint JSON only
override them. Values are checked in ``__post_init__``; a bad value raises
:class:`~interhandgen_core.errors.ConfigError` naming the field and the accepted range.

Paper -> code:
    T                 DiffusionConfig.num_timesteps        (S.4.2: 256)
    beta_1, beta_T    DiffusionConfig.beta_start, beta_end (S.4.2: 1e-4, 0.01, linear)
    p_uncond          TrainConfig.p_uncond                 (Algorithm 1, S.4.2: 0.5)
    w_cfg             SamplerConfig.cfg_weight             (Eq. 4, Algorithm 2 line 18; S.4.2: 0.1)
    w_pen             SamplerConfig.penetration_weight     (Algorithm 2 line 22; S.4.2: 4 at t = 0)
                      SamplerConfig.penetration_decay      (S.4.2: x0.9 per step away from t = 0)
    2056, 512         DenoiserConfig.hidden_dim, embed_dim (S.4.3, preset "paper")
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HAND_DIM

_C = TypeVar("_C", bound="_ConfigBase")


def _require_int(owner: str, name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ConfigError(f"{owner}.{name} must be >= {minimum}{upper}, got {value}")
    return value


def _require_float(
    owner: str,
    name: str,
    value: Any,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    # YAML 1.1 (PyYAML) reads "2e-4" without a dot as a string; accept it so recipes can use
    # the notation people write.
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{owner}.{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{owner}.{name} must be in {interval}, got {value:g}")
    return value


def _require_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


class _ConfigBase:
    """to_dict / from_dict shared by the config dataclasses (plain JSON/YAML types only)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _ConfigBase):
                value = value.to_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):  # plain lists, so that YAML and JSON writers accept them
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def _check_keys(cls, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a mapping of field names to values, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
            )
        required = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ConfigError(f"{cls.__name__} is missing required field(s) {', '.join(missing)}")
        return dict(data)

    @classmethod
    def from_dict(cls: type[_C], data: Any) -> _C:
        return cls(**cls._check_keys(data))

    @classmethod
    def from_yaml(cls: type[_C], path: str | Path) -> _C:
        """Read a recipe. Fields absent from the file keep the dataclass defaults.

        Relative paths inside it are kept as written and resolve against the current working
        directory when the files are opened. Errors name the file (and the line of a YAML error).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise ConfigError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
        if data is None:
            raise ConfigError(f"{path}: config file is empty")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


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
class DenoiserConfig(_ConfigBase):
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

    preset: str = "small"
    hand_dim: int = HAND_DIM
    embed_dim: int = 128
    hidden_dim: int = 512
    num_heads: int = 4
    num_layers: int = 2
    ff_dim: int = 512
    decoder_layers: int = 7
    dropout: float = 0.1
    object_embedding_dim: int = 0
    self_attention: bool = True
    num_hands: int = 1

    def __post_init__(self) -> None:
        owner = "DenoiserConfig"
        if not isinstance(self.self_attention, bool):
            raise ConfigError(f"{owner}.self_attention must be true or false, got {self.self_attention!r}")
        _require_int(owner, "num_hands", self.num_hands, 1, 2)
        _require_choice(owner, "preset", self.preset, (*self.PRESETS, "custom"))
        if self.hand_dim != HAND_DIM or isinstance(self.hand_dim, bool):
            raise ConfigError(f"{owner}.hand_dim must be {HAND_DIM} (the hand vector size), got {self.hand_dim!r}")
        _require_int(owner, "embed_dim", self.embed_dim, 2)
        _require_int(owner, "hidden_dim", self.hidden_dim, 1)
        _require_int(owner, "num_heads", self.num_heads, 1)
        _require_int(owner, "num_layers", self.num_layers, 1)
        _require_int(owner, "ff_dim", self.ff_dim, 1)
        _require_int(owner, "decoder_layers", self.decoder_layers, 1)
        _require_int(owner, "object_embedding_dim", self.object_embedding_dim, 0)
        object.__setattr__(self, "dropout", _require_float(owner, "dropout", self.dropout, 0.0, 1.0, high_open=True))
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
        return cls(**values)


def _require_int_tuple(owner: str, name: str, value: Any, minimum: int) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) == 0:
        raise ConfigError(f"{owner}.{name} must be a non-empty list of integers, got {value!r}")
    return tuple(_require_int(owner, f"{name}[{i}]", v, minimum) for i, v in enumerate(value))


@dataclass(frozen=True)
class ObjectEncoderConfig(_ConfigBase):
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

    num_points: int = 512
    min_points: int = 32
    centroids: tuple[int, ...] = (128, 32)
    radii: tuple[float, ...] = (0.04, 0.10)
    neighbors: tuple[int, ...] = (16, 16)
    mlps: tuple[tuple[int, ...], ...] = ((32, 64), (64, 128))
    global_mlp: tuple[int, ...] = (128, 256)
    head: tuple[int, ...] = (256, 256)

    def __post_init__(self) -> None:
        owner = "ObjectEncoderConfig"
        _require_int(owner, "num_points", self.num_points, 1)
        _require_int(owner, "min_points", self.min_points, 1, self.num_points)
        object.__setattr__(self, "centroids", _require_int_tuple(owner, "centroids", self.centroids, 1))
        object.__setattr__(self, "neighbors", _require_int_tuple(owner, "neighbors", self.neighbors, 1))
        object.__setattr__(self, "global_mlp", _require_int_tuple(owner, "global_mlp", self.global_mlp, 1))
        object.__setattr__(self, "head", _require_int_tuple(owner, "head", self.head, 1))
        levels = len(self.centroids)
        if isinstance(self.radii, str) or not isinstance(self.radii, tuple | list) or len(self.radii) != levels:
            raise ConfigError(f"{owner}.radii must list one radius per level ({levels}), got {self.radii!r}")
        radii = tuple(
            _require_float(owner, f"radii[{i}]", r, 0.0, math.inf, low_open=True, high_open=True)
            for i, r in enumerate(self.radii)
        )
        object.__setattr__(self, "radii", radii)
        if isinstance(self.mlps, str) or not isinstance(self.mlps, tuple | list) or len(self.mlps) != levels:
            raise ConfigError(
                f"{owner}.mlps must list one MLP (list of widths) per level ({levels}), got {self.mlps!r}"
            )
        object.__setattr__(
            self, "mlps", tuple(_require_int_tuple(owner, f"mlps[{i}]", m, 1) for i, m in enumerate(self.mlps))
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
class DiffusionConfig(_ConfigBase):
    """Forward noise schedule (Eq. 3; S.4.2): T steps, beta linear from beta_start to beta_end."""

    num_timesteps: int = 256
    beta_start: float = 1e-4
    beta_end: float = 0.01
    beta_schedule: str = "linear"

    def __post_init__(self) -> None:
        owner = "DiffusionConfig"
        _require_int(owner, "num_timesteps", self.num_timesteps, 1)
        object.__setattr__(
            self, "beta_start", _require_float(owner, "beta_start", self.beta_start, 0.0, 1.0, True, True)
        )
        object.__setattr__(self, "beta_end", _require_float(owner, "beta_end", self.beta_end, 0.0, 1.0, True, True))
        if self.beta_end < self.beta_start:
            raise ConfigError(
                f"DiffusionConfig.beta_end ({self.beta_end:g}) must be >= beta_start ({self.beta_start:g})"
            )
        _require_choice(owner, "beta_schedule", self.beta_schedule, ("linear",))


@dataclass(frozen=True)
class SamplerConfig(_ConfigBase):
    """Cascaded DDIM sampling (Algorithm 2; S.4.2).

    ddim_steps: number of denoising steps, 1..T (checked against T by ``check_against``).
    cfg_weight: w_cfg of Eq. 4, >= 0 (0 = purely conditional).
    penetration_weight: w_pen at t = 0, >= 0 (0 = no anti-penetration guidance).
    penetration_decay: factor applied to w_pen per step away from t = 0, in (0, 1].
    penetration_max_step: largest change of one sample's normalised 64-vector that one
        anti-penetration step may make (a trust region; not in the paper), > 0; ``inf``
        applies the paper's plain gradient step. The gradient of Eq. 7 grows with the
        number of penetrating vertices, so without a bound a deep penetration throws the
        hands apart instead of separating them to contact (figures in the README).
    object_contact_weight: with an object, weight of the contact term that pulls a floating
        hand onto the object (the gap of penetration.object_gap_and_depth; not in the paper), relative to
        w_pen and on its schedule; >= 0, 0 = off.
    object_penetration_band: with an object seen from one side, the deepest penetration into
        the cloud (metres) that guidance acts on (contact/penetration.py: such a cloud has no back
        side, so a hand behind the object would read as deep inside it). A cloud that covers
        its object all round (normal imbalance below ``closed_cloud_imbalance``) has no band.
    settle_iterations, settle_step_m: with an object, Adam steps and step size (metres) of the
        rigid settling of each sampled hand onto the object (contact/settling.py; not in
        the paper); 0 iterations = off.
    closed_cloud_imbalance: largest |mean normal| (geometry.normals.normal_imbalance) of a
        cloud taken as covering its object all round, in (0, 1].
    object_guidance_points: points of the (preprocessed) object cloud that hand-object guidance
        and the per-grasp figures use; more is finer and slower.
    """

    ddim_steps: int = 32
    cfg_weight: float = 0.1
    penetration_weight: float = 4.0
    penetration_decay: float = 0.9
    penetration_max_step: float = 0.5
    object_contact_weight: float = 1.0
    object_penetration_band: float = 0.03
    object_guidance_points: int = 1024
    closed_cloud_imbalance: float = 0.2
    settle_iterations: int = 30
    settle_step_m: float = 0.002

    def __post_init__(self) -> None:
        owner = "SamplerConfig"
        _require_int(owner, "ddim_steps", self.ddim_steps, 1)
        for name in ("cfg_weight", "penetration_weight", "object_contact_weight"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, math.inf, False, True))
        object.__setattr__(
            self,
            "penetration_decay",
            _require_float(owner, "penetration_decay", self.penetration_decay, 0.0, 1.0, low_open=True),
        )
        if self.penetration_max_step != math.inf:  # inf: the paper's unbounded step
            object.__setattr__(
                self,
                "penetration_max_step",
                _require_float(owner, "penetration_max_step", self.penetration_max_step, 0.0, math.inf, low_open=True),
            )

        object.__setattr__(
            self,
            "object_penetration_band",
            _require_float(owner, "object_penetration_band", self.object_penetration_band, 0.0, 1.0, low_open=True),
        )

        _require_int(owner, "object_guidance_points", self.object_guidance_points, 1)
        _require_int(owner, "settle_iterations", self.settle_iterations, 0)
        object.__setattr__(
            self,
            "settle_step_m",
            _require_float(owner, "settle_step_m", self.settle_step_m, 0.0, 0.1, low_open=True),
        )
        object.__setattr__(
            self,
            "closed_cloud_imbalance",
            _require_float(owner, "closed_cloud_imbalance", self.closed_cloud_imbalance, 0.0, 1.0, low_open=True),
        )

    def check_against(self, diffusion: DiffusionConfig) -> None:
        """Raise ConfigError when ddim_steps exceeds the model's number of diffusion steps T."""
        _require_int("SamplerConfig", "ddim_steps", self.ddim_steps, 1, diffusion.num_timesteps)


_DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig(_ConfigBase):
    """One training run of Algorithm 1 (S.4.2 for the defaults).

    train_data, val_data: hands files (.npz, README "Conventions"). A relative path is relative to
        the current working directory of the process, not to the YAML file, so that recipes
        are run from the repository root.
    epochs, batch_size, lr: Adam run length, batch size in training pairs, initial learning rate.
    lr_decay, lr_decay_every: StepLR factor and period in epochs (x0.9 every 20 epochs).
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
    """

    train_data: Path
    val_data: Path | None = None
    epochs: int = 80
    batch_size: int = 256
    lr: float = 2e-4
    lr_decay: float = 0.9
    lr_decay_every: int = 20
    p_uncond: float = 0.5
    seed: int = 0
    num_workers: int = 0
    checkpoint_every: int = 10
    log_every: int = 200
    max_steps: int | None = None
    device: str = "auto"
    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    object_encoder: ObjectEncoderConfig | None = None
    p_uncond_object: float = 0.1
    sensor_augmentation: float = 0.5

    def __post_init__(self) -> None:
        owner = "TrainConfig"
        for name in ("p_uncond_object", "sensor_augmentation"):
            object.__setattr__(self, name, _require_float(owner, name, getattr(self, name), 0.0, 1.0))
        if self.object_encoder is not None and not isinstance(self.object_encoder, ObjectEncoderConfig):
            raise ConfigError(
                f"TrainConfig.object_encoder must be an ObjectEncoderConfig, got {type(self.object_encoder).__name__}"
            )
        if isinstance(self.model, DenoiserConfig) and self.model.num_hands == 2:
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
        if isinstance(self.model, DenoiserConfig) and self.model.object_embedding_dim != wanted:
            raise ConfigError(
                f"TrainConfig.model.object_embedding_dim is {self.model.object_embedding_dim} but must be {wanted} "
                + ("(no object_encoder)" if self.object_encoder is None else "(object_encoder.head[-1])")
            )
        object.__setattr__(self, "train_data", self._path("train_data", self.train_data))
        if self.val_data is not None:
            object.__setattr__(self, "val_data", self._path("val_data", self.val_data))
        _require_int(owner, "epochs", self.epochs, 1)
        _require_int(owner, "batch_size", self.batch_size, 1)
        object.__setattr__(self, "lr", _require_float(owner, "lr", self.lr, 0.0, 1.0, low_open=True))
        object.__setattr__(self, "lr_decay", _require_float(owner, "lr_decay", self.lr_decay, 0.0, 1.0, low_open=True))
        _require_int(owner, "lr_decay_every", self.lr_decay_every, 1)
        object.__setattr__(self, "p_uncond", _require_float(owner, "p_uncond", self.p_uncond, 0.0, 1.0))
        _require_int(owner, "seed", self.seed, 0)
        _require_int(owner, "num_workers", self.num_workers, 0)
        _require_int(owner, "checkpoint_every", self.checkpoint_every, 1)
        _require_int(owner, "log_every", self.log_every, 1)
        if self.max_steps is not None:
            _require_int(owner, "max_steps", self.max_steps, 1)
        if not isinstance(self.device, str) or not (
            self.device in _DEVICES or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise ConfigError(f"TrainConfig.device must be one of auto, cpu, cuda, cuda:N; got {self.device!r}")
        if not isinstance(self.model, DenoiserConfig):
            raise ConfigError(f"TrainConfig.model must be a DenoiserConfig, got {type(self.model).__name__}")
        if not isinstance(self.diffusion, DiffusionConfig):
            raise ConfigError(f"TrainConfig.diffusion must be a DiffusionConfig, got {type(self.diffusion).__name__}")

    @staticmethod
    def _path(name: str, value: Any) -> Path:
        if isinstance(value, Path):
            return value
        if isinstance(value, str) and value:
            return Path(value)
        raise ConfigError(f"TrainConfig.{name} must be a file path, got {value!r}")

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        values = cls._check_keys(data)
        if "model" in values:
            values["model"] = DenoiserConfig.from_dict(values["model"])
        if "diffusion" in values:
            values["diffusion"] = DiffusionConfig.from_dict(values["diffusion"])
        if values.get("object_encoder") is not None:
            values["object_encoder"] = ObjectEncoderConfig.from_dict(values["object_encoder"])
        return cls(**values)

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
