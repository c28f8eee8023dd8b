"""The two-hand synthesis protocol (paper section 4.1, Tables 1a and 3): sample every variant, measure, tabulate.

Data flow:
    variant (a prior, two separate priors, the VAE, or a hands file) --sample--> (left, right) hands
    hands --hand layers, left hand's canonical frame--> meshes --backbone--> features (N, 256)
        (or, with ``features: targets``, the backbone's regression targets computed exactly, (N, 108))
    meshes --metrics.interaction_measures--> penetration depth, distance, volume per sample
    (reference features, sample features) --metrics--> FHID, KHID, diversity, precision, recall

Repetitions (``repeat``, the paper averages 20 evaluations): repetition k draws its own samples
from each generative variant (seed + k) and its own random subsets and pairs for KHID, diversity
and precision / recall; a hands-file variant draws ``num_samples`` of its scenes per repetition
(all of them when it has fewer), so that every row is measured on as many samples (FHID's bias
depends on the number). Each figure is reported as mean and standard deviation over the repetitions.

Units in the tables, as the paper's: KHID x 1e-2, penetration volume cm^3, penetration
distance cm; the JSON holds the same numbers with their units in the keys.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from tqdm import tqdm

from interhandgen_core.config import ConfigBase, setting, setting_like
from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.evaluation.configuration import MetricsConfig
from interhandgen_core.evaluation.feature_backbone import FeatureBackbone, canonical_scene, hand_vertices
from interhandgen_core.evaluation.metrics import (
    as_features,
    diversity,
    fhid,
    interaction_measures,
    khid,
    precision_recall,
    proximity_ratio,
)
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.prior.configuration import SamplerConfig

# ProtocolConfig.features' kinds: the backbone's features, or its regression targets computed exactly.
FEATURE_KINDS = ("backbone", "targets")

# (key in the JSON, column title, scale from the JSON unit to the table unit, format, better)
COLUMNS: tuple[tuple[str, str, float, str, str], ...] = (
    ("fhid", "FHID", 1.0, "{:.3f}", "lower"),
    ("khid", "KHID (x1e-2)", 100.0, "{:.3f}", "lower"),
    ("diversity", "Diversity", 1.0, "{:.3f}", "higher"),
    ("precision", "Precision", 1.0, "{:.3f}", "higher"),
    ("recall", "Recall", 1.0, "{:.3f}", "higher"),
    ("penetration_volume_cm3", "PenVol (cm^3)", 1.0, "{:.3f}", "lower"),
    ("penetration_depth_cm", "PenDist (cm)", 1.0, "{:.3f}", "lower"),
    ("proximity_ratio", "ProxRatio", 1.0, "{:.3f}", "higher"),
)


@dataclass(frozen=True)
class VariantSpec(ConfigBase):
    """One row of the table. Exactly one source:

    checkpoint: a prior (the decomposed cascade, or the joint baseline when its model has num_hands 2);
        with ``conditional_checkpoint`` it is the unconditional network of the separate-networks baseline.
    vae: a VAE checkpoint (prior/vae.py).
    samples: a hands file whose scenes are evaluated as they are (e.g. the training set, as a floor).
    ddim_steps, cfg_weight, penetration_guidance_weight: sampler overrides (0 = the "w/o CFG" / "w/o APG"
        ablations), with SamplerConfig's ranges; files may still say penetration_weight, the
        former name of penetration_guidance_weight.
    """

    RENAMED_FIELDS: ClassVar[dict[str, str]] = SamplerConfig.RENAMED_FIELDS

    label: str = setting(help="row title in the table")
    checkpoint: Path | None = setting(None, help="a prior checkpoint")
    conditional_checkpoint: Path | None = setting(
        None, help="the conditional network of the separate-networks baseline"
    )
    vae: Path | None = setting(None, help="a VAE checkpoint")
    samples: Path | None = setting(None, help="a hands file evaluated as it is")
    ddim_steps: int | None = setting_like(SamplerConfig, "ddim_steps", None)
    cfg_weight: float | None = setting_like(SamplerConfig, "cfg_weight", None)
    penetration_guidance_weight: float | None = setting_like(SamplerConfig, "penetration_guidance_weight", None)

    def check_consistency(self) -> None:
        sources = [n for n in ("checkpoint", "vae", "samples") if getattr(self, n) is not None]
        if len(sources) != 1:
            raise ConfigError(
                f"variant {self.label!r} needs exactly one of checkpoint, vae, samples; got {', '.join(sources) or 'none'}"
            )
        if self.conditional_checkpoint is not None and self.checkpoint is None:
            raise ConfigError(
                f"variant {self.label!r}: conditional_checkpoint goes with checkpoint (the unconditional one)"
            )

    @property
    def generative(self) -> bool:
        return self.samples is None


@dataclass(frozen=True)
class ProtocolConfig(ConfigBase):
    """reference: held-out hands file; backbone: feature backbone checkpoint; variants: name -> VariantSpec."""

    reference: Path = setting(help="held-out hands file the variants are measured against")
    backbone: Path = setting(help="feature backbone checkpoint")
    variants: dict[str, VariantSpec] = setting(help="name -> variant, one table row each")
    num_samples: int = setting(10000, low=2, help="samples per variant and repetition")
    repeat: int = setting(1, low=1, help="repetitions averaged (seed, seed + 1, ...)")
    seed: int = setting(0, low=0, help="random seed of the first repetition")
    batch_size: int = setting(256, low=1, help="samples per sampling batch")
    metrics: MetricsConfig = setting(default_factory=MetricsConfig, help="settings of the metrics")
    features: str = setting(
        "backbone",
        choices=FEATURE_KINDS,
        help="what FHID, KHID, diversity, precision and recall compare: the backbone's features (the paper's), or "
        "its regression targets computed exactly from the hands (no backbone error; not comparable in value)",
    )

    def check_consistency(self) -> None:
        if not isinstance(self.variants, dict) or not self.variants:
            raise ConfigError("ProtocolConfig.variants must name at least one variant")

    def missing_inputs(self) -> list[str]:
        """'PATH (what needs it)' for every input file of the reference and the variants that does not exist."""
        wanted = [(self.reference, "reference")]
        for name, spec in self.variants.items():
            for field in ("checkpoint", "conditional_checkpoint", "vae", "samples"):
                path = getattr(spec, field)
                if path is not None:
                    wanted.append((path, f"variant {name}"))
        return [f"{path} ({what})" for path, what in wanted if not Path(path).is_file()]

    @classmethod
    def from_dict(cls, data: Any) -> ProtocolConfig:
        values = cls._check_keys(data)
        variants = values.get("variants")
        if not isinstance(variants, dict):
            raise ConfigError("ProtocolConfig.variants must map names to variants")
        read: dict[str, VariantSpec] = {}
        for name, variant in variants.items():
            try:
                read[str(name)] = VariantSpec.from_dict(variant)
            except ConfigError as exc:
                raise ConfigError(f"ProtocolConfig.variants[{name!r}]: {exc}") from None
        values["variants"] = read
        return cls._from_fields(values)


@dataclass
class SetMeasures:
    """A set of two-hand scenes as the metrics see them: features (N, D); depth, min_distance (N,) metres;
    volume (N,) cubic metres."""

    features: Tensor
    depth: Tensor
    min_distance: Tensor
    volume: Tensor

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def select(self, rows: Tensor) -> SetMeasures:
        return SetMeasures(self.features[rows], self.depth[rows], self.min_distance[rows], self.volume[rows])


def measure_set(
    backbone: FeatureBackbone,
    right_layer: HandLayer,
    left_layer: HandLayer,
    left: HandParams,
    right: HandParams,
    metrics: MetricsConfig,
    with_meshes: bool = True,
    features: str = "backbone",
) -> SetMeasures:
    """Two-hand scenes (N rows each, any frame) -> SetMeasures, in the left hand's canonical frame.

    features: ProtocolConfig.features ("backbone" or "targets").
    """
    if left.batch_size != right.batch_size:
        raise DataError(f"left and right hands differ in number: {left.batch_size} and {right.batch_size}")
    for name, hands in (("left", left), ("right", right)):
        for part in ("pose", "betas", "rotation", "translation"):
            if not bool(torch.isfinite(getattr(hands, part)).all()):
                raise DataError(f"{name} hand {part} holds NaN or infinite values; fix or drop those samples")
    if features not in FEATURE_KINDS:
        raise ConfigError(f"features must be one of {', '.join(FEATURE_KINDS)}, got {features!r}")
    left, right = canonical_scene(left, right)
    if features == "targets" and not with_meshes:  # the targets need no mesh: skip skinning the hands
        nan = torch.full((left.batch_size,), math.nan)
        return SetMeasures(backbone.target_features(left, right), nan, nan.clone(), nan.clone())
    lv, rv = hand_vertices(left_layer, left), hand_vertices(right_layer, right)
    feature_rows = backbone.features_of(lv, rv) if features == "backbone" else backbone.target_features(left, right)
    if with_meshes:
        depth, gap, volume = interaction_measures(lv, left_layer.faces, rv, right_layer.faces, metrics.voxel_m)
    else:
        depth = gap = volume = torch.full((left.batch_size,), math.nan)
    return SetMeasures(feature_rows, depth, gap, volume)


def feature_size(backbone: FeatureBackbone, features: str) -> int:
    """Columns of measure_set's features for ``features`` (ProtocolConfig.features): what FHID's sample count is
    checked against (evaluation/sample_sizes.py)."""
    return backbone.config.feature_dim if features == "backbone" else backbone.config.num_outputs


def feature_metrics(real: Tensor, fake: Tensor, metrics: MetricsConfig, seed: int) -> dict[str, float]:
    """FHID, KHID, diversity (of ``fake``), precision and recall of fake (M, D) against real (N, D) features."""
    real_f = as_features("reference features", real, 2)
    fake_f = as_features("sample features", fake, 2)
    fhid_value = fhid(real_f, fake_f)  # first: its sample-count check is the strictest
    precision, recall = precision_recall(real_f, fake_f, metrics.pr_k, metrics.pr_samples, seed)
    return {
        "fhid": fhid_value,
        "khid": khid(real_f, fake_f, metrics.khid_subsets, metrics.khid_subset_size, metrics.khid_degree, seed),
        "diversity": diversity(fake_f, metrics.diversity_pairs, seed),
        "precision": precision,
        "recall": recall,
    }


def compare(reference: SetMeasures, fake: SetMeasures, metrics: MetricsConfig, seed: int) -> dict[str, float]:
    """One evaluation of ``fake`` against ``reference`` -> {metric: value} in the JSON units."""
    return {
        **feature_metrics(reference.features, fake.features, metrics, seed),
        "penetration_volume_cm3": float(fake.volume.double().mean()) * 1e6,
        "penetration_depth_cm": float(fake.depth.double().mean()) * 100,
        "proximity_ratio": proximity_ratio(fake.depth, fake.min_distance, metrics.proximity_m),
    }


def summarise(runs: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per metric: mean, std (0 for one run) and the values of every repetition."""
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        out[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values,
        }
    return out


def markdown_tables(results: dict[str, dict[str, Any]], labels: dict[str, str], repeat: int) -> str:
    """Table 1a (fidelity, diversity, PenVol) and Table 3b (penetration, proximity), mean +- std per cell."""

    def cell(stats: dict[str, Any], scale: float, fmt: str) -> str:
        text = fmt.format(stats["mean"] * scale)
        return text + (" ± " + fmt.format(stats["std"] * scale) if repeat > 1 else "")

    tables = []
    for title, keys in (
        (
            "Two-hand synthesis (paper Table 1a / 3a)",
            ("fhid", "khid", "diversity", "precision", "recall", "penetration_volume_cm3"),
        ),
        ("Inter-penetration (paper Table 3b)", ("penetration_volume_cm3", "penetration_depth_cm", "proximity_ratio")),
    ):
        columns = [c for c in COLUMNS if c[0] in keys]
        header = "| Method | " + " | ".join(f"{c[1]} {'↓' if c[4] == 'lower' else '↑'}" for c in columns) + " |"
        rows = [f"**{title}**", "", header, "|---" * (len(columns) + 1) + "|"]
        for name, stats in results.items():
            rows.append(f"| {labels[name]} | " + " | ".join(cell(stats[c[0]], c[2], c[3]) for c in columns) + " |")
        tables.append("\n".join(rows))
    spread = f"mean ± standard deviation over {repeat} evaluations" if repeat > 1 else "one evaluation"
    return "\n\n".join(tables) + f"\n\n({spread})\n"


_PREVIEWS = 8


def _preview(
    path: Path,
    label: str,
    left: HandParams,
    right: HandParams,
    measured: SetMeasures,
    right_layer: HandLayer,
    left_layer: HandLayer,
) -> None:
    """The first samples of a row as a PNG grid, titled with their penetration depth and volume."""
    from interhandgen_core.visualization.preview import render_twohand_grid

    n = min(_PREVIEWS, left.batch_size)
    left, right = canonical_scene(left.select(slice(0, n)), right.select(slice(0, n)))
    lv, rv = hand_vertices(left_layer, left), hand_vertices(right_layer, right)
    # Short: four panels share a row. The row's label goes on the first panel only.
    titles = [f"{float(measured.depth[i]) * 1000:.1f} mm, {float(measured.volume[i]) * 1e6:.2f} cm3" for i in range(n)]
    titles[0] = f"{label}: {titles[0]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    render_twohand_grid(
        path, lv.numpy(), left_layer.faces.numpy(), rv.numpy(), right_layer.faces.numpy(), titles=titles
    )


Sampler = Callable[[VariantSpec, int, int], tuple[HandParams, HandParams]]


def run_protocol(
    config: ProtocolConfig,
    out_dir: Path,
    backbone: FeatureBackbone,
    right_layer: HandLayer,
    left_layer: HandLayer,
    sample: Sampler,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every variant ``repeat`` times; write OUT/protocol.json, OUT/protocol.md and OUT/previews/NAME.png
    (the first samples of each generative row); return the JSON.

    ``sample(spec, num, seed) -> (left, right)`` draws a generative variant's samples; they are
    cached as OUT/samples/NAME_SEED.npz (hands files), so a rerun evaluates without sampling again.
    Raises DataError naming every missing input file (reference, checkpoints, hands files) before any work.
    """
    from interhandgen_core.io.hands_file import hands_file_from_params, write_hands_file

    missing = config.missing_inputs()
    if missing:  # before minutes of sampling, every missing file at once
        raise DataError(
            f"{len(missing)} input file(s) of the protocol not found: {'; '.join(missing)}. Make them first "
            "(README.md, 'Evaluating a prior', lists the commands that do) or leave those variants out"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "samples").mkdir(exist_ok=True)
    t0 = time.monotonic()
    reference = measure_set(
        backbone,
        right_layer,
        left_layer,
        *load_twohand_params(config.reference),
        config.metrics,
        False,
        config.features,
    )
    timings: dict[str, float] = {"reference_s": time.monotonic() - t0}
    results: dict[str, dict[str, Any]] = {}
    jobs = [(name, spec, k) for name, spec in config.variants.items() for k in range(config.repeat)]
    bar = tqdm(total=len(jobs), desc="protocol", disable=not progress)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in config.variants}
    measured_files: dict[Path, SetMeasures] = {}
    for name, spec, k in jobs:
        bar.set_postfix(variant=name, repetition=k)
        seed = config.seed + k
        if spec.samples is not None:
            if spec.samples not in measured_files:
                t = time.monotonic()
                measured_files[spec.samples] = measure_set(
                    backbone,
                    right_layer,
                    left_layer,
                    *load_twohand_params(spec.samples),
                    config.metrics,
                    features=config.features,
                )
                timings[f"measure_{name}_s"] = time.monotonic() - t
            measured = measured_files[spec.samples]
            if len(measured) > config.num_samples:
                # The same number of samples as a generated row: FHID's bias depends on it.
                rows = torch.randperm(len(measured), generator=torch.Generator().manual_seed(seed))
                measured = measured.select(rows[: config.num_samples])
        else:
            cache = out_dir / "samples" / f"{name}_{seed}.npz"
            if cache.is_file():
                left, right = load_twohand_params(cache)
            else:
                t = time.monotonic()
                left, right = sample(spec, config.num_samples, seed)
                timings[f"sample_{name}_{seed}_s"] = time.monotonic() - t
                write_hands_file(cache, hands_file_from_params(left_layer, right_layer, left, right))
            t = time.monotonic()
            measured = measure_set(
                backbone, right_layer, left_layer, left, right, config.metrics, features=config.features
            )
            timings[f"measure_{name}_{seed}_s"] = time.monotonic() - t
            if k == 0:
                _preview(
                    out_dir / "previews" / f"{name}.png", spec.label, left, right, measured, right_layer, left_layer
                )
        t = time.monotonic()
        runs[name].append(compare(reference, measured, replace(config.metrics, seed=config.metrics.seed + k), seed))
        timings[f"metrics_{name}_{seed}_s"] = time.monotonic() - t
        bar.update(1)
    bar.close()
    for name in config.variants:
        results[name] = summarise(runs[name])
    labels = {name: spec.label for name, spec in config.variants.items()}
    report = {
        "reference": str(config.reference),
        "reference_samples": len(reference),
        "num_samples": config.num_samples,
        "repeat": config.repeat,
        "metrics": config.metrics.to_dict(),
        "features": config.features,
        "labels": labels,
        "results": results,
        "timings_s": timings,
    }
    (out_dir / "protocol.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tables = markdown_tables(results, labels, config.repeat)
    if config.features == "targets":
        tables = (
            "Features: the backbone's regression targets computed exactly from the hands (pose, root rotation "
            "and wrist of both hands, normalised), not its features; FHID and KHID are not comparable in value "
            "with backbone rows.\n\n" + tables
        )
    (out_dir / "protocol.md").write_text(tables, encoding="utf-8")
    return report


def sample_variant(spec: VariantSpec, num: int, seed: int, batch_size: int = 256) -> tuple[HandParams, HandParams]:
    """Draw ``num`` two-hand samples of a generative variant (its sampler defaults, with the spec's overrides)."""
    from interhandgen_core.pipelines.two_hand import TwoHandPipeline
    from interhandgen_core.prior.vae import load_vae

    if spec.vae is not None:
        left, right = load_vae(spec.vae).sample(num, torch.Generator().manual_seed(seed))
        return left, right
    if spec.checkpoint is None:
        raise ConfigError(f"variant {spec.label!r} has no generative source")
    if spec.conditional_checkpoint is not None:
        model = TwoHandPipeline.from_separate(spec.checkpoint, spec.conditional_checkpoint)
    else:
        model = TwoHandPipeline.from_pretrained(spec.checkpoint)
    samples = model.sample(
        num,
        seed=seed,
        ddim_steps=spec.ddim_steps,
        cfg_weight=spec.cfg_weight,
        penetration_guidance_weight=spec.penetration_guidance_weight,
        batch_size=batch_size,
    )
    return samples.left, samples.right
