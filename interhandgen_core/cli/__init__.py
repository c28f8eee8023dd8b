"""`interhandgen`: the command line of the library.

    interhandgen data synth --kind twohand --num N --out FILE.npz [--seed S]
    interhandgen train --config training/configs/NAME.yaml --out RUN_DIR [--resume]
    interhandgen sample --num N --out DIR [--checkpoint PATH] [--seed S] [--steps K] [--cfg W] [--penetration-guidance-weight W]
    interhandgen data motion --sequences N --out DIR [--frames F] [--noise-mm 10] [--seed S]
    interhandgen evaluate protocol --config training/configs/protocol_twohand.yaml --out DIR [--num N] [--repeat K]
    interhandgen evaluate samples --reference FILE.npz --samples NAME=FILE.npz [...] --out DIR
    interhandgen evaluate objects --reference GRASPS.npz [--floor GRASPS.npz] --out DIR
    interhandgen refine --input FILE.npz --out FILE.npz [--checkpoint PATH] [--independent]
    interhandgen retarget --input HANDS.npz --robot shadow|FILE.yaml --out ROBOT.npz [--independent]
    interhandgen bench [cascade|denoiser|grasp|refine] [--backends torch,onnxruntime,cuda-graph,tensorrt]
                       [--device cpu|cuda] [--batches 1,16,64] [--preset small|paper] [--json FILE]
    interhandgen export --onnx FILE [--checkpoint PATH] [--encoder-onnx FILE] [--engine FILE --precision fp16]

``--backend NAME[:PRECISION]`` (sample, grasp, refine) picks the denoiser's runtime
(runtime/backend.py): torch, cuda-graph, onnxruntime or tensorrt; e.g. ``cuda-graph:bf16``.

Errors that a user can fix print one line (``interhandgen: error: ...``) and exit 1; bad
arguments print the usage and exit 2. The library's warnings (a cloud taken for millimetres,
a loaded machine during a timing, ...) print as ``interhandgen: warning: ...`` on stderr, as do
progress bars, so that stdout holds only the results. Each command writes only under the path
it is given.

One module per command group (data, train, sample, grasp, evaluate, refine, retarget, bench, export),
each with ``add_parser(commands)``, which registers its command(s) with the function that runs
them; arguments.py holds the argparse value types and the option groups commands share,
output_paths.py the checks of output paths made before any work.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence

from interhandgen_core.cli import bench, data, evaluate, export, grasp, refine, retarget, sample, train
from interhandgen_core.errors import InterHandGenError

# In the order `interhandgen --help` lists them.
COMMAND_GROUPS = (data, train, sample, grasp, evaluate, refine, retarget, bench, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interhandgen",
        description="A generative prior of two interacting hands (InterHandGen): make data, train, sample, "
        "propose grasps, refine, evaluate, benchmark and export.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parser(commands)
    return parser


@contextlib.contextmanager
def library_warnings_on_stderr() -> Iterator[None]:
    """While the command runs: the library's log records of WARNING and up as ``interhandgen: warning: ...``
    lines on stderr, written between progress-bar updates (tqdm) rather than through them."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    logger = logging.getLogger("interhandgen_core")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("interhandgen: warning: %(message)s"))
    saved = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False  # no second copy through the root logger or Python's last-resort handler
    logger.setLevel(logging.WARNING)
    try:
        with logging_redirect_tqdm([logger]):
            yield
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = saved


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with library_warnings_on_stderr():
            args.func(args)
    except InterHandGenError as exc:
        print(f"interhandgen: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an output path that cannot be written (permissions, a full disk, ...)
        where = f"{exc.filename}: " if exc.filename is not None else ""
        reason = exc.strerror or str(exc).replace("\n", " ")
        print(f"interhandgen: error: {where}{reason}", file=sys.stderr)
        return 1
    return 0


__all__ = ["build_parser", "main"]
