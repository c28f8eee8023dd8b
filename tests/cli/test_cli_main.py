"""`interhandgen` itself (interhandgen_core/cli/__init__.py): a command is required, unknown options are refused,
and every command's --help prints."""

from __future__ import annotations

import pytest

from interhandgen_core.cli import build_parser, main


def test_missing_command_and_unknown_option_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["sample", "--num", "1", "--out", "x", "--bogus"])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def _commands(parser: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser: (), ("data",), ("data", "synth"), ..."""
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize("command", _commands(build_parser()), ids=lambda c: " ".join(c) or "interhandgen")
def test_every_help_prints(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(('interhandgen', *command))}")
