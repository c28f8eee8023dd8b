"""The machine's load during a timing (evaluation/machine_load.py): other processes' cores, ours excluded, the warning."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from interhandgen_core.evaluation import machine_load
from interhandgen_core.evaluation.machine_load import LOADED_FRACTION, LOADED_MIN_CORES, MachineLoad, cpu_cores

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measured from /proc (Linux)")

SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"


def spinners(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that each keep one core busy for ``seconds``: other work on the machine."""
    return [subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=seconds)]) for _ in range(count)]


def enough_spinners() -> int:
    """More busy processes than the warning's threshold of cores."""
    return int(max(LOADED_MIN_CORES, LOADED_FRACTION * cpu_cores())) + 1


def test_other_processes_busy_during_the_timing_are_measured_and_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    busy = spinners(enough_spinners(), 4.0)
    try:
        with caplog.at_level(logging.WARNING, logger="interhandgen_core"), MachineLoad() as load:
            subprocess.run([sys.executable, "-c", "import time; time.sleep(1.5)"], check=True)  # we wait, they work
        load.warn_if_loaded("a sleep")
    finally:
        for process in busy:
            process.kill()
            process.wait()
    fields = load.fields()
    assert fields["cpu_cores"] == cpu_cores() and fields["load_average"] is not None
    assert fields["other_load_cores"] > max(LOADED_MIN_CORES, LOADED_FRACTION * cpu_cores()), fields
    assert load.loaded
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert f"of {cpu_cores()} CPU cores busy while timing a sleep" in messages[0]
    assert "load average" in messages[0]


def fake_counters(monkeypatch: pytest.MonkeyPatch, system: list[float], own: dict[str, list[float]]) -> None:
    """/proc replaced by sequences: the system's busy seconds, and each process's CPU seconds, at start and end."""
    clock: Iterator[float] = iter([100.0, 102.0])  # a 2 s timing
    system_values = iter(system)
    own_values = {pid: iter(values) for pid, values in own.items()}
    monkeypatch.setattr(machine_load, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    monkeypatch.setattr(machine_load, "_system_busy_s", lambda cpus: next(system_values))
    monkeypatch.setattr(machine_load, "_process_cpu_s", lambda pid: next(own_values[str(pid)]))
    monkeypatch.setattr(machine_load, "cpu_cores", lambda: 4)


def test_our_own_processes_are_not_other_load(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 s, 7 busy CPU seconds in all: 3 ours, 2 of a node we started, 2 of someone else (1 core).
    fake_counters(monkeypatch, [50.0, 57.0], {"self": [10.0, 13.0], "77": [5.0, 7.0]})
    with MachineLoad(pids=[77]) as load:
        pass
    assert load.other_load_cores == pytest.approx(1.0)
    assert load.loaded and "kept 1.0 of 4 CPU cores busy while timing x" in (load.warning("x") or "")


def test_an_idle_machine_gives_no_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # All the busy time is ours, but tick rounding leaves a little more of it than the system counted.
    fake_counters(monkeypatch, [50.0, 53.98], {"self": [10.0, 14.0]})
    with MachineLoad() as load:
        pass
    assert load.other_load_cores == 0.0 and not load.loaded and load.warning("x") is None
