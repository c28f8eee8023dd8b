"""Issue lines (refinement/issues.py): their kind, their counts per kind, and a log that holds back repeats of a kind."""

from __future__ import annotations

import logging

import pytest

from interhandgen_core.refinement.issues import ThrottledLog, issue_counts, issue_kind


def test_issue_kind_drops_details_and_remedy() -> None:
    assert issue_kind("right hand not observed; holding its last state (lost 2 frames)") == "right hand not observed"
    assert (
        issue_kind("left hand keypoints look like millimetres (x1000); converted")
        == "left hand keypoints look like millimetres"
    )


def test_throttled_log_counts_what_it_held_back(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_issues.throttled")
    log = ThrottledLog(interval_s=0.0, logger=logger)
    slow = ThrottledLog(interval_s=3600.0, logger=logger)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        log.warn("a (1)")
        log.warn("a (2)")
        slow.warn("b (1)")
        slow.warn("b (2)")
        slow.warn("c; do this")
    assert [r.getMessage() for r in caplog.records] == ["a (1)", "a (2)", "b (1)", "c; do this"]
    assert slow.held == {"b": 1}


def test_issue_counts_tally_lines_per_kind_sorted_by_kind() -> None:
    issues = [
        "right hand not observed; holding its last state (lost 1 frames)",
        "left hand keypoints look like millimetres (median bone 40); divided by 1000",
        "right hand not observed; holding its last state (lost 2 frames)",
    ]
    counts = issue_counts(issues)
    assert counts == {"left hand keypoints look like millimetres": 1, "right hand not observed": 2}
    assert list(counts) == sorted(counts)
    assert issue_counts([]) == {}
