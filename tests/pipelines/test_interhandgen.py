"""InterHandGen.from_pretrained: a checkpoint -> the pipeline for its kind, with its backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import interhandgen_core
from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.runtime.configuration import BackendConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import write_tiny_object_prior, write_tiny_prior

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
pytestmark = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")


def test_each_checkpoint_comes_back_as_the_pipeline_of_its_kind(tmp_path: Path) -> None:
    two_hand = InterHandGen.from_pretrained(write_tiny_prior(tmp_path))
    grasper = InterHandGen.from_pretrained(write_tiny_object_prior(tmp_path))
    assert type(two_hand) is TwoHandPipeline and not two_hand.prior.object_conditioned
    assert type(grasper) is GraspPipeline and grasper.prior.object_conditioned


def test_no_path_is_the_shipped_two_hand_prior() -> None:
    model = InterHandGen.from_pretrained()
    assert type(model) is TwoHandPipeline and not model.prior.object_conditioned


def test_the_backend_and_device_reach_the_pipeline(tmp_path: Path) -> None:
    model = InterHandGen.from_pretrained(
        write_tiny_prior(tmp_path), device="cpu", backend=BackendConfig(precision="bf16")
    )
    assert model.backend.config.precision == "bf16"
    assert str(model.device) == "cpu"


def test_separate_networks_are_a_two_hand_pipeline(tmp_path: Path) -> None:
    first = write_tiny_prior(tmp_path, "uncond", seed=0)
    second = write_tiny_prior(tmp_path, "cond", seed=1)
    assert type(InterHandGen.from_separate(first, second)) is TwoHandPipeline
