"""NodeStatistics (diagnostics.py, pure): the diagnostics message stays bounded whatever the inputs were."""

from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from interhandgen_ros.diagnostics import (
    FRAME_ID_CHARS,
    MAX_DROP_REASONS,
    OTHER_REASONS,
    WRONG_FRAME,
    NodeStatistics,
    drop_kind,
)
from rclpy.serialization import serialize_message
from std_msgs.msg import Header


def message_of(stats: NodeStatistics) -> tuple[DiagnosticStatus, dict[str, str], int]:
    msg = stats.to_message(Header(), "node", "torch", "cpu", True)
    status = msg.status[0]
    return status, {v.key: v.value for v in status.values}, len(serialize_message(msg))


def test_ten_thousand_wrong_frame_ids_make_one_entry_and_the_last_id() -> None:
    stats = NodeStatistics()
    _, _, empty_size = message_of(stats)
    for i in range(10_000):
        stats.drop_wrong_frame(f"camera_{i}")
    status, values, size = message_of(stats)
    assert values[f"dropped: {WRONG_FRAME}"] == "10000" and values["dropped"] == "10000"
    assert values["last_wrong_frame_id"] == "camera_9999"
    assert size < empty_size + 200, size  # one entry and one frame id, not 10,000
    assert status.level == DiagnosticStatus.WARN
    stats.drop_wrong_frame("x" * 1_000_000)  # a megabyte of frame id is cut
    assert len(message_of(stats)[1]["last_wrong_frame_id"]) == FRAME_ID_CHARS


def test_reasons_are_counted_per_kind_within_a_fixed_number_of_entries() -> None:
    stats = NodeStatistics()
    for points in range(5_000_001, 5_000_101):  # a number in the text is not a new kind
        stats.drop(f"cloud of {points} points exceeds the 5000000 this node accepts; crop it first")
    ((kind, count),) = stats.dropped.items()
    assert kind.startswith("cloud of N points exceeds the N this node") and count == 100
    for i in range(10 * MAX_DROP_REASONS):  # texts that differ otherwise: at most MAX_DROP_REASONS entries
        stats.drop(f"reason{chr(65 + i % 26)}{chr(65 + i // 26)}: detail")
    assert len(stats.dropped) == MAX_DROP_REASONS and stats.dropped[OTHER_REASONS] > 0
    assert stats.dropped_total == 100 + 10 * MAX_DROP_REASONS
    _, values, size = message_of(stats)
    assert sum(key.startswith("dropped: ") for key in values) == MAX_DROP_REASONS and size < 2_000


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (
            "superseded by a newer message before it was processed",
            "superseded by a newer message before it was processed",
        ),
        ("cloud in millimetres: it spans 400 units", "cloud in millimetres"),
        ("frame 'world', expected 'camera' (expected_frame_id)", "frame '...', expected '...'"),
        ("", "unknown"),
    ],
)
def test_drop_kind(reason: str, kind: str) -> None:
    assert drop_kind(reason) == kind


def test_a_running_goal_reports_busy_not_ok() -> None:
    stats = NodeStatistics()
    status, values, _ = message_of(stats)
    assert status.level == DiagnosticStatus.OK and values["goal_running_s"] == "-"
    stats.busy_since = time.monotonic() - 12.0
    status, values, _ = message_of(stats)
    assert status.level == DiagnosticStatus.WARN and status.message == "busy: goal running 12 s"
    assert float(values["goal_running_s"]) >= 12.0
