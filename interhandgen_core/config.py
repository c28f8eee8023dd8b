"""The base of every configuration class: one declaration per field gives its default, range, units and help.

A configuration is a frozen dataclass deriving from :class:`ConfigBase` whose fields are declared
with :func:`setting`::

    @dataclass(frozen=True)
    class SamplerConfig(ConfigBase):
        cfg_weight: float = setting(0.1, low=0.0, help="classifier-free guidance weight w_cfg (Eq. 4)")

Everything else comes from that one declaration:
    validation        ConfigBase.__post_init__ checks every field against its annotated type and
                      its range and raises ConfigError "Owner.field must be ..., got ...";
                      rules that relate several fields go in the class's ``check_consistency``
    (de)serialisation to_dict / from_dict / from_yaml / to_yaml, nested configurations included;
                      ``RENAMED_FIELDS`` lets from_dict read files written under a former field name
    CLI options       add_config_options: argparse options whose help shows the real default and range
    ROS parameters    setting_of / default_of, from which interhandgen_ros/parameters.py builds the
                      parameter of a node that mirrors a field (same default, range and description)

Types the validation knows: bool, int, float, str (choices, a pattern, or any non-empty string),
Path, tuple[int, ...], tuple[float, ...], a nested ConfigBase, and any of them ``| None``. Fields of
other types (nested tuples, fixed-length tuples, mappings) are checked by ``check_consistency``.
Numbers: an int field takes any integer (not a bool); a float field takes any real number or a
numeric string (PyYAML reads "2e-4", without a dot, as a string) and must be finite unless the
setting allows inf.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from interhandgen_core.errors import ConfigError

_C = TypeVar("_C", bound="ConfigBase")
# Key of a field's Setting in dataclasses.Field.metadata.
_SETTING_KEY = "interhandgen_setting"


@dataclasses.dataclass(frozen=True)
class Setting:
    """What a configuration field means and accepts.

    help: one line saying what the field does (CLI help, ROS parameter description).
    units: of the value ("metres", "seconds", ...); empty for counts, weights and names.
    low, high: bounds of a number (of each item of a tuple of numbers); None: unbounded.
    low_open, high_open: the bound itself is excluded.
    allow_inf: a float field also takes +inf (e.g. "no bound").
    choices: the only values a str field takes.
    pattern, pattern_text: a regular expression a str field must match in full, and its
        meaning in words for messages ("auto, cpu, cuda, cuda:N").
    """

    help: str
    units: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_text: str = ""

    @property
    def description(self) -> str:
        """The help with the units: "cloud voxel downsampling; 0: off (metres)"."""
        return f"{self.help} ({self.units})" if self.units else self.help

    @property
    def range_text(self) -> str:
        """The accepted values in short: "[0, 1]", "(0, 1]", ">= 1", "> 0 or inf", "a | b"; "" if any."""
        if self.choices is not None:
            return " | ".join(self.choices)
        if self.pattern is not None:
            return self.pattern_text
        return range_text(self.low, self.high, self.low_open, self.high_open, self.allow_inf)

    def contains(self, value: float) -> bool:
        """value (a number) lies within low .. high (inf only where allowed)."""
        if value == math.inf and self.allow_inf:
            return True
        return _within(value, self.low, self.high, self.low_open, self.high_open)


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    units: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
    pattern_text: str = "",
) -> Any:
    """A dataclass field with its Setting (see :class:`Setting` for the arguments); no default: required."""
    meta = Setting(help, units, low, high, low_open, high_open, allow_inf, choices, pattern, pattern_text)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_SETTING_KEY: meta})


def setting_like(config: type[ConfigBase], name: str, default: Any = dataclasses.MISSING, help: str = "") -> Any:
    """A field that takes what ``config``'s field ``name`` takes (same range and units), with its own default.

    For a field that overrides another configuration's field (a protocol variant's sampler weights),
    so that the same knob has the same range everywhere.
    """
    meta = setting_of(config, name)
    if help:
        meta = dataclasses.replace(meta, help=help)
    return dataclasses.field(default=default, metadata={_SETTING_KEY: meta})


def setting_of(config: type[ConfigBase], name: str) -> Setting:
    """The Setting of ``config``'s field ``name`` (ConfigError if it has none)."""
    field = _field(config, name)
    meta = field.metadata.get(_SETTING_KEY)
    if not isinstance(meta, Setting):
        raise ConfigError(f"{config.__name__}.{name} is not declared with setting()")
    return meta


def default_of(config: type[ConfigBase], name: str) -> Any:
    """The default value of ``config``'s field ``name`` (ConfigError for a required field)."""
    field = _field(config, name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ConfigError(f"{config.__name__}.{name} is required; it has no default")


def check_field(config: type[ConfigBase], name: str, value: Any) -> Any:
    """``value`` checked as ``config``'s field ``name`` would be -> the value as the field stores it.

    Only the field's own type and range; rules relating fields are checked on construction.
    """
    return _checked(config.__name__, name, value, setting_of(config, name), _field_types(config)[name])


# ---------------------------------------------------------------------------------------------- checks


def range_text(
    low: float | None,
    high: float | None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> str:
    """Bounds in short: "[0, 1]", "(0, 1]", ">= 1", "<= 5", "> 0 or inf"; "" when unbounded."""
    if low is not None and high is not None:
        text = f"{'(' if low_open else '['}{_number_text(low)}, {_number_text(high)}{')' if high_open else ']'}"
    elif low is not None:
        text = f"{'>' if low_open else '>='} {_number_text(low)}"
    elif high is not None:
        text = f"{'<' if high_open else '<='} {_number_text(high)}"
    else:
        text = ""
    if allow_inf:
        text = f"{text} or inf" if text else "any number or inf"
    return text


def require_int(owner: str, name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (not a bool) in [low, high] -> int; else ConfigError naming owner.name."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{owner}.{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(
            text for text in (None if low is None else f">= {low}", None if high is None else f"<= {high}") if text
        )
        raise ConfigError(f"{owner}.{name} must be {bounds}, got {value}")
    return value


def require_float(
    owner: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A finite real number (or a numeric string) within the bounds -> float; else ConfigError.

    allow_inf: +inf is accepted too (given as a number, not as the string "inf").
    """
    if allow_inf and isinstance(value, float) and value == math.inf:
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{owner}.{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}")
    value = float(value)
    if not _within(value, low, high, low_open, high_open):
        text = range_text(low, high, low_open, high_open, allow_inf)
        where = f"in {text}" if low is not None and high is not None else text
        raise ConfigError(f"{owner}.{name} must be {where}, got {value:g}")
    return value


def require_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices`` -> it; else ConfigError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def require_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}.{name} must be true or false, got {value!r}")
    return value


def require_path(owner: str, name: str, value: Any) -> Path:
    """A Path or a non-empty string -> Path (kept as written: relative paths stay relative)."""
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise ConfigError(f"{owner}.{name} must be a file path, got {value!r}")


def require_int_tuple(owner: str, name: str, value: Any, low: int | None = None) -> tuple[int, ...]:
    """A non-empty list or tuple of integers, each >= low -> tuple."""
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) == 0:
        raise ConfigError(f"{owner}.{name} must be a non-empty list of integers, got {value!r}")
    return tuple(require_int(owner, f"{name}[{i}]", v, low) for i, v in enumerate(value))


def require_float_tuple(owner: str, name: str, value: Any, meta: Setting) -> tuple[float, ...]:
    """A non-empty list or tuple of numbers, each within meta's bounds -> tuple."""
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) == 0:
        raise ConfigError(f"{owner}.{name} must be a non-empty list of numbers, got {value!r}")
    return tuple(
        require_float(owner, f"{name}[{i}]", v, meta.low, meta.high, meta.low_open, meta.high_open, meta.allow_inf)
        for i, v in enumerate(value)
    )


def _checked(owner: str, name: str, value: Any, meta: Setting, kind: Any) -> Any:
    """value checked against the field's annotated type ``kind`` and its Setting -> the stored value."""
    optional, kind = _without_none(kind)
    if value is None and optional:
        return None
    if kind is bool:
        return require_bool(owner, name, value)
    if kind is int:
        low = None if meta.low is None else math.ceil(meta.low)
        high = None if meta.high is None else math.floor(meta.high)
        return require_int(owner, name, value, low, high)
    if kind is float:
        return require_float(owner, name, value, meta.low, meta.high, meta.low_open, meta.high_open, meta.allow_inf)
    if kind is str:
        if meta.choices is not None:
            return require_choice(owner, name, value, meta.choices)
        if meta.pattern is not None:
            if not isinstance(value, str) or re.fullmatch(meta.pattern, value) is None:
                raise ConfigError(f"{owner}.{name} must be one of {meta.pattern_text}; got {value!r}")
            return value
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{owner}.{name} must be a non-empty string, got {value!r}")
        return value
    if kind is Path:
        return require_path(owner, name, value)
    if typing.get_origin(kind) is tuple and typing.get_args(kind) == (int, ...):
        return require_int_tuple(owner, name, value, None if meta.low is None else math.ceil(meta.low))
    if typing.get_origin(kind) is tuple and typing.get_args(kind) == (float, ...):
        return require_float_tuple(owner, name, value, meta)
    if isinstance(kind, type) and issubclass(kind, ConfigBase):
        if not isinstance(value, kind):
            raise ConfigError(f"{owner}.{name} must be a {kind.__name__}, got {type(value).__name__}")
        return value
    return value  # other types: the class's check_consistency


def _within(value: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def _number_text(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:g}"


def _without_none(kind: Any) -> tuple[bool, Any]:
    """X | None -> (True, X); X -> (False, X)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return len(args) < len(typing.get_args(kind)), args[0]
    return False, kind


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(config: type) -> dict[str, Any]:
    """The resolved annotations of a config class (cached: they do not change)."""
    kinds = _FIELD_TYPES.get(config)
    if kinds is None:
        kinds = _FIELD_TYPES[config] = typing.get_type_hints(config)
    return kinds


def _field(config: type, name: str) -> dataclasses.Field[Any]:
    for field in dataclasses.fields(config):
        if field.name == name:
            return field
    raise ConfigError(f"{config.__name__} has no field {name!r}")


# ---------------------------------------------------------------------------------------------- base


class ConfigBase:
    """Validation from the fields' Settings, and to_dict / from_dict / YAML, of a frozen config dataclass.

    RENAMED_FIELDS: former field name -> current one. from_dict (hence from_yaml and every
        checkpoint reader) takes a former name in place of the current one, so that files
        written before a rename still load; giving both is refused.
    """

    RENAMED_FIELDS: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        owner = type(self).__name__
        kinds = _field_types(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            meta = field.metadata.get(_SETTING_KEY)
            if isinstance(meta, Setting):
                value = _checked(owner, field.name, getattr(self, field.name), meta, kinds[field.name])
                object.__setattr__(self, field.name, value)
        self.check_consistency()

    def check_consistency(self) -> None:
        """Rules that relate fields, and fields of types the Settings cannot check; runs after those checks."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML types: nested configurations as dicts, paths as strings, tuples as lists."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, ConfigBase):
                value = value.to_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):  # plain lists, so that YAML and JSON writers accept them
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def _check_keys(cls, data: Any) -> dict[str, Any]:
        """data -> a copy with former field names renamed; ConfigError for unknown or missing fields."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a mapping of field names to values, got {type(data).__name__}")
        data = dict(data)
        for former, current in cls.RENAMED_FIELDS.items():
            if former in data:
                if current in data:
                    raise ConfigError(f"{cls.__name__}: {former} is the former name of {current}; give only {current}")
                data[current] = data.pop(former)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(known))}"
            )
        required = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ConfigError(f"{cls.__name__} is missing required field(s) {', '.join(missing)}")
        return data

    @classmethod
    def _from_fields(cls: type[_C], values: dict[str, Any]) -> _C:
        """Checked field values -> the config; a nested configuration given as a mapping is read with
        its own from_dict (None: its defaults, or None where the field is optional)."""
        kinds = _field_types(cls)
        for name, value in values.items():
            optional, kind = _without_none(kinds[name])
            if not (isinstance(kind, type) and issubclass(kind, ConfigBase)) or isinstance(value, ConfigBase):
                continue
            if value is None and not optional:
                value = {}
            if value is not None:
                values[name] = kind.from_dict(value)
        return cls(**values)

    @classmethod
    def from_dict(cls: type[_C], data: Any) -> _C:
        """A mapping of field names (or former names) to plain values -> the config; missing fields keep the defaults."""
        return cls._from_fields(cls._check_keys(data))

    @classmethod
    def from_yaml(cls: type[_C], path: str | Path) -> _C:
        """Read a recipe. Fields absent from the file keep the dataclass defaults.

        Relative paths inside it are kept as written and resolve against the current working
        directory when the files are opened. Errors name the file (and the line of a YAML error).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise ConfigError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
        if data is None:
            raise ConfigError(f"{path}: config file is empty")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- CLI


def add_config_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config: type[ConfigBase],
    fields: Iterable[str],
    flags: Mapping[str, str | tuple[str, ...]] | None = None,
) -> None:
    """Add one option per field of ``config``: ``--field-name`` (or ``flags[field]``: one flag, or a tuple of
    the flag and its aliases), dest the field name.

    The option's default is None (not given: the configuration's own default applies, see
    :func:`config_overrides`); its help is the field's help with its units, its real default and
    its range. A value is checked as the field checks it, so a bad one is refused by argparse with
    the configuration's message. bool fields get --name / --no-name.
    """
    for name in fields:
        meta = setting_of(config, name)
        _, kind = _without_none(_field_types(config)[name])
        default = default_of(config, name)
        details = [meta.units] if meta.units else []
        details.append(f"default: {_value_text(default)}")
        if meta.range_text and kind is not bool:
            details.append(f"range: {meta.range_text}")
        help_text = f"{meta.help} ({'; '.join(details)})".replace("%", "%%")
        given = (flags or {}).get(name, "--" + name.replace("_", "-"))
        names = (given,) if isinstance(given, str) else given
        if kind is bool:
            parser.add_argument(*names, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        if kind not in (int, float, str, Path):
            raise ConfigError(f"{config.__name__}.{name} ({kind}) has no command-line form")
        parser.add_argument(
            *names,
            dest=name,
            type=_option_type(config, name, kind),
            default=None,
            metavar=name.upper() if meta.choices is None else "{" + ",".join(meta.choices) + "}",
            help=help_text,
        )


def markdown_table(config: type[ConfigBase], fields: Iterable[str] | None = None) -> str:
    """The fields of ``config`` (all, or ``fields``) as a README table: option, default, range, units,
    description; generated from the declarations, so a test can check that the README shows them."""
    declared = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    names = declared if fields is None else list(fields)
    rows = ["| option | default | range | units | description |", "| --- | --- | --- | --- | --- |"]
    for name in names:
        meta = setting_of(config, name)
        option = "--" + name.replace("_", "-")
        default = _value_text(default_of(config, name))
        accepted = meta.range_text.replace("|", "\\|")  # a choice list's bars inside a table cell
        rows.append(f"| `{option}` | {default} | {accepted} | {meta.units} | {meta.help} |")
    return "\n".join(rows)


def config_overrides(args: argparse.Namespace, fields: Iterable[str]) -> dict[str, Any]:
    """The options of ``fields`` given on the command line -> {field: value} (those not given are left out)."""
    return {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}


def _option_type(config: type[ConfigBase], name: str, kind: Any) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value: Any = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n' if kind is int else ''} {kind.__name__}") from None
        try:
            return check_field(config, name, value)
        except ConfigError as exc:
            # argparse names the option ("argument --steps: ..."): the user sees no class name.
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{config.__name__}.{name} ")) from None

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _number_text(value)
    if value is None:
        return "none"
    return str(value)
