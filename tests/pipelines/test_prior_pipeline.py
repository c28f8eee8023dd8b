"""What both pipelines share: devices, and each batch of the cascade handed to the backend as one callable."""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import pytest
import torch
from torch import Tensor

import interhandgen_core
from interhandgen_core.errors import ConfigError
from interhandgen_core.pipelines.prior_pipeline import PriorPipeline, resolve_device
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.prior.checkpoint import save_prior
from interhandgen_core.prior.configuration import DenoiserConfig
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.eager import EagerBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_prior import TINY_CONFIG, TINY_DIFFUSION, tiny_normalizer, write_tiny_prior

PROCEDURAL_NPZ = Path(interhandgen_core.__file__).resolve().parent / "assets" / "procedural_hand.npz"
needs_procedural = pytest.mark.skipif(not PROCEDURAL_NPZ.is_file(), reason="procedural asset not generated")


class RecordingBackend(EagerBackend):
    """The eager backend, recording the keys handed to run_captured and the x_t widths its denoiser sees."""

    def __init__(self, model: PriorPipeline) -> None:
        super().__init__(model.denoiser, model.device, model.backend.config)
        self.keys: list[Hashable] = []
        self.widths_inside: list[int] = []
        self.calls_outside = 0
        self._inside = False

    def run_captured(
        self, key: Hashable, fn: Callable[..., Sequence[Tensor]], inputs: Sequence[Tensor]
    ) -> list[Tensor]:
        self.keys.append(key)
        self._inside = True
        try:
            return super().run_captured(key, fn, inputs)
        finally:
            self._inside = False

    def _run(self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor, object_embedding: Tensor | None) -> Tensor:
        if self._inside:
            self.widths_inside.append(x_t.shape[1])
        else:
            self.calls_outside += 1
        return super()._run(x_t, t, cond, cond_mask, object_embedding)


@needs_procedural
def test_each_batch_of_the_cascade_is_one_callable_for_the_backend(tmp_path: Path) -> None:
    model = TwoHandPipeline.from_pretrained(write_tiny_prior(tmp_path))
    reference = model.sample(5, seed=0, ddim_steps=3, batch_size=2)
    recording = RecordingBackend(model)
    model.backend = recording
    samples = model.sample(5, seed=0, ddim_steps=3, batch_size=2)
    torch.testing.assert_close(samples.right_vertices, reference.right_vertices, atol=0, rtol=0)
    assert len(recording.keys) == 3  # batches of 2, 2 and 1; the backend adds the input shapes to the key
    assert len(set(recording.keys)) == 1 and recording.keys[0][:2] == ("cascade", "CascadedSampler")
    assert recording.calls_outside == 0 and set(recording.widths_inside) == {64}


@needs_procedural
def test_a_joint_prior_runs_its_own_sampler_inside_the_callable(tmp_path: Path) -> None:
    config = DenoiserConfig.from_dict({**TINY_CONFIG.to_dict(), "num_hands": 2})
    torch.manual_seed(0)
    path = save_prior(tmp_path / "joint", Denoiser(config).eval(), tiny_normalizer(), config, TINY_DIFFUSION)
    model = TwoHandPipeline.from_pretrained(path)
    recording = RecordingBackend(model)
    model.backend = recording
    model.sample(3, seed=0, ddim_steps=2)
    assert recording.keys[0][:2] == ("cascade", "JointSampler")
    assert set(recording.widths_inside) == {128}  # both hands denoised as one vector


def test_auto_is_a_device_and_bad_devices_are_config_errors() -> None:
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device 'banana'"):
        resolve_device("banana")


@needs_procedural
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_config_error(tmp_path: Path) -> None:
    path = write_tiny_prior(tmp_path)
    with pytest.raises(ConfigError, match="no CUDA device") as info:
        TwoHandPipeline.from_pretrained(path, device="cuda")
    message = str(info.value)
    assert "\n" not in message
    # Read by library, command-line and ROS users alike: "device" names the argument, the option and the parameter.
    assert "use device cpu" in message and "--device" not in message


@needs_procedural
def test_unknown_device_is_a_config_error(tmp_path: Path) -> None:
    path = write_tiny_prior(tmp_path)
    with pytest.raises(ConfigError, match="unknown device 'banana'"):
        TwoHandPipeline.from_pretrained(path, device="banana")
