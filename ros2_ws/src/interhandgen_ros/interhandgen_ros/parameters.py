"""The parameter table of each node: declarations, run-time validation and the README table come from here.

A parameter that mirrors a library configuration field (SamplerConfig, CloudPreprocessConfig,
RefinerConfig, BackendConfig, GraspRequestConfig, RetargetConfig) is made by :func:`mirrored` from that field's declaration
(interhandgen_core/config.py): the same default, range and description, so a knob has one
default and one range whether it is set in Python, on the command line or as a ROS parameter.
Names follow the configuration field, or Isaac ROS where it has one (model_file_path,
engine_file_path, force_engine_update, max_batch_size, input_qos, input_qos_depth). ``read_only``
parameters shape what on_configure loads (model, backend, QoS); they are fixed while the node runs
(change them in a launch file or parameter file, or by cleanup + configure with overrides).

Renamed parameters: a former name stays declared (:func:`renamed`, default unset = NaN) so that
parameter files written before still work; when it is set, :func:`current_value` uses it instead
of the new name. grasp_proposal_node: ``penetration_weight`` -> ``penetration_guidance_weight``
(SamplerConfig's anti-penetration guidance weight; hand_prior_node's ``penetration_weight`` is
RefinerConfig's penetration term, another thing). Pure: no rclpy.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interhandgen_core.config import ConfigBase, default_of, range_text, setting_of
from interhandgen_core.physics.configuration import GraspPhysicsConfig
from interhandgen_core.pipelines.grasp import RANKINGS, GraspRequestConfig
from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig
from interhandgen_core.prior.configuration import SamplerConfig, TrainConfig
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.retargeting.configuration import RetargetConfig
from interhandgen_core.runtime.configuration import BackendConfig

QOS_CHOICES = ("SENSOR_DATA", "DEFAULT", "SYSTEM_DEFAULT")
# hand_prior_node's input formats: a TwoHandState, or a PoseArray of one of the layouts that
# conversions.POSE_ARRAY_INPUTS reads (the project's keypoints, MediaPipe landmarks, OpenXR joints).
INPUT_TYPES = ("two_hand_state", "pose_array", "mediapipe", "openxr")
# How a refusal names a parameter's type (a ROS parameter's value is one of these).
_TYPE_WORDS: dict[type, str] = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a floating-point number",
    str: "a string",
}
# Backends that run on a CUDA device only (BackendConfig.name's choices; runtime/factory.py).
CUDA_ONLY_BACKENDS = ("cuda-graph", "tensorrt")
# The device names TrainConfig.device takes (cpu, cuda, cuda:N, auto).
_DEVICE = re.compile(str(setting_of(TrainConfig, "device").pattern))
_NUMBER = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"
_VIEWPOINT = re.compile(rf"\s*|{_NUMBER},{_NUMBER},{_NUMBER}")


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its type is the type of ``default`` (bool, int, float or str).

    minimum, maximum: bounds of a number (None: unbounded); low_open, high_open: the bound
    itself is excluded. pattern: a str value must match it in full. renamed_to: this is the
    former name of that parameter; its default NaN means "not set".
    """

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    pattern: re.Pattern[str] | None = None
    low_open: bool = False
    high_open: bool = False
    renamed_to: str | None = None

    def check(self, value: Any) -> str | None:
        """None when ``value`` is acceptable, else the reason (one line)."""
        if self.renamed_to is not None and isinstance(value, float) and math.isnan(value):
            return None  # a former name left unset
        kind = type(self.default)
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            return self.type_refusal(value)
        if kind is float and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.minimum is not None and (value <= self.minimum if self.low_open else value < self.minimum):
            return f"{self.name} must be {'>' if self.low_open else '>='} {self.minimum:g}, got {value}"
        if self.maximum is not None and (value >= self.maximum if self.high_open else value > self.maximum):
            return f"{self.name} must be {'<' if self.high_open else '<='} {self.maximum:g}, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"{self.name} {value!r} is not of the form {self.pattern.pattern}"
        return None

    def type_refusal(self, value: Any) -> str:
        """Why ``value`` of another type than the default's is refused, and what to write instead."""
        kind = type(self.default)
        accepted = self.accepted_text
        wanted = f"{_TYPE_WORDS[kind]}{f' in {accepted}' if accepted and self.choices is None else ''}"
        hint = f"; write {float(value)!r}" if kind is float and type(value) is int else ""
        given = _TYPE_WORDS.get(type(value), f"a {type(value).__name__}").split(" ", 1)[-1]
        return f"{self.name} must be {wanted}, got the {given} {value!r}{hint}"

    @property
    def accepted_text(self) -> str:
        """The accepted values in short: "[1, 512]", "torch | onnxruntime", "> 0"; "" for any."""
        if self.choices is not None:
            return " | ".join(self.choices)
        return range_text(self.minimum, self.maximum, self.low_open, self.high_open)

    @property
    def range_text(self) -> str:
        """accepted_text as a markdown table cell."""
        return self.accepted_text.replace("|", "\\|")

    @property
    def default_text(self) -> str:
        if self.renamed_to is not None:
            return "unset"
        if isinstance(self.default, str):
            return f'"{self.default}"'
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


def mirrored(name: str, config: type[ConfigBase], field: str, read_only: bool = False) -> ParameterSpec:
    """The parameter ``name`` that sets ``config``'s field ``field``: its default, range and description."""
    meta = setting_of(config, field)
    return ParameterSpec(
        name,
        default_of(config, field),
        meta.description,
        meta.low,
        meta.high,
        meta.choices,
        read_only,
        None if meta.pattern is None else re.compile(meta.pattern),
        meta.low_open,
        meta.high_open,
    )


def renamed(former: str, spec: ParameterSpec) -> ParameterSpec:
    """The former name of ``spec``, still accepted (same type and range), unset by default."""
    if not isinstance(spec.default, float):
        raise TypeError(f"only float parameters can keep a former name (unset = NaN); {spec.name} is not one")
    return dataclasses.replace(
        spec,
        name=former,
        default=math.nan,
        description=f"former name of {spec.name} (deprecated): when set, used instead of it",
        renamed_to=spec.name,
    )


def current_value(specs: dict[str, ParameterSpec], name: str, read: Callable[[str], Any]) -> Any:
    """The value of parameter ``name`` as ``read`` gives it, or of a former name of it that was set."""
    for spec in specs.values():
        if spec.renamed_to == name:
            former = read(spec.name)
            if not (isinstance(former, float) and math.isnan(former)):
                return former
    return read(name)


_GUIDANCE = mirrored("penetration_guidance_weight", SamplerConfig, "penetration_guidance_weight")


def _common(input_qos_depth: ParameterSpec) -> tuple[ParameterSpec, ...]:
    """The parameters every node has, with its own input queue depth."""
    return (
        ParameterSpec(
            "autostart", True, "configure and activate on start (a lifecycle manager may do it instead)", read_only=True
        ),
        ParameterSpec("model_file_path", "", "prior checkpoint (.safetensors); empty: the shipped one", read_only=True),
        ParameterSpec("device", "cpu", "cpu, cuda, cuda:N or auto", read_only=True, pattern=_DEVICE),
        mirrored("backend", BackendConfig, "name", read_only=True),
        mirrored("precision", BackendConfig, "precision", read_only=True),
        ParameterSpec("engine_file_path", "", "TensorRT engine file; empty: the engine cache", read_only=True),
        mirrored("force_engine_update", BackendConfig, "force_rebuild", read_only=True),
        mirrored("max_batch_size", BackendConfig, "max_batch", read_only=True),
        ParameterSpec("input_qos", "SENSOR_DATA", "QoS of the input subscription", choices=QOS_CHOICES, read_only=True),
        input_qos_depth,
        ParameterSpec("expected_frame_id", "", "drop inputs of any other frame; empty: accept every frame"),
        ParameterSpec("diagnostics_period_s", 1.0, "seconds between diagnostics messages", 0.1, 60.0),
    )


# The input queue: the newest message only for clouds (a grasp node works on the latest view); for a hand stream,
# every message reaches the callback that notes its timestamp, so that frames dropped while the node was stalled
# are not read as the stream falling silent (reinit_after_s); the worker still refines only the newest.
_NEWEST_ONLY = ParameterSpec("input_qos_depth", 1, "input queue depth (1: newest message only)", 1, 100, read_only=True)
_EVERY_STAMP = ParameterSpec(
    "input_qos_depth",
    100,
    "input queue depth: 100 frames (1.1 s at 90 Hz) of a stall of this node reach its silence check "
    "(reinit_after_s); the newest is refined",
    1,
    100,
    read_only=True,
)

# Robot hands (README "Robot hands"): retargeting onto two robot hands, loaded in on_configure.
_ROBOT_HANDS = ParameterSpec(
    "robot_hands", False, "also command two robot hands (the robot parameter) from the hands", read_only=True
)
_ROBOT = (
    mirrored("robot", RetargetConfig, "robot", read_only=True),
    mirrored("robot_scale", RetargetConfig, "scale", read_only=True),
)

GRASP_PROPOSAL_PARAMETERS = (
    *_common(_NEWEST_ONLY),
    # The action's goals are checked against the same range (grasp_proposal_node).
    mirrored("num_grasps", GraspRequestConfig, "num_grasps"),
    mirrored("ddim_steps", SamplerConfig, "ddim_steps"),
    mirrored("cfg_weight", SamplerConfig, "cfg_weight"),
    _GUIDANCE,
    renamed("penetration_weight", _GUIDANCE),
    mirrored("voxel_size", CloudPreprocessConfig, "voxel_size"),
    mirrored("one_sided_completion", SamplerConfig, "one_sided_completion"),
    ParameterSpec(
        "cloud_viewpoint",
        "",
        "x,y,z: where the depth camera that saw the clouds stood, metres, in their frame (0,0,0 for clouds in the "
        "camera's own optical frame, as depth drivers publish them); an estimated normal facing clearly away from it "
        "is turned, so that a cloud seen from one side is told from one seen all round; empty: unknown",
        pattern=_VIEWPOINT,
    ),
    ParameterSpec("max_points", 300_000, "larger clouds are randomly subsampled to this first", 1000, 5_000_000),
    ParameterSpec(
        "seed", 0, "random seed of the proposals (the same cloud and seed give the same grasps)", 0, 2**31 - 1
    ),
    ParameterSpec("markers_top_k", 4, "best grasps drawn as markers", 0, 64),
    ParameterSpec(
        "rank",
        "score",
        "score: by press balance and plausibility; physics: also try each grasp in MuJoCo on the cloud's "
        "reconstructed solid, completed where seen from one side, pushes held first (seconds more; a one-sided "
        "cloud with one_sided_completion off falls back to the score)",
        choices=RANKINGS,
    ),
    mirrored("rank_candidates", GraspPhysicsConfig, "rank_candidates"),
    dataclasses.replace(_ROBOT_HANDS, description="also give each proposal in the robot hands' joints (robot)"),
    *_ROBOT,
)

HAND_PRIOR_PARAMETERS = (
    *_common(_EVERY_STAMP),
    ParameterSpec(
        "input_type",
        "two_hand_state",
        "two_hand_state: TwoHandState; pose_array: PoseArray of 2 x 21 keypoints; mediapipe: PoseArray of "
        "2 x 21 MediaPipe world landmarks, placed in the header's frame; openxr: PoseArray of 2 x 26 OpenXR "
        "hand joint poses (left then right each time; README: joint maps and frames)",
        choices=INPUT_TYPES,
        read_only=True,
    ),
    mirrored("stream_solver", RefinerConfig, "stream_solver"),
    mirrored("iterations", RefinerConfig, "iterations"),
    ParameterSpec(
        "hurry_when_behind",
        True,
        "a frame stops iterating once a newer input is waiting and publishes its best state (confidence from its "
        "fit), so that inputs are not superseded while it runs its full iterations; false: every frame its "
        "iterations, newer inputs superseded meanwhile",
    ),
    mirrored("prior_weight", RefinerConfig, "prior_weight"),
    mirrored("penetration_weight", RefinerConfig, "penetration_weight"),
    mirrored("smoothness_weight", RefinerConfig, "smoothness_weight"),
    ParameterSpec("publish_markers", True, "publish hand meshes as markers"),
    ParameterSpec(
        "markers_max_hz",
        10.0,
        "most marker updates per second (the states are published for every refined frame whatever this is)",
        0.0,
        1000.0,
        low_open=True,
    ),
    dataclasses.replace(
        _ROBOT_HANDS,
        description="also publish the robot hands' joint states and wrist poses (robot) for every refined frame",
    ),
    *_ROBOT,
    mirrored("robot_filter_cutoff_hz", RetargetConfig, "filter_cutoff_hz", read_only=True),
    ParameterSpec(
        "robot_min_confidence",
        0.5,
        "a refined hand below this confidence is not retargeted: its robot hand holds its last command",
        0.0,
        1.0,
    ),
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
        lines.append(
            f"| `{spec.name}` | {type(spec.default).__name__} | {spec.default_text} | {spec.range_text} | "
            f"{'yes' if spec.read_only else 'no'} | {spec.description} |"
        )
    return "\n".join(lines)


def text_table(specs: tuple[ParameterSpec, ...]) -> str:
    """The same table as plain text in aligned columns, for a node's --help."""
    rows = [("parameter", "type", "default", "range", "", "description")]
    rows += [
        (
            spec.name,
            type(spec.default).__name__,
            spec.default_text,
            spec.accepted_text,
            "fixed" if spec.read_only else "",
            spec.description,
        )
        for spec in specs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


def device_problem(device: str, backend: str, cuda_devices: int) -> str | None:
    """Why the device and backend parameters cannot be met on a machine with ``cuda_devices`` CUDA
    devices (None: they can), naming the parameter to change; checked before the model is loaded."""
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if cuda_devices == 0:
            return f"device {device!r}: this machine has no CUDA device; set device:=cpu (or auto)"
        if index >= cuda_devices:
            have = "device 0" if cuda_devices == 1 else f"devices 0 to {cuda_devices - 1}"
            return f"device {device!r}: this machine has CUDA {have} only; set device:=cuda:0"
    on_cuda = device.startswith("cuda") or (device == "auto" and cuda_devices > 0)
    if backend in CUDA_ONLY_BACKENDS and not on_cuda:
        return f"backend {backend!r} needs a CUDA device, and device is {device!r}; set backend:=torch or onnxruntime"
    return None
