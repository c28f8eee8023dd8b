"""How busy other work kept the machine while a benchmark timed something, and the warning when it did.

    with MachineLoad() as load:               # around the timed calls of one row
        times = timed_ms(call, repeats, device)
    row.update(load.fields())                 # other_load_cores, cpu_cores, load_average
    load.warn_if_loaded("torch denoiser, batch 16")

Measure (Linux): the CPU time all processes spent busy on the CPUs this process may use
(``/proc/stat``: user, nice, system, irq, softirq, steal) over the timed interval, minus the CPU time of our own processes
(``/proc/PID/stat`` utime + stime of this process, all its threads, and of ``pids``: a node
the benchmark started), divided by the interval's wall time: the average number of cores
that *other* processes kept busy, in [0, cpu_cores]. The one-minute load average is
recorded beside it; it counts our own threads too, so it is not what the warning judges.
Elsewhere (no ``/proc``) other_load_cores is None and no warning is given.

A row is loaded when other processes kept more than LOADED_FRACTION of the cores busy, and
at least LOADED_MIN_CORES: its times are then inflated by the competition for the cores.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

LOADED_FRACTION = 0.1
LOADED_MIN_CORES = 0.5

# /proc/stat's busy columns after "cpu": user nice system idle iowait irq softirq steal (guest is in user).
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
_PROC_STAT = Path("/proc/stat")

log = logging.getLogger(__name__)


def _allowed_cpus() -> frozenset[int] | None:
    """The CPUs this process may run on (its affinity), or None where the platform does not say."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_cores() -> int:
    """The cores this process may run on (its affinity where the platform says), at least 1."""
    allowed = _allowed_cpus()
    return max(1, len(allowed) if allowed else (os.cpu_count() or 1))


def load_average() -> float | None:
    """The one-minute load average (runnable threads, ours included), or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _ticks_per_second() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def _system_busy_s(cpus: frozenset[int] | None) -> float | None:
    """CPU seconds all processes have spent busy since boot on ``cpus`` (None: every CPU), or None
    without /proc/stat (a container pinned to some CPUs of a larger host counts only those)."""
    try:
        lines = _PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if cpus is None or int(name[3:]) in cpus:
            ticks += sum(int(values[i]) for i in _BUSY_COLUMNS if i < len(values))
    return ticks / _ticks_per_second() if lines else None


def _process_cpu_s(pid: int | str) -> float:
    """utime + stime of one process (all its threads), seconds; 0 for a process that is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    return (int(fields[11]) + int(fields[12])) / _ticks_per_second()  # fields 14 and 15 of proc(5)


class MachineLoad:
    """A context manager around timed work: how many cores other processes kept busy meanwhile.

    pids: further processes whose CPU time is ours (a node the benchmark started and times).
    """

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self.pids = tuple(pids)
        self.cpus = _allowed_cpus()
        self.cores = cpu_cores()
        self.other_load_cores: float | None = None
        self.load_average: float | None = None
        self._start: tuple[float, float | None, float] | None = None

    def _own_cpu_s(self) -> float:
        pids: tuple[int | str, ...] = ("self", *self.pids)
        return sum((_process_cpu_s(pid) for pid in pids), 0.0)

    def __enter__(self) -> MachineLoad:
        self._start = (time.monotonic(), _system_busy_s(self.cpus), self._own_cpu_s())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._start is None:
            return
        wall0, busy0, own0 = self._start
        wall, busy, own = time.monotonic() - wall0, _system_busy_s(self.cpus), self._own_cpu_s() - own0
        self.load_average = load_average()
        if busy is None or busy0 is None or wall <= 0.0:
            return
        # Tick granularity (10 ms) can make the difference slightly negative on an idle machine.
        self.other_load_cores = min(float(self.cores), max(0.0, (busy - busy0 - own) / wall))

    @property
    def loaded(self) -> bool:
        """Whether other processes kept more than LOADED_FRACTION of the cores (and LOADED_MIN_CORES) busy."""
        threshold = max(LOADED_MIN_CORES, LOADED_FRACTION * self.cores)
        return self.other_load_cores is not None and self.other_load_cores > threshold

    def fields(self) -> dict[str, Any]:
        """The row fields: other_load_cores (None where unmeasured), cpu_cores, load_average (None where unknown)."""
        return {
            "other_load_cores": None if self.other_load_cores is None else round(self.other_load_cores, 2),
            "cpu_cores": self.cores,
            "load_average": None if self.load_average is None else round(self.load_average, 2),
        }

    def warning(self, what: str) -> str | None:
        """The one-line warning for the timing of ``what`` when the machine was loaded, else None."""
        if not self.loaded or self.other_load_cores is None:
            return None
        average = "" if self.load_average is None else f", load average {self.load_average:.1f}"
        return (
            f"other processes kept {self.other_load_cores:.1f} of {self.cores} CPU cores busy while timing {what}"
            f"{average}; its times are inflated - rerun on an idle machine"
        )

    def warn_if_loaded(self, what: str) -> None:
        """Log :meth:`warning` (WARNING level) when there is one."""
        message = self.warning(what)
        if message is not None:
            log.warning(message)


def load_cell(row: dict[str, Any]) -> str:
    """A row's other_load_cores of its cpu_cores ("0.1/16"), or "-" where unmeasured: the "others" column of the tables."""
    if row.get("other_load_cores") is None:
        return "-"
    return f"{row['other_load_cores']:.1f}/{row['cpu_cores']}"
