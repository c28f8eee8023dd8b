"""Reading the large JSON annotation files of published datasets, with errors that point at the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interhandgen_core.errors import DataError


def read_json(path: Path, what: str) -> Any:
    """The parsed content of ``path``; DataError naming the file (and line and column) for anything unreadable.

    ``what`` says what the file should be, for the message ("InterHand2.6M MANO annotation").
    Python's parser also accepts NaN and Infinity, which the converters then count as bad values.
    """
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with path.open("r", encoding="utf-8") as stream:
            return json.load(stream)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON in the {what} ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: the {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
