import argparse
import dataclasses

import pytest

from interhandgen_core.config import add_config_options, config_overrides
from interhandgen_core.errors import ConfigError
from interhandgen_core.physics.configuration import GraspPhysicsConfig


def test_defaults_are_the_documented_protocol() -> None:
    config = GraspPhysicsConfig()
    assert (config.press_depth, config.max_displacement, config.max_rotation_deg) == (0.005, 0.02, 10.0)
    assert GraspPhysicsConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value"), [("press_depth", -0.001), ("max_rotation_deg", 0.0), ("timestep", 1.0), ("threads", -1)]
)
def test_out_of_range_values_are_refused_with_the_field_name(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"GraspPhysicsConfig.{field}"):
        GraspPhysicsConfig(**{field: value})


def test_every_field_has_a_command_line_option() -> None:
    fields = [f.name for f in dataclasses.fields(GraspPhysicsConfig)]
    parser = argparse.ArgumentParser()
    add_config_options(parser, GraspPhysicsConfig, fields)
    args = parser.parse_args(["--press-depth", "0.003", "--max-rotation-deg", "15"])
    config = GraspPhysicsConfig(**config_overrides(args, fields))
    assert (config.press_depth, config.max_rotation_deg, config.friction) == (0.003, 15.0, 0.6)


def test_readme_documents_every_physics_parameter() -> None:
    """The README's parameter table is the one generated from the configuration's declarations."""
    from pathlib import Path

    from interhandgen_core.config import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table(GraspPhysicsConfig) in readme
