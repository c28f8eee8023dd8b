"""The parameter table of each node: declarations, run-time validation and the README table come from here.

Defaults that the library already owns are read from its configuration dataclasses
(SamplerConfig, CloudPreprocessConfig, RefinerConfig, BackendConfig), so a default lives in
one place. Names follow Isaac ROS where it has one (model_file_path, engine_file_path,
force_engine_update, max_batch_size, input_qos, input_qos_depth). ``read_only`` parameters
shape what on_configure loads (model, backend, QoS); they are fixed while the node runs
(change them in a launch file or parameter file, or by cleanup + configure with overrides).
Pure: no rclpy.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig
from interhandgen_core.prior.configuration import SamplerConfig
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.runtime.configuration import BACKEND_NAMES, PRECISIONS, BackendConfig

QOS_CHOICES = ("SENSOR_DATA", "DEFAULT", "SYSTEM_DEFAULT")
_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its type is the type of ``default`` (bool, int, float or str)."""

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    pattern: re.Pattern[str] | None = None

    def check(self, value: Any) -> str | None:
        """None when ``value`` is acceptable, else the reason (one line)."""
        kind = type(self.default)
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            return f"{self.name} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        if kind is float and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be >= {self.minimum:g}, got {value}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be <= {self.maximum:g}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.pattern is not None and not self.pattern.match(value):
            return f"{self.name} {value!r} is not of the form {self.pattern.pattern}"
        return None

    @property
    def range_text(self) -> str:
        if self.choices is not None:
            return " \\| ".join(self.choices)
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g}"
            high = "" if self.maximum is None else f"{self.maximum:g}"
            return f"{low} .. {high}"
        return ""


_SAMPLER, _CLOUD, _REFINER, _BACKEND = SamplerConfig(), CloudPreprocessConfig(), RefinerConfig(), BackendConfig()

_COMMON = (
    ParameterSpec(
        "autostart", True, "configure and activate on start (a lifecycle manager may do it instead)", read_only=True
    ),
    ParameterSpec("model_file_path", "", "prior checkpoint (.safetensors); empty: the shipped one", read_only=True),
    ParameterSpec("device", "cpu", "cpu, cuda, cuda:N or auto", read_only=True, pattern=_DEVICE),
    ParameterSpec("backend", _BACKEND.name, "denoiser runtime", choices=BACKEND_NAMES, read_only=True),
    ParameterSpec(
        "precision", _BACKEND.precision, "denoiser precision (fp16/bf16: CUDA)", choices=PRECISIONS, read_only=True
    ),
    ParameterSpec("engine_file_path", "", "TensorRT engine file; empty: the engine cache", read_only=True),
    ParameterSpec(
        "force_engine_update", False, "rebuild the TensorRT engine even if a valid one exists", read_only=True
    ),
    ParameterSpec(
        "max_batch_size", _BACKEND.max_batch, "largest denoiser batch (TensorRT profile)", 2, 65536, read_only=True
    ),
    ParameterSpec("input_qos", "SENSOR_DATA", "QoS of the input subscription", choices=QOS_CHOICES, read_only=True),
    ParameterSpec("input_qos_depth", 1, "input queue depth (1: newest message only)", 1, 100, read_only=True),
    ParameterSpec("expected_frame_id", "", "drop inputs of any other frame; empty: accept every frame"),
    ParameterSpec("diagnostics_period_s", 1.0, "seconds between diagnostics messages", 0.1, 60.0),
)

GRASP_PROPOSAL_PARAMETERS = (
    *_COMMON,
    ParameterSpec("num_grasps", 32, "grasp hypotheses per cloud", 1, 512),
    ParameterSpec("ddim_steps", _SAMPLER.ddim_steps, "DDIM steps of each hand", 1, 256),
    ParameterSpec("cfg_weight", _SAMPLER.cfg_weight, "classifier-free guidance weight (paper Eq. 4)", 0.0, 10.0),
    ParameterSpec("penetration_weight", _SAMPLER.penetration_weight, "anti-penetration guidance weight", 0.0, 1000.0),
    ParameterSpec("voxel_size", _CLOUD.voxel_size, "cloud voxel downsampling, metres", 0.0005, 0.05),
    ParameterSpec("max_points", 300_000, "larger clouds are randomly subsampled to this first", 1000, 5_000_000),
    ParameterSpec(
        "seed", 0, "random seed of the proposals (the same cloud and seed give the same grasps)", 0, 2**31 - 1
    ),
    ParameterSpec("markers_top_k", 4, "best grasps drawn as markers", 0, 64),
)

HAND_PRIOR_PARAMETERS = (
    *_COMMON,
    ParameterSpec(
        "input_type",
        "two_hand_state",
        "two_hand_state (TwoHandState) or pose_array (2 x 21 keypoints)",
        choices=("two_hand_state", "pose_array"),
        read_only=True,
    ),
    ParameterSpec("iterations", _REFINER.iterations, "optimiser iterations per frame", 1, 200),
    ParameterSpec("prior_weight", _REFINER.prior_weight, "weight of the prior term (paper Eq. 9)", 0.0, 1000.0),
    ParameterSpec(
        "penetration_weight", _REFINER.penetration_weight, "weight of hand-hand penetration (Eq. 7)", 0.0, 10000.0
    ),
    ParameterSpec("smoothness_weight", _REFINER.smoothness_weight, "weight of temporal smoothness", 0.0, 100.0),
    ParameterSpec("publish_markers", True, "publish hand meshes as markers"),
)


def spec_table(specs: tuple[ParameterSpec, ...]) -> dict[str, ParameterSpec]:
    return {spec.name: spec for spec in specs}


def markdown_table(specs: tuple[ParameterSpec, ...]) -> str:
    """The README's table of a node's parameters."""
    lines = [
        "| parameter | type | default | range | fixed while running | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in specs:
        default = (
            f'"{spec.default}"'
            if isinstance(spec.default, str)
            else str(spec.default).lower()
            if isinstance(spec.default, bool)
            else f"{spec.default:g}"
            if isinstance(spec.default, float)
            else str(spec.default)
        )
        lines.append(
            f"| `{spec.name}` | {type(spec.default).__name__} | {default} | {spec.range_text} | "
            f"{'yes' if spec.read_only else 'no'} | {spec.description} |"
        )
    return "\n".join(lines)
