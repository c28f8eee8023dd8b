"""Fixtures of the ROS tests: nodes run as separate processes (ros2_ws/env.sh EXECUTABLE) and the
test talks to them over real DDS from its own rclpy node, on a ROS domain of its own.

These tests need the built workspace (make ros, which make test runs first); they fail, not
skip, when it is missing, because make test promises them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV_SH = REPO / "ros2_ws" / "env.sh"
# One domain per test session: parallel sessions on one machine must not hear each other.
DOMAIN = str(100 + os.getpid() % 100)
os.environ["ROS_DOMAIN_ID"] = DOMAIN

rclpy = pytest.importorskip("rclpy", reason="run through ros2_ws/env.sh after make ros (make test does)")


class NodeProcess:
    """A node started with parameters and remappings; ``stop`` sends SIGINT and returns the exit code."""

    def __init__(self, executable: str, params: dict[str, Any], remaps: dict[str, str], log: Path) -> None:
        args = [str(ENV_SH), executable, "--ros-args"]
        for name, value in params.items():
            text = (
                str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, str) else str(value)
            )
            args += ["-p", f"{name}:={text}"]
        for old, new in remaps.items():
            args += ["-r", f"{old}:={new}"]
        self.log_path = log
        self.log = open(log, "w")
        env = {**os.environ, "ROS_DOMAIN_ID": DOMAIN, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=log.parent)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return int(self.process.returncode)

    @property
    def pid(self) -> int:
        return self.process.pid


@pytest.fixture(scope="session")
def ros() -> Iterator[Any]:
    """An rclpy context and a node for the test's own publishers and subscriptions."""
    if not ENV_SH.is_file() or not (REPO / "ros2_ws" / "install").is_dir():
        pytest.fail("the ROS workspace is not built: run make ros (make test does)")
    rclpy.init()
    node = rclpy.create_node("interhandgen_test_client")
    yield node
    node.destroy_node()
    rclpy.shutdown()


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def start(
        executable: str, params: dict[str, Any] | None = None, remaps: dict[str, str] | None = None
    ) -> NodeProcess:
        node = NodeProcess(executable, params or {}, remaps or {}, tmp_path / f"{executable}_{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def spin_until(node: Any, done: Callable[[], bool], timeout: float) -> bool:
    """Spin the test's node until done() or the timeout; True when done."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
        if done():
            return True
    return False


def publish_until(
    node: Any, publisher: Any, msg: Any, done: Callable[[], bool], wait: float, attempts: int = 5
) -> bool:
    """Publish ``msg`` and spin until done(), publishing it again after each ``wait`` seconds without; True when done.

    A reader that has just matched a writer can miss its first sample (reliable or not), so a test that must get one
    particular message through sends it again until the node shows (by an answer or a diagnostics count) it came.
    """
    for _ in range(attempts):
        publisher.publish(msg)
        if spin_until(node, done, wait):
            return True
    return False


def publish_in_lockstep(
    node: Any, publisher: Any, messages: list[Any], answered: Callable[[Any], bool], timeout: float = 10.0
) -> list[Any]:
    """Publish each message, then spin until ``answered(message)`` (or ``timeout`` s) before the next; returns
    the messages left unanswered.

    A test about what a node makes of particular frames sends them one at a time: on a fixed-rate stream a
    loaded machine lets the next frame supersede one the test is about (the node processes the newest only).
    """
    unanswered = []
    for msg in messages:
        publisher.publish(msg)
        if not spin_until(node, lambda m=msg: answered(m), timeout):
            unanswered.append(msg)
    return unanswered


def diagnostic_counts(diagnostics: list[Any]) -> dict[str, str]:
    """The newest DiagnosticArray's first status as {key: value}; {} before any arrived."""
    return {v.key: v.value for v in diagnostics[-1].status[0].values} if diagnostics else {}
