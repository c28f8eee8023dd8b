"""The metrics' sample-count needs, checked from the counts alone (evaluation/sample_sizes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_hands import write_grasps, write_hands

from interhandgen_core.data.grasp_synth import GraspSet
from interhandgen_core.errors import DataError
from interhandgen_core.evaluation.configuration import MetricsConfig
from interhandgen_core.evaluation.protocol import ProtocolConfig, VariantSpec
from interhandgen_core.evaluation.sample_sizes import check_object_sizes, check_protocol_sizes, min_set_size


def test_the_strictest_metric_sets_the_minimum() -> None:
    assert min_set_size(256, MetricsConfig()) == 257  # FHID: more samples than feature dimensions
    assert min_set_size(4, MetricsConfig(pr_k=5)) == 6  # precision / recall: k neighbours besides the sample
    assert min_set_size(0, MetricsConfig(pr_k=1)) == 2


def protocol(tmp_path: Path, reference: int, samples: int, num: int) -> ProtocolConfig:
    variants = {
        "file": VariantSpec(label="file", samples=write_hands(tmp_path / "s.npz", samples, 1)),
        "prior": VariantSpec(label="prior", checkpoint=tmp_path / "not_read.safetensors"),
    }
    ref = write_hands(tmp_path / "r.npz", reference, 0)
    return ProtocolConfig(reference=ref, backbone=tmp_path / "bb", variants=variants, num_samples=num)


def test_protocol_sizes(tmp_path: Path) -> None:
    check_protocol_sizes(protocol(tmp_path, 9, 9, 9), 8)  # exactly enough
    with pytest.raises(DataError, match=r"reference .*r.npz holds 8 scenes; .*8-D .* at least 9"):
        check_protocol_sizes(protocol(tmp_path, 8, 9, 9), 8)
    with pytest.raises(DataError, match=r"^--num is 8 samples per variant; .*use at least 9$"):
        check_protocol_sizes(protocol(tmp_path, 9, 9, 8), 8, {"num_samples": "--num"})
    with pytest.raises(DataError, match=r"^file: .*s.npz holds 8 scenes"):
        check_protocol_sizes(protocol(tmp_path, 9, 8, 9), 8)


def test_object_sizes_follow_the_protocols_count_per_family(tmp_path: Path) -> None:
    reference = GraspSet.load(write_grasps(tmp_path / "ref.npz", 21, num_objects=3, seed=0))
    metrics = MetricsConfig(pr_k=2)
    families = reference.objects.family.tolist()
    per_family = max(families.count(f) for f in set(families))  # objects in the largest family
    enough = -(-5 // per_family)  # 4-D features: 5 per set
    check_object_sizes(reference, enough, 4, metrics)
    with pytest.raises(DataError, match=rf"^--num is {enough - 1} proposals per object.*use at least {enough}$"):
        check_object_sizes(reference, enough - 1, 4, metrics, names={"grasps_per_object": "--num"})
    with pytest.raises(DataError, match="make a larger held-out grasp set"):
        check_object_sizes(reference, 100, 7 * per_family, metrics)  # no family has that many reference grasps
    small_floor = GraspSet.load(write_grasps(tmp_path / "floor.npz", 3, num_objects=3, seed=0))
    with pytest.raises(DataError, match=r"^--floor: object family \w+ has 1 grasps there"):
        check_object_sizes(reference, enough, 4, metrics, small_floor, names={"floor": "--floor"})


def test_missing_files_are_left_to_the_protocol(tmp_path: Path) -> None:
    """run_protocol names every missing input at once; the size check does not stop at the first."""
    config = protocol(tmp_path, 9, 9, 9)
    missing = tmp_path / "not_made.npz"
    check_protocol_sizes(ProtocolConfig(reference=missing, backbone=config.backbone, variants=config.variants), 8)
