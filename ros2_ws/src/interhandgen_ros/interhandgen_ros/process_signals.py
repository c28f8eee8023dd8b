"""SIGINT and SIGTERM of a node process -> a clean stop with exit code 0, whenever they arrive.

Standard library only: the executables (executables.py) install this before importing anything
that takes time (torch, the library: seconds), so that a Ctrl-C during those imports, during the
model's loading and warm-up, while a long callback runs or while the node spins ends the process
with 0 rather than with an escaped KeyboardInterrupt (exit code -2). rclpy's own handlers are not
installed (node_base.run calls rclpy.init without them).

Three phases:
    raising   (from install until the node spins): the first signal raises StopRequested in the
              main thread, which unwinds whatever it was doing (an import, the model's loading in
              on_configure); StopRequested is a BaseException, so no ``except Exception`` holds it.
    deferred  (while the node spins): the first signal only sets ``received``; the spin loop
              polls it (rclpy's wait would not return to run a raising handler in time).
    after the first signal: later ones change nothing (under ``ros2 launch`` Ctrl-C reaches a
              node twice, from the terminal and from launch): the stop in progress finishes.

The process then ends without the interpreter's finalization (executables.exit_now), in which
Python would put back the default action of SIGINT (a late Ctrl-C: exit code -2) and run the
teardown of an extension module whose import the signal cut short (open3d's then exits 1).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """A SIGINT or SIGTERM asked the process to stop (raised in the main thread)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """The process's SIGINT/SIGTERM handling; ``received`` is the first signal's number (None: none yet)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = True
        self._exiting = False

    def install(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        return self

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within: a signal only sets ``received`` (raising again afterwards, if none came)."""
        self._raising = False
        try:
            yield
        finally:
            self._raising = self.received is None

    @contextmanager
    def exiting(self) -> Iterator[None]:
        """Within: a signal ends the process at once with exit 0 (os._exit, output flushed). For the imports
        before the node exists: nothing to clean up yet, and an exception raised inside an import can break
        it (numpy recursing to RecursionError, torch's pybind11 code calling std::terminate)."""
        self._exiting = True
        try:
            yield
        finally:
            self._exiting = False

    def stop_raising(self) -> None:
        """From now on a signal only sets ``received`` (the process is stopping anyway)."""
        self._raising = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._exiting:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if self.received is not None:
            return
        self.received = signum
        if self._raising:
            self._raising = False
            raise StopRequested(signum)
