"""A small robot hand as a URDF and its YAML, for retargeting tests that need a model other than Shadow.

Three fingers (thumb, index, little) of three hinge joints each (an abduction and two flexions) on a
palm; the fingertips are links on fixed joints, as URDFs often have them.
"""

from __future__ import annotations

from pathlib import Path

FINGERS = {"thumb": (0.03, -0.01, 0.02), "index": (0.02, 0.0, 0.08), "little": (-0.02, 0.0, 0.075)}


def _finger(name: str, origin: tuple[float, float, float]) -> str:
    x, y, z = origin
    links = "".join(f'<link name="{name}_{part}"/>' for part in ("base", "proximal", "distal", "tip"))
    joints = f"""
<joint name="{name}_abduct" type="revolute"><parent link="palm"/><child link="{name}_base"/>
  <origin xyz="{x} {y} {z}"/><axis xyz="0 1 0"/><limit lower="-0.4" upper="0.4" effort="1" velocity="1"/></joint>
<joint name="{name}_flex1" type="revolute"><parent link="{name}_base"/><child link="{name}_proximal"/>
  <origin xyz="0 0 0"/><axis xyz="1 0 0"/><limit lower="0" upper="1.5" effort="1" velocity="1"/></joint>
<joint name="{name}_flex2" type="revolute"><parent link="{name}_proximal"/><child link="{name}_distal"/>
  <origin xyz="0 0 0.045"/><axis xyz="1 0 0"/><limit lower="0" upper="1.5" effort="1" velocity="1"/></joint>
<joint name="{name}_fixed" type="fixed"><parent link="{name}_distal"/><child link="{name}_tip"/>
  <origin xyz="0 0 0.035"/></joint>"""
    return links + joints


def write_toy_robot(folder: Path, fingers: dict[str, str] | None = None) -> Path:
    """Write toy.urdf and toy.yaml into ``folder`` -> the YAML; ``fingers`` overrides the YAML's finger lines."""
    body = "".join(_finger(name, origin) for name, origin in FINGERS.items())
    (folder / "toy.urdf").write_text(f'<robot name="toy"><link name="palm"/>{body}</robot>\n')
    lines = fingers or {name: f"{{base: {name}_base, tip: {name}_tip}}" for name in FINGERS}
    finger_text = "".join(f"  {name}: {line}\n" for name, line in lines.items())
    path = folder / "toy.yaml"
    path.write_text(f"model: toy.urdf\nside: right\nroot: palm\nwrist: palm\nfingers:\n{finger_text}")
    return path
