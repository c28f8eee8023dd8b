"""Included by every launch file of this package: a node that exits with an error ends the launch,
which then exits with code 1.

``ros2 launch`` on its own logs "process has died" and keeps going, and when nothing is left it
exits 0; a robot's supervisor (systemd, a process manager, a CI job) would then take a node that
refused its parameters, or could not load its model, for a clean stop. Here such an exit raises
NodeFailed in the launch's event loop: launch logs it on one line ("Caught exception in launch
...: grasp_proposal_node-1 exited with code 1"), stops the other nodes with SIGINT, and returns 1.
A node stopped by the launch's own SIGINT exits 0 (our nodes do), so Ctrl-C still ends with 0.
"""

from __future__ import annotations

from typing import Any

from launch.actions import RegisterEventHandler
from launch.event_handlers import OnProcessExit

from launch import LaunchDescription


class NodeFailed(RuntimeError):
    """A launched process exited with a non-zero code."""


def raise_on_failure(event: Any, context: Any) -> None:
    """OnProcessExit callback: a non-zero exit code of any process -> NodeFailed."""
    if event.returncode != 0:
        raise NodeFailed(f"{event.action.name} exited with code {event.returncode} (its error is logged above)")


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([RegisterEventHandler(OnProcessExit(on_exit=raise_on_failure))])
