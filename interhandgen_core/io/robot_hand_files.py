"""Robot hand files for retargeting: a YAML of link correspondences and the MJCF or URDF model it names.

The YAML (``interhandgen_core/assets/robots/shadow/shadow_right.yaml`` is the shipped example)::

    model: shadow_right.xml      # MJCF (.xml) or URDF (.urdf), relative to this YAML
    side: right                  # the hand the model is: right or left (the other one is mirrored)
    root: robot0:palm            # the body whose pose is the robot hand's wrist pose
    wrist: robot0:palm           # body or site at the human wrist (keypoint 0)
    hand_length_m: 0.19          # optional: wrist to middle fingertip, straight; default: from the model
    fingers:                     # 3 to 5 of thumb, index, middle, ring, little
      index:
        base: robot0:ffknuckle   # at the finger's first keypoint (MCP; the thumb's CMC)
        middle: [robot0:ffmiddle, robot0:ffdistal]   # optional: at the next two keypoints (PIP, DIP)
        tip: robot0:S_fftip      # at the fingertip keypoint

Each finger's human keypoints follow from its name (README "Conventions"): thumb 1-4, index 5-8,
middle 9-12, ring 13-16, little 17-20 (base, the two middle keypoints, tip). A link is a site or a
body of the model (a body stands for its origin). The joints retargeted are the hinge and slide
joints below ``root``; joints above it (an arm, a wrist) stay at their reference position.

Every problem is one line naming the file and what to fix: a file that is missing or does not
parse (:class:`RobotModelError`), a link or body the model does not have (:class:`RobotLinkError`),
too few fingers for the mapping (:class:`RobotFingersError`).
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Literal

import mujoco
import yaml

from interhandgen_core.errors import RobotFingersError, RobotLinkError, RobotModelError

RobotSide = Literal["left", "right"]
# Human keypoints of each finger, base first (README "Conventions"), in the order fingers are listed.
FINGER_KEYPOINTS: dict[str, tuple[int, int, int, int]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "little": (17, 18, 19, 20),
}
# The palm's frame needs the bases of two fingers besides the thumb; with the thumb, three fingers.
MIN_FINGERS = 3
_KEYS = {"model", "side", "root", "wrist", "fingers", "hand_length_m", "name"}
_FINGER_KEYS = {"base", "middle", "tip"}


@dataclasses.dataclass(frozen=True)
class FingerLinks:
    """One finger's robot links: base (at the first keypoint), optional middle links (the next two), tip."""

    name: str
    base: str
    tip: str
    middle: tuple[str, ...] = ()

    @property
    def keypoints(self) -> tuple[int, ...]:
        """The human keypoints of base, middle links (if any) and tip, in that order."""
        base, first, second, tip = FINGER_KEYPOINTS[self.name]
        return (base, first, second, tip) if self.middle else (base, tip)

    @property
    def links(self) -> tuple[str, ...]:
        """base, middle links, tip: one per entry of ``keypoints``."""
        return (self.base, *self.middle, self.tip)


@dataclasses.dataclass(frozen=True)
class RobotHandFile:
    """A robot hand as its YAML describes it; ``model_path`` resolved against the YAML's folder."""

    name: str
    source: Path
    model_path: Path
    side: RobotSide
    root: str
    wrist: str
    fingers: tuple[FingerLinks, ...]
    hand_length_m: float | None = None


def read_robot_hand_file(path: str | Path) -> RobotHandFile:
    """The YAML at ``path`` -> RobotHandFile (the model itself is read by ``load_robot_model``)."""
    path = Path(path)
    if not path.is_file():
        raise RobotModelError(f"{path}: no such robot hand file (a YAML of link correspondences, or 'shadow')")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RobotModelError(f"{path}: not a valid YAML file ({first})") from exc
    if not isinstance(data, dict):
        raise RobotModelError(f"{path}: expected a mapping with keys model, side, root, wrist, fingers")
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        raise RobotModelError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    for key in ("model", "root", "wrist", "fingers"):
        if key not in data:
            raise RobotModelError(f"{path}: the key '{key}' is missing")
    side = data.get("side", "right")
    if side not in ("left", "right"):
        raise RobotModelError(f"{path}: side must be left or right, got {side!r}")
    fingers = _fingers(path, data["fingers"])
    length = data.get("hand_length_m")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int | float) or not length > 0):
        raise RobotModelError(f"{path}: hand_length_m must be a positive number of metres, got {length!r}")
    return RobotHandFile(
        name=str(data.get("name", path.stem)),
        source=path,
        model_path=(path.parent / str(data["model"])).resolve(),
        side=side,
        root=_name(path, "root", data["root"]),
        wrist=_name(path, "wrist", data["wrist"]),
        fingers=fingers,
        hand_length_m=None if length is None else float(length),
    )


def load_robot_model(hand: RobotHandFile) -> mujoco.MjModel:
    """The hand's MJCF or URDF model, compiled by MuJoCo, with every link named in the YAML checked.

    URDF: fixed joints are kept as bodies (a fingertip link is often one), and links without
    inertia get a negligible one (kinematics needs none).
    """
    path = hand.model_path
    if not path.is_file():
        raise RobotModelError(f"{hand.source}: its model {path} does not exist (model: is relative to the YAML)")
    try:
        spec = mujoco.MjSpec.from_file(str(path))
        if path.suffix.lower() == ".urdf":
            spec.compiler.fusestatic = False
            spec.compiler.boundmass = 1e-6
            spec.compiler.boundinertia = 1e-9
        model = spec.compile()
    except ValueError as exc:
        detail = " ".join(str(exc).split())
        raise RobotModelError(f"{path}: MuJoCo cannot read this MJCF/URDF model ({detail})") from exc
    _check_links(hand, model)
    return model


def _check_links(hand: RobotHandFile, model: mujoco.MjModel) -> None:
    bodies = [model.body(i).name for i in range(model.nbody)]
    sites = [model.site(i).name for i in range(model.nsite)]
    if hand.root not in bodies:
        raise RobotLinkError(
            f"{hand.source}: root '{hand.root}' is not a body of {hand.model_path.name}{_suggest(hand.root, bodies)}"
        )
    named = [("wrist", hand.wrist)] + [
        (f"fingers.{finger.name}.{role}", link)
        for finger in hand.fingers
        for role, link in zip(_roles(finger), finger.links, strict=True)
    ]
    for where, link in named:
        if link not in bodies and link not in sites:
            raise RobotLinkError(
                f"{hand.source}: {where} names '{link}', which is neither a body nor a site of "
                f"{hand.model_path.name}{_suggest(link, bodies + sites)}"
            )


def _roles(finger: FingerLinks) -> tuple[str, ...]:
    return ("base", *(f"middle[{i}]" for i in range(len(finger.middle))), "tip")


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, [n for n in names if n], n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _name(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise RobotModelError(f"{path}: {key} must be the name of a body or site, got {value!r}")
    return value


def _fingers(path: Path, value: Any) -> tuple[FingerLinks, ...]:
    if not isinstance(value, dict):
        raise RobotModelError(f"{path}: fingers must map finger names ({', '.join(FINGER_KEYPOINTS)}) to links")
    unknown = sorted(set(map(str, value)) - set(FINGER_KEYPOINTS))
    if unknown:
        raise RobotModelError(
            f"{path}: unknown finger(s) {', '.join(unknown)}; the fingers are {', '.join(FINGER_KEYPOINTS)}"
        )
    fingers = []
    for name in FINGER_KEYPOINTS:  # in keypoint order, whatever the YAML's order
        if name not in value:
            continue
        entry = value[name]
        if not isinstance(entry, dict) or "base" not in entry or "tip" not in entry:
            raise RobotModelError(f"{path}: fingers.{name} needs base: and tip: (and optionally middle: [two links])")
        extra = sorted(set(map(str, entry)) - _FINGER_KEYS)
        if extra:
            raise RobotModelError(
                f"{path}: fingers.{name} has unknown key(s) {', '.join(extra)}; known: base, middle, tip"
            )
        middle = entry.get("middle", [])
        if not isinstance(middle, list) or len(middle) not in (0, 2):
            raise RobotModelError(f"{path}: fingers.{name}.middle must list two links (at the next two keypoints)")
        fingers.append(
            FingerLinks(
                name,
                _name(path, f"fingers.{name}.base", entry["base"]),
                _name(path, f"fingers.{name}.tip", entry["tip"]),
                tuple(_name(path, f"fingers.{name}.middle", link) for link in middle),
            )
        )
    others = [f for f in fingers if f.name != "thumb"]
    if len(fingers) < MIN_FINGERS or len(others) < 2:
        raise RobotFingersError(
            f"{path}: the mapping needs at least {MIN_FINGERS} fingers, two of them besides the thumb (their bases "
            f"give the palm's frame); it maps {len(fingers)} ({', '.join(f.name for f in fingers) or 'none'})"
        )
    return tuple(fingers)
