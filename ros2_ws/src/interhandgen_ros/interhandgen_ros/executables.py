"""The node executables (setup.py console_scripts): grasp_proposal_node and hand_prior_node.

    grasp_proposal_node [--help] [--ros-args -p NAME:=VALUE ... -r FROM:=TO ...]
    hand_prior_node     [--help] [--ros-args -p NAME:=VALUE ... -r FROM:=TO ...]

Importing a node takes seconds (torch, the library). Each entry point therefore first takes over
SIGINT and SIGTERM (process_signals.py: a signal from here on ends the process with exit code 0),
then answers ``--help`` (what the node is, its topics and actions, its parameter table from
parameters.py) without starting ROS, refuses arguments it does not know, and only then imports
its node module and runs it (node_base.run); at the end the process exits at once (exit_now).
Standard library only at import.

A node module names its node class ``NODE``; the class carries its parameter table
(``PARAMETERS``) and its executor's thread count (``EXECUTOR_THREADS``).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import NoReturn

from interhandgen_ros.process_signals import StopRequested, StopSignals

HELP_FLAGS = ("-h", "--help")
ROS_ARGS, ROS_ARGS_END = "--ros-args", "--"


def split_ros_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """Command-line arguments (without the program name) -> (the program's own, the ROS ones).

    The ROS arguments are every ``--ros-args ... [--]`` block (rcl's syntax), markers included;
    given to rclpy.init alone, so that rcl never reads a program option such as the replay's
    ``--remap FROM:=TO`` as a ROS remapping (its deprecated pre-Foxy syntax, with a warning).
    """
    own: list[str] = []
    ros: list[str] = []
    inside = False
    for arg in args:
        if arg == ROS_ARGS:
            inside = True
            ros.append(arg)
        elif inside and arg == ROS_ARGS_END:
            inside = False
            ros.append(arg)
        else:
            (ros if inside else own).append(arg)
    return own, ros


def help_text(module: ModuleType, program: str) -> str:
    """``--help`` of a node executable: its module's description, usage and parameter table."""
    from interhandgen_ros.parameters import text_table

    node = module.NODE
    return (
        f"{(module.__doc__ or '').strip()}\n\n"
        f"usage: {program} [--help] [--ros-args -p NAME:=VALUE ... -r FROM:=TO ... --params-file FILE]\n\n"
        "parameters (-p NAME:=VALUE, a parameter file or a launch file; those marked 'fixed' are read at\n"
        "configure: set them at start, or by cleanup + configure with new values):\n"
        f"{text_table(node.PARAMETERS)}\n"
    )


def start(module_name: str, argv: list[str] | None = None) -> int:
    """Run the node of ``module_name`` as this process (argv: sys.argv's form); the exit code.

    0 after SIGINT/SIGTERM (at any moment) or --help; 1 when the node refuses its parameters or
    (with autostart) cannot configure; 2 for an argument it does not know.
    """
    signals = StopSignals().install()
    argv = list(sys.argv if argv is None else argv)
    program = argv[0].rsplit("/", 1)[-1] if argv else module_name.rsplit(".", 1)[-1]
    own, ros = split_ros_arguments(argv[1:])
    try:
        unknown = [arg for arg in own if arg not in HELP_FLAGS]
        if unknown:
            print(
                f"{program}: unknown argument {unknown[0]!r}; ROS arguments go after --ros-args "
                f"(parameters -p NAME:=VALUE, remappings -r FROM:=TO); {program} --help lists the parameters",
                file=sys.stderr,
            )
            return 2
        with signals.exiting():  # a stop signal while importing ends the process at once (StopSignals.exiting)
            module = importlib.import_module(module_name)
        if own:
            print(help_text(module, program), end="")
            return 0
        from interhandgen_ros.node_base import run

        return run(module.NODE, [program, *ros], signals)
    except StopRequested:
        return 0


def exit_now(code: int) -> NoReturn:
    """End the process with ``code``, output flushed, skipping the interpreter's finalization.

    ROS is shut down already (node_base.run). Finalization takes a while with torch loaded and
    would run the teardown of whatever a stop signal interrupted: a late Ctrl-C there ends the
    process with -2 (Python puts the default SIGINT action back), an extension module whose import
    the signal cut short may fail in its teardown (open3d's exits 1), and a callback still
    computing (node_base.run does not wait for it) would hold the exit up.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def grasp_proposal_node() -> NoReturn:
    exit_now(start("interhandgen_ros.grasp_proposal_node"))


def hand_prior_node() -> NoReturn:
    exit_now(start("interhandgen_ros.hand_prior_node"))
