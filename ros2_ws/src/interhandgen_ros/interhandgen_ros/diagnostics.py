"""Node health as diagnostic_msgs/DiagnosticArray (pure: no rclpy).

NodeStatistics counts what a node received, processed and dropped (and why), and keeps the
latency of recent work; ``to_message`` turns it into one DiagnosticStatus: OK while it keeps
up, WARN when it has dropped inputs in the last period or is busy with a long request (an
action goal), ERROR when the model is not loaded.

The message is bounded whatever the input: drops are counted per kind of reason, a kind being
the reason's text up to its first ':' or '(' with numbers and quoted names taken out (a frame id,
a point count), at most MAX_DROP_REASONS entries (the last one "other reasons", where later new
kinds are counted); a
wrong frame id is counted under one kind and only the last one is kept, cut to FRAME_ID_CHARS.
So 10,000 distinct wrong frame ids make one entry, not 10,000.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

LATENCY_WINDOW = 100
# Drop-reason entries reported at most, OTHER_REASONS included (where new kinds go once the others are taken).
MAX_DROP_REASONS = 16
OTHER_REASONS = "other reasons"
# A reason kind is cut to this many characters, a reported frame id to FRAME_ID_CHARS.
REASON_CHARS = 60
FRAME_ID_CHARS = 64
WRONG_FRAME = "frame other than expected_frame_id"

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def drop_kind(reason: str) -> str:
    """A drop's reason (one line) -> its kind: the text before the first ':' or '(' with quoted names
    and numbers replaced (``cloud of 6000000 points exceeds ...`` -> ``cloud of N points exceeds ...``),
    at most REASON_CHARS characters; the same kind for every input that fails the same way."""
    kind = _QUOTED.sub("'...'", reason.split(":")[0].split("(")[0])
    kind = _NUMBER.sub("N", kind).strip()
    return kind[:REASON_CHARS] or "unknown"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class NodeStatistics:
    """Counts since the node started. ``busy_since``: time.monotonic() when the running action goal
    began (None: none runs); ``last_wrong_frame``: the newest frame id refused by expected_frame_id."""

    received: int = 0
    processed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    last_wrong_frame: str = ""
    busy_since: float | None = None
    _dropped_at_last_report: int = 0

    def drop(self, reason: str) -> None:
        """Count one dropped input under the kind of ``reason`` (drop_kind), within MAX_DROP_REASONS kinds."""
        kind = drop_kind(reason)
        named = len(self.dropped) - (OTHER_REASONS in self.dropped)
        if kind not in self.dropped and named >= MAX_DROP_REASONS - 1:  # the last entry is OTHER_REASONS
            kind = OTHER_REASONS
        self.dropped[kind] += 1

    def drop_wrong_frame(self, frame_id: str) -> None:
        """Count an input of a frame other than expected_frame_id; keep its frame id as the last one."""
        self.drop(WRONG_FRAME)
        self.last_wrong_frame = _cut(frame_id, FRAME_ID_CHARS)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_message(self, header: Header, node_name: str, backend: str, device: str, loaded: bool) -> DiagnosticArray:
        latencies = sorted(self.latencies_ms)
        median = statistics.median(latencies) if latencies else float("nan")
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
        new_drops = self.dropped_total - self._dropped_at_last_report
        self._dropped_at_last_report = self.dropped_total
        busy_since = self.busy_since
        busy_s = None if busy_since is None else time.monotonic() - busy_since
        if not loaded:
            level, message = DiagnosticStatus.ERROR, "model not loaded (node not configured)"
        elif busy_s is not None:
            level, message = DiagnosticStatus.WARN, f"busy: goal running {busy_s:.0f} s"
            if new_drops:
                message += f"; dropped {new_drops} inputs since the last report"
        elif new_drops:
            level, message = DiagnosticStatus.WARN, f"dropped {new_drops} inputs since the last report"
        else:
            level, message = DiagnosticStatus.OK, "ok"
        values = {
            "received": self.received,
            "processed": self.processed,
            "dropped": self.dropped_total,
            "latency_median_ms": f"{median:.1f}",
            "latency_p95_ms": f"{p95:.1f}",
            "backend": backend,
            "device": device,
            "goal_running_s": "-" if busy_s is None else f"{busy_s:.1f}",
            **({"last_wrong_frame_id": self.last_wrong_frame} if self.last_wrong_frame else {}),
            **{f"dropped: {reason}": count for reason, count in sorted(self.dropped.items())},
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{node_name}: interhandgen",
            message=message,
            hardware_id=device,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        return DiagnosticArray(header=header, status=[status])
