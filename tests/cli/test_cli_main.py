"""`interhandgen` itself (interhandgen_core/cli/__init__.py): a command is required, unknown options are refused,
and every command's --help prints."""

from __future__ import annotations

import re

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


# Words a phrase cannot end on: a help text cut there stops mid-sentence.
DANGLING = {
    "a",
    "an",
    "the",
    "of",
    "and",
    "or",
    "to",
    "with",
    "for",
    "in",
    "on",
    "by",
    "from",
    "e.g",
    "i.e",
    "eg",
    "ie",
}


def _cut(text: str) -> str | None:
    """Why ``text`` reads as cut off mid-sentence, or None when it is complete."""
    words = text.rstrip(".").split()
    if not words:
        return "empty"
    if text.rstrip()[-1] in ",;:-(/" or text.endswith("..."):
        return f"ends in {text.rstrip()[-1]!r}"
    if words[-1].lower().rstrip(".") in DANGLING:
        return f"ends on {words[-1]!r}"
    # Intervals read "(0, 0.05]" or "[0, 1)": their brackets do not pair by design.
    paired = re.sub(r"[(\[][^()\[\]]*[)\]]", "", text)
    for left, right in ("()", "[]", "{}"):
        if paired.count(left) != paired.count(right):
            return f"unbalanced {left}{right}"
    if text.count('"') % 2 or text.count("`") % 2:  # single quotes are apostrophes too
        return "an unclosed quote"
    return None


def _parser(command: tuple[str, ...]) -> object:
    import argparse

    parser: argparse.ArgumentParser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


@pytest.mark.parametrize("command", _commands(build_parser()), ids=lambda c: " ".join(c) or "interhandgen")
def test_every_help_text_is_complete(command: tuple[str, ...]) -> None:
    """`interhandgen COMMAND --help`: a description of full sentences, and a complete help text for every option."""
    import argparse

    parser = _parser(command)
    assert isinstance(parser, argparse.ArgumentParser)
    description = parser.description or ""
    assert description.endswith("."), f"{' '.join(command)}: the description is not a full sentence: {description!r}"
    assert description[0].isupper() and _cut(description) is None, description
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            texts = [(choice.dest, choice.help) for choice in action._choices_actions]
        else:
            texts = [("/".join(action.option_strings) or action.dest, action.help)]
        for name, help_text in texts:
            assert help_text, f"{' '.join(command)} {name}: no help"
            shown = formatter._expand_help(action) if not isinstance(action, argparse._SubParsersAction) else help_text
            problem = _cut(shown)
            assert problem is None, f"{' '.join(command)} {name}: help {problem}: {shown!r}"
