"""README.md's commands, walked as a new user would run them: in the order shown, as written.

The commands come from README.md itself: every fenced ``bash`` block (continuation lines joined,
comments dropped) and every fenced ``python`` block, in document order. Each command runs in a
fresh folder that looks like the repository root (a link to each of the repository's top-level
files and folders, no ``out/`` or ``runs/``), with ``interhandgen`` found the way the README
says: on the PATH once ``source .venv/bin/activate`` has been seen, and not before.

Only sizes change, by the rewrite tables below (SIZE_OPTIONS, APPENDED_OPTIONS, RECIPE_SIZES,
WALK_BACKBONE_SIZES, PYTHON_SIZES), each with its reason; an option that no table names runs as
written. The environment: ONNX exports go to the walk's own cache folder through
``$INTERHANDGEN_CACHE`` (as the README documents), and each command uses one CPU thread. What this machine cannot run is skipped by a rule of SKIP_RULES, with the reason
printed; a line that no rule knows fails the test, so a new kind of command gets a rule.
A command that exits non-zero fails the test, naming the README line and its stderr.

The sizes as written are checked too: the files ``evaluate samples`` reads were made by earlier
commands with more rows than the shipped backbone has feature dimensions (FHID needs a
covariance), so the walk's smaller sizes cannot hide a README that would fail at full size.

``pytest -s tests/test_readme_commands.py`` prints one line per command: ran or skipped, seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV_BIN = REPO / ".venv" / "bin"
ACTIVATE = "source .venv/bin/activate"
TIMEOUT_S = 300  # one command, at the walk's sizes

# ---------------------------------------------------------------------------------------------
# The rewrite tables: sizes only.

# Size options: (command, option) -> the walk's value. "command" is the subcommand path, with the
# kind of `data synth` (see command_key). Each keeps the command's meaning at a smaller size.
SIZE_OPTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("sample", "--num"): ("6", "samples; FHID needs more than the walk backbone's 4 features, precision k + 1 = 6"),
    ("grasp", "--num"): ("2", "grasps"),
    ("data synth twohand", "--num"): ("6", "scenes; as many as the samples they are compared with"),
    ("data synth object", "--num"): ("1", "objects"),
    ("data synth object", "--grasps-per-object"): ("1", "grasps per object"),
    ("evaluate grasps", "--objects"): ("1", "held-out objects"),
    ("evaluate grasps", "--num"): ("2", "grasps per object"),
    ("evaluate protocol", "--num"): ("6", "samples per row, as for sample"),
    ("data motion", "--sequences"): ("1", "sequences"),
    ("bench refine", "--sequences"): ("1", "sequences"),
    ("bench", "--batches"): ("1", "batch sizes timed"),
    ("bench grasp", "--batches"): ("1", "grasps per cloud timed"),
}

# Options added where the README leaves a large default: (command) -> [(option, value, why)].
APPENDED_OPTIONS: dict[str, list[tuple[str, str, str]]] = {
    "bench": [("--repeats", "1", "timed calls per row"), ("--steps", "2", "DDIM steps of the cascade")],
    "bench grasp": [("--repeats", "1", "timed calls"), ("--steps", "2", "DDIM steps")],
    "bench refine": [("--sequences", "1", "sequences"), ("--frames", "4", "frames per sequence")],
    "bench train": [("--repeats", "1", "timed steps")],
    "data motion": [("--frames", "4", "frames per sequence"), ("--keyframes", "2", "keyframes per sequence")],
}

# `--config training/configs/X.yaml` runs a copy of X.yaml with these keys changed (only keys that
# the recipe's kind has: a key the recipe does not set is added only where marked "always").
RECIPE_SIZES: dict[str, tuple[object, bool, str]] = {
    "max_steps": (2, True, "optimisation steps (training recipes)"),
    "batch_size": (8, False, "batch (training recipes)"),
    "checkpoint_every": (1, False, "epochs between checkpoints"),
    "log_every": (1, False, "steps between log lines"),
    "num_samples": (6, False, "samples per row (protocol), as for sample"),
    "repeat": (1, False, "repetitions (protocol)"),
}

# The shipped two-hand backbone has 256-D features, so FHID needs more than 256 samples per set;
# the walk's evaluations use a backbone with 4-D features instead (`--backbone` appended to
# `evaluate samples`, `backbone:` of a protocol recipe), trained by `interhandgen train` on the
# walk's own training set from the shipped recipe training/configs/backbone_twohand.yaml.
WALK_BACKBONE_SIZES = {"max_steps": 1, "batch_size": 4, "backbone": {"head": [16, 4]}}
WALK_BACKBONE_FEATURES = 4

# Python blocks: `.sample(N, ...)` draws at most 2.
PYTHON_SIZES: list[tuple[str, Callable[[re.Match[str]], str], str]] = [
    (r"\.sample\((\d+)", lambda m: f".sample({min(int(m.group(1)), 2)}", "samples or grasps drawn"),
]

# ---------------------------------------------------------------------------------------------
# Skip rules: what this machine lacks. (predicate over the argv, reason); the first that matches.


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _option(argv: list[str], name: str) -> str | None:
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _needs_cuda(argv: list[str]) -> bool:
    device = _option(argv, "--device") or ""
    backends = (_option(argv, "--backend") or "") + "," + (_option(argv, "--backends") or "")
    return device.startswith("cuda") or "cuda-graph" in backends or "tensorrt" in backends or "--engine" in argv


SKIP_RULES: list[tuple[Callable[[list[str]], bool], str]] = [
    (lambda a: a[0] == "make", "a make target: the walk runs in the .venv that `make venv` made (CI runs make test)"),
    (
        lambda a: a[0] in ("ros2", "colcon") or a[0].startswith("ros2_ws/"),
        "ROS 2: tests/ros runs the nodes, the launch files and the replay",
    ),
    (
        lambda a: "--annotations" in a or ("arctic" in a and "--root" in a),
        "needs the InterHand2.6M / ARCTIC files and MANO (not redistributable; fixtures: tests/data)",
    ),
    (lambda a: "--mano-dir" in a or _option(a, "--hand-model") == "mano", "needs the MANO model files"),
    (
        lambda a: command_key(a) == "evaluate objects" and "--floor" in a,
        "the reference and the floor must each hold more grasps of one object family than the object "
        "backbone has features, minutes of grasp synthesis even at the walk's sizes; "
        "tests/cli/test_cli_evaluate.py runs it on fixtures",
    ),
    (
        lambda a: _needs_cuda(a) and not (_has_cuda() and importlib.util.find_spec("tensorrt") is not None),
        "needs a CUDA device (and TensorRT for its backend)",
    ),
]

# ---------------------------------------------------------------------------------------------
# Reading the README.


@dataclass
class Step:
    line: int  # README line where the command starts
    language: str  # "bash" or "python"
    text: str  # the command (bash: one logical line) or the whole python block


def readme_steps(readme: Path = README) -> list[Step]:
    """Every fenced bash command line and python block, in document order."""
    steps: list[Step] = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w+)\s*", lines[i])
        if not fence:
            i += 1
            continue
        language, start = fence.group(1), i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = lines[start:end]
        if language == "python":
            steps.append(Step(start + 1, "python", "\n".join(body) + "\n"))
        elif language == "bash":
            logical, first = "", None
            for n, text in enumerate(body, start=start + 1):
                first = n if first is None else first
                if text.rstrip().endswith("\\"):
                    logical += text.rstrip()[:-1] + " "
                    continue
                logical += text
                if shlex.split(logical, comments=True):
                    steps.append(Step(first, "bash", logical.strip()))
                logical, first = "", None
        i = end + 1
    return steps


def command_key(argv: list[str]) -> str:
    """'interhandgen data synth --kind object ...' -> 'data synth object'; 'bench grasp', 'sample', ..."""
    words: list[str] = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    if words[:2] == ["data", "synth"]:
        words.append(_option(argv, "--kind") or "twohand")
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# The walk.


class Walk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.configs = root.parent / "walk_configs"
        self.configs.mkdir()
        self.cache = root.parent / "walk_cache"
        self.backbone: Path | None = None
        # PATH without the project's .venv/bin: `interhandgen` must be put there as the README says.
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p).resolve() != VENV_BIN.resolve()]
        self.env = {**os.environ, "PATH": os.pathsep.join(path), "INTERHANDGEN_CACHE": str(self.cache)}
        self.env.pop("VIRTUAL_ENV", None)
        # One thread per command: on a shared 2-core machine, torch's two threads per process
        # contend with everything else and take 2-6x longer; no result depends on it.
        self.env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.log: list[str] = []

    def report(self, line: str) -> None:
        print(line, flush=True)
        self.log.append(line)

    def activate(self) -> None:
        venv_bin = self.root / ".venv" / "bin"
        self.env["PATH"] = f"{venv_bin}{os.pathsep}{self.env['PATH']}"
        self.env["VIRTUAL_ENV"] = str(self.root / ".venv")

    def which(self, program: str) -> str | None:
        import shutil

        return shutil.which(program, path=self.env["PATH"])

    def run(self, argv: list[str], what: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        t0 = time.monotonic()
        done = subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
        seconds = time.monotonic() - t0
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            pytest.fail(f"{what} exited {done.returncode}:\n" + "\n".join(tail), pytrace=False)
        return seconds, done

    def tiny_recipe(self, config: str) -> Path:
        source = self.root / config
        recipe = yaml.safe_load(source.read_text(encoding="utf-8"))
        for key, (value, always, _) in RECIPE_SIZES.items():
            if key in recipe or (always and ("train_data" in recipe)):
                recipe[key] = value
        if "variants" in recipe:  # a protocol: the walk's backbone (WALK_BACKBONE_SIZES)
            recipe["backbone"] = str(self.walk_backbone())
        out = self.configs / config.replace("/", "__")
        out.write_text(yaml.safe_dump(recipe), encoding="utf-8")
        return out

    def walk_backbone(self) -> Path:
        if self.backbone is None:
            recipe = yaml.safe_load((REPO / "training/configs/backbone_twohand.yaml").read_text(encoding="utf-8"))
            recipe.update(WALK_BACKBONE_SIZES)
            config = self.configs / "walk_backbone.yaml"
            config.write_text(yaml.safe_dump(recipe), encoding="utf-8")
            out = self.root.parent / "walk_backbone"
            interhandgen = self.which("interhandgen")
            assert interhandgen is not None
            seconds, _ = self.run([interhandgen, "train", "--config", str(config), "--out", str(out)], "walk backbone")
            self.report(f"  set-up  {seconds:6.1f} s  the walk's 4-D feature backbone (WALK_BACKBONE_SIZES)")
            self.backbone = out / "backbone.safetensors"
            made = json.loads((out / "backbone.json").read_text(encoding="utf-8"))["backbone"]["head"][-1]
            assert made == WALK_BACKBONE_FEATURES, made
        return self.backbone

    def shrink(self, argv: list[str]) -> list[str]:
        """argv with the rewrite tables applied (interhandgen commands and torchrun)."""
        out = list(argv)
        key = command_key(out) if out[0] == "interhandgen" else "train"
        for i, word in enumerate(out[:-1]):
            if (key, word) in SIZE_OPTIONS:
                out[i + 1] = SIZE_OPTIONS[(key, word)][0]
            if word == "--config" and out[i + 1].startswith("training/configs/"):
                out[i + 1] = str(self.tiny_recipe(out[i + 1]))
        for option, value, _ in APPENDED_OPTIONS.get(key, []):
            if option not in out:
                out += [option, value]
        if key == "evaluate samples" and "--backbone" not in out:
            out += ["--backbone", str(self.walk_backbone())]
        return out

    def bash(self, step: Step) -> None:
        where = f"README:{step.line}"
        argv = shlex.split(step.text, comments=True)
        command = shlex.join(argv)
        if command == ACTIVATE:
            self.activate()
            found = self.which("interhandgen")
            assert found is not None and Path(found).resolve() == (VENV_BIN / "interhandgen").resolve(), found
            self.report(f"  ran     {0:6.1f} s  {where} {command}  (emulated: PATH starts with .venv/bin)")
            return
        for rule, reason in SKIP_RULES:
            if rule(argv):
                self.report(f"  skipped          {where} {command}  [{reason}]")
                return
        if argv[0] not in ("interhandgen", "torchrun"):
            pytest.fail(f"{where}: no rule for `{command}`; add one to SKIP_RULES or run it", pytrace=False)
        program = self.which(argv[0])
        if program is None:
            pytest.fail(
                f"{where}: `{argv[0]}` is not on the PATH at this point of the README "
                f"(it must say `{ACTIVATE}` before its first command)",
                pytrace=False,
            )
        shrunk = self.shrink(argv)
        seconds, _ = self.run([program, *shrunk[1:]], f"{where} `{command}` (run as: {shlex.join(shrunk)})")
        self.report(f"  ran     {seconds:6.1f} s  {where} {command}")

    def python(self, step: Step) -> None:
        where = f"README:{step.line} (python block)"
        if re.search(r"device\s*=\s*[\"']cuda", step.text) and not _has_cuda():
            self.report(f"  skipped          {where}  [needs a CUDA device]")
            return
        code = step.text
        for pattern, replace, _ in PYTHON_SIZES:
            code = re.sub(pattern, replace, code)
        python = self.which("python")
        if python is None or Path(python).parent.resolve() != VENV_BIN.resolve():
            pytest.fail(f"{where}: `python` is not the .venv's here; the README must activate it first", pytrace=False)
        t0 = time.monotonic()
        done = subprocess.run(
            [python, "-"], input=code, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
        if done.returncode != 0:
            pytest.fail(f"{where} exited {done.returncode}:\n{done.stderr.strip()[-3000:]}", pytrace=False)
        self.report(f"  ran     {time.monotonic() - t0:6.1f} s  {where}")


def _producers(steps: list[Step]) -> dict[str, tuple[int, int]]:
    """File -> (README line, rows as written) for the files `sample` and `data synth twohand` write."""
    made: dict[str, tuple[int, int]] = {}
    for step in steps:
        if step.language != "bash" or not step.text.startswith("interhandgen "):
            continue
        argv = shlex.split(step.text, comments=True)
        num, out = _option(argv, "--num"), _option(argv, "--out")
        if num is None or out is None:
            continue
        if command_key(argv) == "sample":
            made[str(Path(out) / "samples.npz")] = (step.line, int(num))
        elif command_key(argv) == "data synth twohand":
            made[str(Path(out))] = (step.line, int(num))
    return made


def test_sizes_as_written_give_fhid_enough_samples() -> None:
    """Each file that a README `evaluate samples` reads is made above it with more rows than features."""
    head = json.loads((REPO / "interhandgen_core/assets/feature_backbone_twohand.json").read_text())["backbone"]["head"]
    features = int(head[-1])
    steps = readme_steps()
    checked = 0
    for k, step in enumerate(steps):
        if step.language != "bash" or not step.text.startswith("interhandgen evaluate samples"):
            continue
        argv = shlex.split(step.text, comments=True)
        files = [_option(argv, "--reference")] + [
            argv[i + 1].partition("=")[2] for i, w in enumerate(argv[:-1]) if w == "--samples"
        ]
        made = _producers(steps[:k])
        for name in files:
            assert name in made, f"README:{step.line}: {name} is not made by any command above it"
            line, rows = made[name]
            assert rows > features, (
                f"README:{step.line} reads {name}, made at README:{line} with {rows} rows; "
                f"FHID of the shipped backbone's {features}-D features needs more than {features}"
            )
            checked += 1
    assert checked >= 2  # the README shows evaluate samples, with a reference and samples


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in (".git", "out", "runs") and not entry.name.endswith("_cache"):
            (root / entry.name).symlink_to(entry)
    steps = readme_steps()
    walk = Walk(root)
    t0 = time.monotonic()
    print(f"\nREADME walk in {root} (sizes: tests/test_readme_commands.py rewrite tables)")
    for step in steps:
        if step.language == "bash":
            walk.bash(step)
        elif step.language == "python":
            walk.python(step)
    ran = sum(line.startswith("  ran") for line in walk.log)
    skipped = sum(line.startswith("  skipped") for line in walk.log)
    print(f"README walk: {ran} ran, {skipped} skipped, {time.monotonic() - t0:.0f} s", flush=True)
    assert ran >= 25, "the walk ran fewer commands than the README shows; did the parser lose a block?"
