"""interhandgen_core/config.py: validation, (de)serialisation and CLI options from the field declarations."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from interhandgen_core.config import (
    ConfigBase,
    add_config_options,
    check_field,
    config_overrides,
    default_of,
    markdown_table,
    range_text,
    setting,
    setting_like,
    setting_of,
)
from interhandgen_core.errors import ConfigError


@dataclass(frozen=True)
class Inner(ConfigBase):
    width: int = setting(4, low=1, high=64, help="a width")


@dataclass(frozen=True)
class Example(ConfigBase):
    RENAMED_FIELDS: ClassVar[dict[str, str]] = {"old_weight": "weight"}

    data: Path = setting(help="input file")
    weight: float = setting(0.5, low=0.0, help="a weight")
    rate: float = setting(0.1, low=0.0, high=1.0, low_open=True, units="Hz", help="a rate")
    step: float = setting(0.5, low=0.0, low_open=True, allow_inf=True, help="a step; inf: none")
    count: int = setting(3, low=1, help="a count")
    limit: int | None = setting(None, low=1, help="a cap; none: no cap")
    mode: str = setting("fast", choices=("fast", "exact"), help="a mode")
    device: str = setting("cpu", pattern=r"cpu|cuda(:\d+)?", pattern_text="cpu, cuda, cuda:N", help="a device")
    name: str | None = setting(None, help="a name")
    flag: bool = setting(False, help="a switch")
    sizes: tuple[int, ...] = setting((8, 4), low=1, help="sizes")
    radii: tuple[float, ...] = setting((0.1, 0.2), low=0.0, low_open=True, units="metres", help="radii")
    inner: Inner = setting(default_factory=Inner, help="nested")
    extra: Inner | None = setting(None, help="optional nested")

    def check_consistency(self) -> None:
        if len(self.radii) != len(self.sizes):
            raise ConfigError("Example.radii must have one entry per size")


def test_defaults_and_normalisation() -> None:
    config = Example(data="a.npz", weight=1, sizes=[2, np.int64(3)], radii=[1, "2e-1"], count=np.int64(7))  # type: ignore[arg-type]
    assert config.data == Path("a.npz")
    assert config.weight == 1.0 and isinstance(config.weight, float)
    assert config.sizes == (2, 3) and all(type(v) is int for v in config.sizes)
    assert config.radii == (1.0, 0.2) and config.count == 7 and type(config.count) is int
    assert config.inner == Inner() and config.extra is None
    assert Example(data="a", step=math.inf).step == math.inf


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"weight": -1.0}, r"^Example\.weight must be >= 0, got -1$"),
        ({"weight": math.nan}, r"Example\.weight must be a finite number"),
        ({"weight": "heavy"}, r"Example\.weight must be a number, got 'heavy'"),
        ({"weight": True}, r"Example\.weight must be a finite number"),
        ({"rate": 0.0}, r"Example\.rate must be in \(0, 1\], got 0"),
        ({"step": 0.0}, r"Example\.step must be > 0 or inf, got 0"),
        ({"step": -math.inf}, r"Example\.step must be a finite number"),
        ({"count": 0}, r"Example\.count must be >= 1, got 0"),
        ({"count": 2.5}, r"Example\.count must be an integer"),
        ({"count": True}, r"Example\.count must be an integer"),
        ({"limit": 0}, r"Example\.limit must be >= 1"),
        ({"mode": "slow"}, r"Example\.mode must be one of fast, exact; got 'slow'"),
        ({"device": "cuda:x"}, r"Example\.device must be one of cpu, cuda, cuda:N; got 'cuda:x'"),
        ({"name": ""}, r"Example\.name must be a non-empty string"),
        ({"flag": "yes"}, r"Example\.flag must be true or false"),
        ({"sizes": ()}, r"Example\.sizes must be a non-empty list of integers"),
        ({"sizes": (1, 0)}, r"Example\.sizes\[1\] must be >= 1"),
        ({"radii": (0.1, -0.2)}, r"Example\.radii\[1\] must be > 0"),
        ({"radii": (0.1,)}, r"one entry per size"),
        ({"inner": {"width": 2}}, r"Example\.inner must be a Inner, got dict"),
        ({"data": ""}, r"Example\.data must be a file path"),
    ],
)
def test_bad_values_name_the_owner_and_the_field(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Example(**{"data": "a.npz", **values})


def test_nested_validation_names_the_nested_class() -> None:
    with pytest.raises(ConfigError, match=r"Inner\.width must be >= 1 and <= 64, got 65"):
        Example.from_dict({"data": "a", "inner": {"width": 65}})


def test_dict_and_yaml_round_trip(tmp_path: Path) -> None:
    config = Example(data=Path("d/a.npz"), sizes=(3,), radii=(0.3,), inner=Inner(8), extra=Inner(2), limit=5)
    data = config.to_dict()
    assert data["data"] == "d/a.npz" and data["sizes"] == [3] and data["inner"] == {"width": 8}
    assert Example.from_dict(data) == config
    config.to_yaml(tmp_path / "c.yaml")
    assert Example.from_yaml(tmp_path / "c.yaml") == config


def test_from_dict_reads_nested_mappings_and_none() -> None:
    config = Example.from_dict({"data": "a", "inner": None, "extra": None})
    assert config.inner == Inner() and config.extra is None
    assert Example.from_dict({"data": "a", "extra": {"width": 3}}).extra == Inner(3)


def test_former_field_names_are_read_and_documented_conflicts_refused() -> None:
    assert Example.from_dict({"data": "a", "old_weight": 2}).weight == 2.0
    with pytest.raises(ConfigError, match="old_weight is the former name of weight; give only weight"):
        Example.from_dict({"data": "a", "old_weight": 2, "weight": 3})
    with pytest.raises(TypeError):
        Example(data="a", old_weight=2)  # type: ignore[call-arg]  # only files use former names


def test_unknown_and_missing_keys() -> None:
    with pytest.raises(ConfigError, match="Example has no field"):
        Example.from_dict({"data": "a", "wieght": 1})
    with pytest.raises(ConfigError, match="missing required field"):
        Example.from_dict({"weight": 1})
    with pytest.raises(ConfigError, match="mapping"):
        Example.from_dict([1, 2])


def test_consistency_checks_run_on_replace() -> None:
    config = Example(data="a")
    with pytest.raises(ConfigError, match="one entry per size"):
        replace(config, sizes=(1, 2, 3))
    with pytest.raises(ConfigError, match=r"Example\.weight"):
        replace(config, weight=-1.0)


def test_settings_describe_the_field() -> None:
    rate = setting_of(Example, "rate")
    assert (rate.low, rate.high, rate.low_open, rate.units) == (0.0, 1.0, True, "Hz")
    assert rate.range_text == "(0, 1]" and rate.description == "a rate (Hz)"
    assert setting_of(Example, "mode").range_text == "fast | exact"
    assert setting_of(Example, "step").range_text == "> 0 or inf"
    assert default_of(Example, "inner") == Inner() and default_of(Example, "weight") == 0.5
    with pytest.raises(ConfigError, match="required"):
        default_of(Example, "data")
    assert range_text(1, None) == ">= 1" and range_text(0.5, 2.0, high_open=True) == "[0.5, 2)"
    assert range_text(None, None) == "" and range_text(0, 5_000_000) == "[0, 5000000]"
    assert check_field(Example, "count", np.int64(4)) == 4
    with pytest.raises(ConfigError, match=r"Example\.count must be >= 1"):
        check_field(Example, "count", 0)


def test_setting_like_shares_the_range() -> None:
    @dataclass(frozen=True)
    class Override(ConfigBase):
        weight: float | None = setting_like(Example, "weight", None)

    assert setting_of(Override, "weight") == setting_of(Example, "weight")
    assert Override().weight is None and Override(weight=2).weight == 2.0
    with pytest.raises(ConfigError, match=r"Override\.weight must be >= 0"):
        Override(weight=-1.0)


def test_cli_options_show_the_real_default_and_range_and_check_values(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="x")
    fields = ("weight", "rate", "count", "mode", "flag", "limit")
    add_config_options(parser, Example, fields, flags={"weight": "--w"})
    text = parser.format_help()
    assert "a weight (default: 0.5; range: >= 0)" in " ".join(text.split())
    assert "a rate (Hz; default: 0.1; range: (0, 1])" in " ".join(text.split())
    assert "--flag, --no-flag" in text and "{fast,exact}" in text
    args = parser.parse_args(["--w", "2", "--count", "5", "--no-flag"])
    assert config_overrides(args, fields) == {"weight": 2.0, "count": 5, "flag": False}
    assert config_overrides(parser.parse_args([]), fields) == {}
    for argv, message in (
        (["--w", "-1"], "argument --w: must be >= 0, got -1"),
        (["--count", "1.5"], "is not an int"),
        (["--mode", "slow"], "argument --mode: must be one of fast, exact"),
        (["--rate", "nan"], "finite number"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        err = capsys.readouterr().err
        # The command line names the option, never the configuration class.
        assert message in err and "Example." not in err, err
    with pytest.raises(ConfigError, match="no command-line form"):
        add_config_options(argparse.ArgumentParser(), Example, ["sizes"])


def test_markdown_table_rows_come_from_the_declarations() -> None:
    table = markdown_table(Example, ["weight", "mode"]).splitlines()
    assert table[0] == "| option | default | range | units | description |"
    assert table[2] == "| `--weight` | 0.5 | >= 0 |  | a weight |"
    # A choice list's bars are escaped, so the row keeps its five cells.
    assert table[3] == "| `--mode` | fast | fast \\| exact |  | a mode |"
