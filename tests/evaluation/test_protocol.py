"""The protocol end to end on tiny sets: tables, repetitions, caching, and bad sample files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_hands import write_hands

from interhandgen_core.data.dataset import load_twohand_params
from interhandgen_core.errors import ConfigError, DataError
from interhandgen_core.evaluation.backbone_training import new_backbone
from interhandgen_core.evaluation.configuration import FeatureBackboneConfig, MetricsConfig
from interhandgen_core.evaluation.feature_backbone import save_backbone
from interhandgen_core.evaluation.protocol import ProtocolConfig, VariantSpec, measure_set, run_protocol, sample_variant
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.pipelines.two_hand import TwoHandPipeline

TINY = FeatureBackboneConfig(
    points_per_hand=32, centroids=(16, 4), neighbors=(8, 4), mlps=((8,), (8,)), global_mlp=(16,), head=(8,)
)
METRICS = MetricsConfig(khid_subsets=4, khid_subset_size=20, pr_samples=30, diversity_pairs=20)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HandLayer, HandLayer]:
    root = tmp_path_factory.mktemp("protocol")
    right, left = load_hand_pair("procedural", None)
    rl, ll = HandLayer(right), HandLayer(left)
    torch.manual_seed(0)
    save_backbone(root / "bb", new_backbone(TINY, rl, ll))
    write_hands(root / "reference.npz", 40, 0)
    write_hands(root / "similar.npz", 40, 1)
    return root, rl, ll


def _config(root: Path, variants: dict[str, VariantSpec], repeat: int = 1) -> ProtocolConfig:
    return ProtocolConfig(
        reference=root / "reference.npz",
        backbone=root / "bb.safetensors",
        variants=variants,
        num_samples=24,
        repeat=repeat,
        metrics=METRICS,
    )


def _far_sampler(spec: VariantSpec, num: int, seed: int) -> tuple[HandParams, HandParams]:
    """A 'generator' whose right hand floats 30 cm away: far from the reference in every respect."""
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(3).expand(num, 3, 3).clone()
    left = HandParams(0.2 * torch.randn(num, 45, generator=g), torch.zeros(num, 10), eye, torch.zeros(num, 3))
    right = HandParams(
        0.2 * torch.randn(num, 45, generator=g), torch.zeros(num, 10), eye.clone(), torch.full((num, 3), 0.3)
    )
    return left, right


def test_a_close_set_beats_a_far_one_and_tables_are_written(setup: tuple[Path, HandLayer, HandLayer]) -> None:
    root, rl, ll = setup
    from interhandgen_core.evaluation.feature_backbone import load_backbone

    far_checkpoint = root / "far.safetensors"
    far_checkpoint.touch()  # the stand-in sampler never reads it; the protocol checks that it exists
    config = _config(
        root,
        {
            "similar": VariantSpec(label="Similar", samples=root / "similar.npz"),
            "far": VariantSpec(label="Far", checkpoint=far_checkpoint),
        },
        repeat=2,
    )
    out = root / "run"
    report = run_protocol(config, out, load_backbone(config.backbone).backbone, rl, ll, _far_sampler, progress=False)
    similar, far = report["results"]["similar"], report["results"]["far"]
    assert similar["fhid"]["mean"] < far["fhid"]["mean"]
    assert similar["precision"]["mean"] > far["precision"]["mean"]
    assert far["proximity_ratio"]["mean"] == 0.0  # 30 cm apart
    assert len(far["fhid"]["values"]) == 2 and far["fhid"]["std"] > 0  # new samples per repetition
    table = (out / "protocol.md").read_text()
    assert "| Similar |" in table and "| Far |" in table and "±" in table
    assert json.loads((out / "protocol.json").read_text())["results"]["far"]["khid"]["values"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["far_0.npz", "far_1.npz"]
    assert (out / "previews" / "far.png").stat().st_size > 1000

    def refuse(spec: VariantSpec, num: int, seed: int) -> tuple[HandParams, HandParams]:
        raise AssertionError("cached samples must be reused")

    again = run_protocol(config, out, load_backbone(config.backbone).backbone, rl, ll, refuse, progress=False)
    assert again["results"]["far"]["fhid"] == far["fhid"]


def test_target_features_are_the_backbones_exact_regression_targets(setup: tuple[Path, HandLayer, HandLayer]) -> None:
    root, rl, ll = setup
    from interhandgen_core.evaluation.feature_backbone import canonical_scene, load_backbone, scene_targets

    backbone = load_backbone(root / "bb.safetensors").backbone
    backbone.target_mean.uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(0))
    backbone.target_std.fill_(2.0)
    left, right = load_twohand_params(root / "similar.npz")
    measured = measure_set(backbone, rl, ll, left, right, METRICS, with_meshes=False, features="targets")
    expected = (scene_targets(*canonical_scene(left, right)) - backbone.target_mean) / 2.0
    torch.testing.assert_close(measured.features, expected)
    with pytest.raises(ConfigError, match="features must be one of"):
        measure_set(backbone, rl, ll, left, right, METRICS, with_meshes=False, features="keypoints")

    # The reference's own scenes score as data, the far generator does not. FHID of 108-D features needs more
    # than 108 samples.
    big = write_hands(root / "big_reference.npz", 150, 5)
    (root / "far_targets.safetensors").touch()  # the stand-in sampler never reads it
    targets = scene_targets(*canonical_scene(*load_twohand_params(big)))
    backbone.target_mean.copy_(targets.mean(0))  # the statistics training would have set
    backbone.target_std.copy_(targets.std(0).clamp_min(1e-3))
    config = ProtocolConfig(
        reference=big,
        backbone=root / "bb.safetensors",
        variants={
            "itself": VariantSpec(label="Itself", samples=big),
            "far": VariantSpec(label="Far", checkpoint=root / "far_targets.safetensors"),
        },
        num_samples=120,
        metrics=METRICS,
        features="targets",
    )
    report = run_protocol(config, root / "targets", backbone, rl, ll, _far_sampler, progress=False)
    itself, far = (report["results"][name] for name in ("itself", "far"))
    assert report["features"] == "targets" and itself["precision"]["mean"] > 0.8 > far["precision"]["mean"]
    assert itself["fhid"]["mean"] < 0.1 * far["fhid"]["mean"]
    assert (root / "targets" / "protocol.md").read_text().startswith("Features: the backbone's regression targets")


def test_sample_files_with_nan_or_too_few_samples_are_refused(setup: tuple[Path, HandLayer, HandLayer]) -> None:
    root, rl, ll = setup
    from interhandgen_core.evaluation.feature_backbone import load_backbone

    backbone = load_backbone(root / "bb.safetensors").backbone
    with np.load(root / "similar.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["right_pose"][3, 0] = np.nan
    np.savez(root / "nan.npz", **arrays)
    with pytest.raises(DataError, match=r"nan\.npz.*NaN"):
        run_protocol(
            _config(root, {"nan": VariantSpec(label="n", samples=root / "nan.npz")}),
            root / "o1",
            backbone,
            rl,
            ll,
            _far_sampler,
            False,
        )
    write_hands(root / "five.npz", 5, 2)  # fewer samples than the 8 feature dimensions
    with pytest.raises(DataError, match="FHID needs more than 8 samples"):
        run_protocol(
            _config(root, {"few": VariantSpec(label="f", samples=root / "five.npz")}),
            root / "o2",
            backbone,
            rl,
            ll,
            _far_sampler,
            False,
        )
    left, right = load_twohand_params(root / "similar.npz")
    assert left.batch_size == 40 and right.batch_size == 40


def test_missing_input_files_are_all_named_before_any_work(setup: tuple[Path, HandLayer, HandLayer]) -> None:
    root, rl, ll = setup
    from interhandgen_core.evaluation.feature_backbone import load_backbone

    config = _config(
        root,
        {
            "floor": VariantSpec(label="Floor", samples=root / "similar.npz"),
            "separate": VariantSpec(
                label="Sep", checkpoint=root / "runs/uncond.safetensors", conditional_checkpoint=root / "cond.st"
            ),
            "vae": VariantSpec(label="VAE", vae=root / "runs/vae/model.safetensors"),
        },
    )

    def refuse(spec: VariantSpec, num: int, seed: int) -> tuple[HandParams, HandParams]:
        raise AssertionError("nothing may be sampled while inputs are missing")

    out = root / "missing"
    with pytest.raises(DataError, match=r"3 input file\(s\) of the protocol not found") as caught:
        run_protocol(config, out, load_backbone(config.backbone).backbone, rl, ll, refuse, progress=False)
    message = str(caught.value)
    assert "uncond.safetensors (variant separate)" in message and "cond.st (variant separate)" in message
    assert "runs/vae/model.safetensors (variant vae)" in message and "similar.npz" not in message
    assert not out.exists()


def test_variant_specs_need_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one of checkpoint, vae, samples"):
        VariantSpec(label="x")
    with pytest.raises(ConfigError, match="exactly one"):
        VariantSpec(label="x", checkpoint=Path("a"), vae=Path("b"))
    with pytest.raises(ConfigError, match=r"VariantSpec\.cfg_weight must be in \[0, 10\]"):
        VariantSpec(label="x", checkpoint=Path("a"), cfg_weight=-1.0)


def test_variant_sampler_overrides_take_the_samplers_range_and_its_former_names() -> None:
    # The same knob, the same range: VariantSpec's overrides are SamplerConfig's fields.
    with pytest.raises(ConfigError, match=r"VariantSpec\.penetration_guidance_weight must be in \[0, 1000\]"):
        VariantSpec(label="x", checkpoint=Path("a"), penetration_guidance_weight=-1.0)
    old = VariantSpec.from_dict({"label": "x", "checkpoint": "a", "penetration_weight": 0})
    assert old.penetration_guidance_weight == 0.0
    with pytest.raises(ConfigError, match="former name"):
        VariantSpec.from_dict(
            {"label": "x", "checkpoint": "a", "penetration_weight": 0, "penetration_guidance_weight": 1}
        )
    with pytest.raises(ConfigError, match=r"variants\['bad'\]: VariantSpec\.cfg_weight"):
        ProtocolConfig.from_dict(
            {
                "reference": "r.npz",
                "backbone": "b",
                "variants": {"bad": {"label": "x", "checkpoint": "a", "cfg_weight": -1}},
            }
        )


def test_the_shipped_protocol_config_parses() -> None:
    config = ProtocolConfig.from_yaml(Path(__file__).parents[2] / "training/configs/protocol_twohand.yaml")
    assert {"ours", "no_cfg", "no_apg", "no_selfatt", "joint", "separate", "vae"} <= set(config.variants)
    assert config.variants["no_apg"].penetration_guidance_weight == 0.0
    # The paper's protocol samples with the paper's 32 DDIM steps (the library's default is 16).
    assert {v.ddim_steps for v in config.variants.values() if v.checkpoint is not None} == {32}


def test_a_variants_ddim_steps_reach_its_sampler() -> None:
    # training/configs/protocol_steps.yaml compares step counts: the override must be what samples.
    shipped = TwoHandPipeline.shipped_checkpoint()
    with pytest.raises(ConfigError, match=r"VariantSpec\.ddim_steps"):
        VariantSpec(label="x", checkpoint=shipped, ddim_steps=0)
    with pytest.raises(ConfigError, match="300 DDIM steps exceed the model's 256"):
        sample_variant(VariantSpec(label="x", checkpoint=shipped, ddim_steps=300), 2, seed=0)
    one_step, _ = sample_variant(VariantSpec(label="x", checkpoint=shipped, ddim_steps=1), 2, seed=0)
    four_steps, _ = sample_variant(VariantSpec(label="x", checkpoint=shipped, ddim_steps=4), 2, seed=0)
    assert not torch.allclose(one_step.pose, four_steps.pose)
    config = ProtocolConfig.from_yaml(Path(__file__).parents[2] / "training/configs/protocol_steps.yaml")
    assert [config.variants[f"steps_{k}"].ddim_steps for k in (32, 24, 16, 12)] == [32, 24, 16, 12]
