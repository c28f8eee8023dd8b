"""The argparse value types and shared option groups of interhandgen_core/cli/arguments.py."""

from __future__ import annotations

import pytest

from interhandgen_core.cli import main
from interhandgen_core.prior.configuration import SamplerConfig


def test_unknown_backend_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--num", "1", "--out", "x", "--backend", "tensorflow"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --backend: must be one of" in err and "BackendConfig" not in err


@pytest.mark.parametrize("command", [["grasp"], ["evaluate", "grasps"]])
def test_grasp_guidance_help_shows_the_sampler_defaults(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    defaults = SamplerConfig()
    assert f"default: {defaults.penetration_guidance_weight:g}" in shown
    assert f"default: {defaults.object_contact_weight:g}" in shown
    assert f"default: {defaults.settle_iterations}" in shown


def test_the_guidance_schedule_options_set_the_sampler_base_configuration() -> None:
    import argparse
    from types import SimpleNamespace

    from interhandgen_core.cli.arguments import add_guidance_schedule_arguments, with_guidance_schedule

    parser = argparse.ArgumentParser()
    add_guidance_schedule_arguments(parser)
    model = SimpleNamespace(sampler_config=SamplerConfig())
    with_guidance_schedule(model, parser.parse_args([]))  # type: ignore[arg-type]
    assert model.sampler_config == SamplerConfig()  # left out: the defaults
    args = parser.parse_args(["--hand-guidance", "mesh", "--final-guidance-steps", "0", "--guidance-min-weight", "0"])
    with_guidance_schedule(model, args)  # type: ignore[arg-type]
    assert model.sampler_config.hand_guidance == "mesh"
    assert model.sampler_config.final_guidance_steps == 0 and model.sampler_config.penetration_min_weight == 0.0
    assert model.sampler_config.penetration_max_step == SamplerConfig().penetration_max_step
    with pytest.raises(SystemExit):
        parser.parse_args(["--hand-guidance", "spheres"])
