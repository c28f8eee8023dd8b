"""What a dataset converter kept and skipped, and why: the counts its summary reports.

Converters never drop data silently: every skipped annotation, frame or sequence is counted
under a reason, with the first place it happened so that a user can look at it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SkipCounter:
    """Counts by reason, with the first example of each (a file, a capture/frame, a sequence)."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        self.counts[reason] += count
        self.examples.setdefault(reason, where)

    def merge(self, other: SkipCounter) -> None:
        for reason, count in other.counts.items():
            self.skip(reason, other.examples[reason], count)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            reason: {"count": count, "first": self.examples[reason]} for reason, count in sorted(self.counts.items())
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> SkipCounter:
        counter = SkipCounter()
        for reason, entry in data.items():
            counter.skip(reason, str(entry["first"]), int(entry["count"]))
        return counter

    def summary(self) -> str:
        if not self.counts:
            return "nothing skipped"
        return "skipped: " + "; ".join(f"{count} {reason}" for reason, count in sorted(self.counts.items()))
