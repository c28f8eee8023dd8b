"""What was wrong with a refiner's input: issue lines, their kinds and counts, and a throttled log of them.

An issue is one line of text ("right hand not observed; holding its last state (lost 2
frames)"): its kind is the text before the details in parentheses and the remedy after a
semicolon. HandPriorRefiner reports every issue in ``RefinedHands.issues`` and logs each
kind at most once per ``RefinerConfig.warning_interval_s``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable


def issue_kind(issue: str) -> str:
    """What kind of problem an issue line reports: its text before the details ("(...)") and the remedy ("; ...")."""
    return issue.split(";")[0].split("(")[0].strip()


def issue_counts(issues: Iterable[str]) -> dict[str, int]:
    """Issue lines (``RefinedHands.issues``) -> {kind (``issue_kind``): how many lines}, sorted by kind.

    A stream refined frame by frame reports each problem once per frame, so its counts are
    the frames with each kind of problem.
    """
    return dict(sorted(Counter(issue_kind(issue) for issue in issues).items()))


class ThrottledLog:
    """Logs each kind of warning at most once per interval, with the count of the ones held back."""

    def __init__(self, interval_s: float, logger: logging.Logger) -> None:
        self.interval_s = interval_s
        self.logger = logger
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def warn(self, message: str) -> None:
        kind = issue_kind(message)
        now = time.monotonic()
        if now - self.last.get(kind, -float("inf")) >= self.interval_s:
            held = self.held.pop(kind, 0)
            self.logger.warning(message + (f" (and {held} more like it)" if held else ""))
            self.last[kind] = now
        else:
            self.held[kind] = self.held.get(kind, 0) + 1
