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
