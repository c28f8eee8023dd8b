"""Node health as diagnostic_msgs/DiagnosticArray (pure: no rclpy).

NodeStatistics counts what a node received, processed and dropped (and why), and keeps the
latency of recent work; ``to_message`` turns it into one DiagnosticStatus: OK while it keeps
up, WARN when it has dropped inputs in the last period, ERROR when the model is not loaded.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

LATENCY_WINDOW = 100


@dataclass
class NodeStatistics:
    received: int = 0
    processed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    _dropped_at_last_report: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_message(self, header: Header, node_name: str, backend: str, device: str, loaded: bool) -> DiagnosticArray:
        latencies = sorted(self.latencies_ms)
        median = statistics.median(latencies) if latencies else float("nan")
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
        new_drops = self.dropped_total - self._dropped_at_last_report
        self._dropped_at_last_report = self.dropped_total
        if not loaded:
            level, message = DiagnosticStatus.ERROR, "model not loaded (node not configured)"
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
