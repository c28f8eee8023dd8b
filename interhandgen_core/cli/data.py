"""`interhandgen data synth|merge|symmetrise|interhand|arctic|motion`: make or convert data sets.

    interhandgen data synth --kind twohand --num N --out FILE.npz [--seed S]
    interhandgen data merge SET.npz [SET.npz ...] --out FILE.npz [--kind object|twohand]
    interhandgen data symmetrise HANDS.npz --out FILE.npz [--num N]
    interhandgen data interhand --annotations DIR --mano-dir DIR --out DIR [--splits train,val]
    interhandgen data arctic --root DIR --mano-dir DIR --out DIR [--splits train,val]
    interhandgen data motion --sequences N --out DIR [--frames F] [--noise-mm 10] [--seed S]

Each writes the data set as hands files (or grasp sets), a .json summary and a _preview.png beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from interhandgen_core.cli.arguments import (
    add_converter_arguments,
    add_tracking_arguments,
    dataclass_default,
    non_negative_float,
    non_negative_int,
    parameter_default,
    positive_int,
    tracking_configs,
)
from interhandgen_core.cli.output_paths import check_output_folder, checked_output_file
from interhandgen_core.data import twohand_synth
from interhandgen_core.data.arctic import ARCTIC_SPLITS, ArcticConfig
from interhandgen_core.data.grasp_synth import OBJECTIVES, GraspSynthConfig
from interhandgen_core.data.interhand import INTERHAND_SPLITS
from interhandgen_core.data.tracking_sequences import make_tracking_sequences
from interhandgen_core.errors import ConfigError
from interhandgen_core.hands.hand_params import HandParams
from interhandgen_core.hands.layer import HandLayer
from interhandgen_core.hands.loading import load_hand_pair
from interhandgen_core.visualization.scene_previews import (
    pick_scenes,
    render_hand_scenes,
)

# Read when the parser is built: a test may swap TwoHandSynthConfig for a variant with smaller chunks.
_TWOHAND_ITERATIONS = dataclass_default(twohand_synth.TwoHandSynthConfig, "iterations")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = commands.add_parser(
        "data",
        help="make or convert data sets",
        description="Make or convert data sets: synthetic two-hand interactions and bimanual grasps, "
        "InterHand2.6M and ARCTIC conversions, and synthetic tracking sequences.",
    )
    data_commands = data.add_subparsers(dest="data_command", required=True)
    synth = data_commands.add_parser(
        "synth",
        help="synthesise two-hand interactions or bimanual grasps",
        description="Synthesise two interacting hands (--kind twohand) or bimanual grasps of procedural objects "
        "(--kind object); writes a hands file or grasp set with a .json summary and a _preview.png beside it.",
    )
    synth.add_argument(
        "--kind",
        default="twohand",
        choices=("twohand", "object"),
        help="twohand: two interacting hands; object: procedural objects held by two hands",
    )
    synth.add_argument("--num", type=positive_int, required=True, help="number of samples (--kind object: of objects)")
    synth.add_argument(
        "--grasps-per-object",
        type=positive_int,
        default=None,
        help=f"--kind object: grasps per object (default: {dataclass_default(GraspSynthConfig, 'grasps_per_object')})",
    )
    synth.add_argument("--out", required=True, help="output .npz (a .json summary and a _preview.png go beside it)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    synth.add_argument(
        "--iterations",
        type=non_negative_int,
        default=None,
        help=f"optimisation iterations per sample (default: {_TWOHAND_ITERATIONS}; "
        f"{dataclass_default(GraspSynthConfig, 'iterations')} for --kind object)",
    )
    synth.add_argument(
        "--objective",
        default="contact",
        choices=OBJECTIVES,
        help="--kind object: contact (touch, no penetration; today's training set) or force-closure (DexGraspNet/"
        "BimanGrasp energy over both hands' contacts, more object families, kept only when the physics validation "
        "holds in all six directions; training/README.md) (default: %(default)s)",
    )
    synth.add_argument(
        "--no-physics-filter",
        action="store_true",
        help="--objective force-closure: keep candidates that pass the geometric test without the physics validation",
    )
    _add_hand_model_arguments(synth, "the data")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=run_synth)

    inter = data_commands.add_parser(
        "interhand",
        help="convert InterHand2.6M's MANO annotations to two-hand hands files (paper 4.1)",
        description="Convert InterHand2.6M's MANO annotations to two-hand hands files (paper section 4.1), "
        "one per split, each with a .json summary and a _preview.png.",
    )
    inter.add_argument(
        "--annotations", required=True, help="InterHand2.6M annotation folder (holding train/, val/, test/)"
    )
    add_converter_arguments(inter, "interhand", "capture", INTERHAND_SPLITS)
    inter.add_argument(
        "--per-image", action="store_true", help="one row per interacting image (the paper's counts), not per frame"
    )
    inter.set_defaults(func=run_interhand)

    arc = data_commands.add_parser(
        "arctic",
        help="convert ARCTIC's sequences (protocol 1) to object-conditioned grasp sets (paper 4.2)",
        description="Convert ARCTIC's sequences (protocol 1) to object-conditioned grasp sets (paper section 4.2), "
        "one per split, each with a .json summary and a _preview.png.",
    )
    arc.add_argument("--root", required=True, help="ARCTIC's unpacked data folder (raw_seqs/, meta/, splits_json/)")
    add_converter_arguments(arc, "arctic", "sequence", ARCTIC_SPLITS)
    arc.add_argument(
        "--stride",
        type=positive_int,
        default=None,
        help=f"keep every N-th frame (default: {dataclass_default(ArcticConfig, 'stride')})",
    )
    arc.add_argument(
        "--articulation-step-deg",
        type=non_negative_float,
        default=None,
        help="object clouds are shared by frames whose articulation rounds alike "
        f"(default: {dataclass_default(ArcticConfig, 'articulation_step_deg'):g} degree)",
    )
    arc.add_argument(
        "--cloud-points",
        type=positive_int,
        default=None,
        help=f"points per object cloud (default: {dataclass_default(ArcticConfig, 'cloud_points')})",
    )
    arc.set_defaults(func=run_arctic)

    merge = data_commands.add_parser(
        "merge",
        help="merge grasp sets of procedural objects into one (shards of a long synthesis)",
        description="Merge grasp sets made by `data synth --kind object` (shards run with different seeds) into "
        "one training set; writes it with a .json summary (the shards' synthesis costs added up) and a _preview.png.",
    )
    merge.add_argument(
        "inputs", nargs="+", help="grasp sets or two-hand sets (.npz), each with its .json summary beside it if any"
    )
    merge.add_argument(
        "--kind",
        default="object",
        choices=("object", "twohand"),
        help="object: grasp sets of `data synth --kind object`; twohand: two-hand sets of `data synth --kind "
        "twohand` (default: %(default)s)",
    )
    merge.add_argument("--out", required=True, help="output .npz (a .json summary and a _preview.png go beside it)")
    merge.set_defaults(func=run_merge)

    symmetrise = data_commands.add_parser(
        "symmetrise",
        help="a two-hand set with every other scene replaced by its left-right swapped view",
        description="Write the first N scenes of a two-hand hands file with every other one replaced by its "
        "left-right swapped view (the mirrored scene, hands' roles swapped): a sample of the symmetrised "
        "distribution that training on both views (scene_views: both, Algorithm 1) teaches the prior; scored "
        "like samples, it shows what that costs on data whose hands play different roles.",
    )
    symmetrise.add_argument("hands", help="two-hand hands file (.npz) with both hands' parameters")
    symmetrise.add_argument("--out", required=True, help="output .npz")
    symmetrise.add_argument("--num", type=positive_int, default=None, help="first N scenes (default: all)")
    _add_hand_model_arguments(symmetrise, "the keypoints written")
    symmetrise.set_defaults(func=run_symmetrise)

    motion = data_commands.add_parser(
        "motion",
        help="synthetic two-hand motion with a noisy keypoint tracker's report (tracking benchmark data)",
        description="Make synthetic two-hand motion and a noisy keypoint tracker's report of it, the data of the "
        "tracking benchmark: per sequence, a hands file of the truth and one of what the tracker saw.",
    )
    motion.add_argument("--sequences", type=positive_int, required=True, help="number of sequences")
    motion.add_argument(
        "--keyframes",
        type=positive_int,
        default=None,
        help="interactions the motion moves between "
        f"(default: {parameter_default(make_tracking_sequences, 'keyframes')})",
    )
    add_tracking_arguments(motion, min_frames=2)
    motion.add_argument("--out", required=True, help="output folder")
    motion.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    _add_hand_model_arguments(motion, "the data")
    motion.set_defaults(func=run_motion)


def _add_hand_model_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--hand-model and --mano-dir: the hand model of ``what`` the command writes."""
    parser.add_argument(
        "--hand-model",
        default="procedural",
        choices=("procedural", "mano"),
        help=f"hand model of {what} (default: %(default)s; mano needs --mano-dir)",
    )
    parser.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl")


def _hand_layers(hand_model: str, mano_dir: str | None) -> tuple[HandLayer, HandLayer]:
    """The (left, right) hand layers of ``hand_model`` ("procedural", or "mano" read from ``mano_dir``)."""
    right, left = load_hand_pair(hand_model, mano_dir)
    return HandLayer(left), HandLayer(right)


def _write_scene_set(
    path: Path, left_layer: HandLayer, right_layer: HandLayer, left: HandParams, right: HandParams
) -> None:
    """Two-hand scenes (HandParams, N each) -> a data set's hands file at ``path``: parameters and keypoints.

    Meshes are derived data (~4 MB per 1,000 scenes): the hand layer recomputes them from the parameters.
    """
    from interhandgen_core.io.hands_file import hands_file_from_params, write_hands_file

    write_hands_file(path, hands_file_from_params(left_layer, right_layer, left, right, meshes=False))


def _synth_setup(args: argparse.Namespace) -> tuple[Path, HandLayer, HandLayer]:
    """data synth: the checked .npz output path and the (right, left) hand layers, before any work."""
    out = checked_output_file(args.out, ".npz", "--out")
    left_layer, right_layer = _hand_layers(args.hand_model, args.mano_dir)
    return out, right_layer, left_layer


def run_synth(args: argparse.Namespace) -> None:
    if args.kind == "object":
        _run_synth_object(args)
        return
    out, right_layer, left_layer = _synth_setup(args)
    overrides = {} if args.iterations is None else {"iterations": args.iterations}
    config = twohand_synth.TwoHandSynthConfig(num=args.num, seed=args.seed, **overrides)
    result = twohand_synth.TwoHandSynthesizer(right_layer, left_layer).generate(config, progress=not args.quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_scene_set(out, left_layer, right_layer, result.left, result.right)

    summary = result.summary(config, args.hand_model)
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2))
    preview = out.with_name(out.stem + "_preview.png")
    pick = pick_scenes(args.num, args.seed)
    titles = [f"{twohand_synth.INTERACTION_KINDS[int(result.kind[i])]} (sample {int(i)})" for i in pick]
    render_hand_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles)
    print(result.statistics().summary())
    print(f"accepted {args.num} of {result.attempts} attempts; kinds: {summary['kinds']}")
    print(f"wrote {out}, {summary_path}, {preview}")


def _run_synth_object(args: argparse.Namespace) -> None:
    from interhandgen_core.contact.grasp_measures import grasp_statistics
    from interhandgen_core.data.grasp_synth import GRASP_KINDS, GraspSynthesizer, holding_config
    from interhandgen_core.data.procedural_objects import (
        ALL_FAMILIES,
        HELD_OUT_SEED,
        OBJECT_FAMILIES,
        generate_objects,
    )

    holding = args.objective == "force-closure"
    if holding and args.seed == HELD_OUT_SEED:
        raise ConfigError(
            f"--seed {HELD_OUT_SEED} makes the held-out evaluation objects; a force-closure training set "
            "must use another seed"
        )
    out, right_layer, left_layer = _synth_setup(args)
    overrides: dict[str, Any] = {} if args.iterations is None else {"iterations": args.iterations}
    if args.grasps_per_object is not None:
        overrides["grasps_per_object"] = args.grasps_per_object
    if holding:
        config = holding_config(args.seed, physics_filter=not args.no_physics_filter, **overrides)
    else:
        config = GraspSynthConfig(seed=args.seed, **overrides)
    objects = generate_objects(args.num, seed=args.seed, families=ALL_FAMILIES if holding else OBJECT_FAMILIES)
    result = GraspSynthesizer(right_layer, left_layer).generate(objects, config, progress=not args.quiet)
    stats = grasp_statistics(result.measure(left_layer, right_layer))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(out)

    summary = result.summary(config, stats, args.hand_model)
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2))
    preview = out.with_name(out.stem + "_preview.png")
    pick = pick_scenes(len(result), args.seed)
    titles = [f"{GRASP_KINDS[int(result.kind[i])]} (grasp {int(i)})" for i in pick]
    clouds = result.object_points[result.object_index[pick]]
    render_hand_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles, clouds)
    print(stats.summary())
    print(f"{len(result)} grasps of {args.num} objects from {result.attempts} candidates; kinds: {summary['kinds']}")
    if "held_in_physics" in result.synthesis:
        s = result.synthesis
        print(
            f"physics: {int(s['held_in_physics'])} of {int(s['candidates'])} candidates held in all six directions "
            f"({100 * s['physics_success_of_candidates']:.1f}%; {100 * s['physics_success_of_geometric']:.1f}% of the "
            f"{int(s['passed_geometric_test'])} that passed the geometric test), {s['physics_seconds']:.0f} s of physics"
        )
    print(f"wrote {out}, {summary_path}, {preview}")


def run_symmetrise(args: argparse.Namespace) -> None:
    from interhandgen_core.data.dataset import load_twohand_params
    from interhandgen_core.prior.representation import symmetrised_scenes

    out = checked_output_file(args.out, ".npz", "--out")
    left, right = load_twohand_params(args.hands)
    if args.num is not None:
        if args.num > left.batch_size:
            raise ConfigError(f"--num {args.num}: {args.hands} holds {left.batch_size} scenes")
        left, right = left.select(slice(0, args.num)), right.select(slice(0, args.num))
    left_layer, right_layer = _hand_layers(args.hand_model, args.mano_dir)
    left, right = symmetrised_scenes(left, right)
    _write_scene_set(out, left_layer, right_layer, left, right)
    print(f"wrote {out}: {left.batch_size} scenes, {left.batch_size // 2} of them swapped")


def run_merge(args: argparse.Namespace) -> None:
    from interhandgen_core.contact.grasp_measures import grasp_statistics
    from interhandgen_core.data.grasp_synth import GraspSet, GraspSynthConfig

    out = checked_output_file(args.out, ".npz", "--out")
    if args.kind == "twohand":
        _merge_twohand(args.inputs, out)
        return
    sets, models, seeds = [], set(), []
    for name in args.inputs:  # every input is read before any work
        grasps = GraspSet.load(name)
        summary_path = Path(name).with_suffix(".json")
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            grasps.synthesis = dict(summary.get("synthesis", {}))
            models.add(summary.get("hand_model", "procedural"))
            seeds.append(summary.get("seed"))
        sets.append(grasps)
    if len(models) > 1:
        raise ConfigError(f"the grasp sets were made with different hand models {sorted(models)}; merge one model's")
    hand_model = models.pop() if models else "procedural"
    left_layer, right_layer = _hand_layers(hand_model, None)
    merged = GraspSet.cat(sets)
    stats = grasp_statistics(merged.measure(left_layer, right_layer))
    merged.save(out)
    summary = merged.summary(GraspSynthConfig(seed=0), stats, hand_model)
    summary["seed"] = seeds or None
    summary["merged_from"] = [str(Path(n)) for n in args.inputs]
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2))
    preview = out.with_name(out.stem + "_preview.png")
    pick = pick_scenes(len(merged), 0)
    titles = [f"{merged.kind_names[int(merged.kind[i])]} (grasp {int(i)})" for i in pick]
    clouds = merged.object_points[merged.object_index[pick]]
    render_hand_scenes(preview, (left_layer, right_layer), (merged.left, merged.right), pick, titles, clouds)
    print(stats.summary())
    print(f"{len(merged)} grasps of {len(merged.objects)} objects from {len(sets)} sets")
    print(f"wrote {out}, {summary_path}, {preview}")


def _merge_twohand(inputs: list[str], out: Path) -> None:
    """data merge --kind twohand: the scenes of every input, in order, and a .json summary that adds up theirs."""
    from interhandgen_core.data.dataset import load_twohand_params

    lefts, rights, summaries = [], [], []
    for name in inputs:  # every input is read before any work
        left, right = load_twohand_params(name)
        lefts.append(left)
        rights.append(right)
        summary_path = Path(name).with_suffix(".json")
        summaries.append(json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {})
    models = {summary.get("hand_model", "procedural") for summary in summaries}
    if len(models) > 1:
        raise ConfigError(f"the two-hand sets were made with different hand models {sorted(models)}; merge one model's")
    hand_model = models.pop()
    left, right = HandParams.cat(lefts), HandParams.cat(rights)
    _write_scene_set(out, *_hand_layers(hand_model, None), left, right)
    kinds: dict[str, int] = {}
    for summary in summaries:
        for kind, count in summary.get("kinds", {}).items():
            kinds[kind] = kinds.get(kind, 0) + int(count)
    merged = {
        "num": left.batch_size,
        "seed": [summary.get("seed") for summary in summaries],
        "attempts": sum(int(summary.get("attempts", 0)) for summary in summaries) or None,
        "kinds": kinds or None,
        "hand_model": hand_model,
        "merged_from": [str(Path(name)) for name in inputs],
    }
    out.with_suffix(".json").write_text(json.dumps(merged, indent=2))
    print(f"{left.batch_size} scenes from {len(inputs)} sets")
    print(f"wrote {out}, {out.with_suffix('.json')}")


def _converter_layers(args: argparse.Namespace) -> tuple[HandLayer, HandLayer]:
    """data interhand / arctic: the (left, right) MANO layers; the datasets are MANO fits, so MANO is required."""
    return _hand_layers("mano", args.mano_dir)


def run_interhand(args: argparse.Namespace) -> None:
    from interhandgen_core.data.interhand import convert_interhand_split, interhand_files

    annotations, out = Path(args.annotations), Path(args.out)
    splits = args.splits or list(INTERHAND_SPLITS)
    for split in splits:  # every input is checked before any work
        interhand_files(annotations, split)
    check_output_folder(out, "--out")
    left_layer, right_layer = _converter_layers(args)
    out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        work = out / f".interhand_{split}_parts"
        result = convert_interhand_split(
            annotations, split, left_layer, right_layer, work, per_image=args.per_image, progress=not args.quiet
        )
        path = out / f"interhand_{split}.npz"
        _write_scene_set(path, left_layer, right_layer, result.left, result.right)
        frames_path = out / f"interhand_{split}_frames.npz"
        np.savez_compressed(frames_path, capture=result.capture, frame=result.frame, num_images=result.num_images)
        summary = result.summary(split, args.per_image, args.mano_dir)
        rows = summary["scenes"]
        summary_path = out / f"interhand_{split}.json"
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        preview = out / f"interhand_{split}_preview.png"
        pick = pick_scenes(rows, seed=0)
        titles = [f"capture {result.capture[i]} frame {result.frame[i]}" for i in pick.tolist()]
        render_hand_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles)
        work_note = "" if args.keep_parts else "; removed the finished parts"
        if not args.keep_parts:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{split}: {rows} scenes from {result.annotations} annotations; {result.skips.summary()}")
        print(f"wrote {path}, {frames_path}, {summary_path}, {preview}{work_note}")


def run_arctic(args: argparse.Namespace) -> None:
    from interhandgen_core.data.arctic import ARCTIC_ACTIONS, EmptySplitError, convert_arctic_split, read_split_file
    from interhandgen_core.data.grasp_synth import GraspSet

    root, out = Path(args.root), Path(args.out)
    overrides = {
        name: getattr(args, name)
        for name in ("articulation_step_deg", "cloud_points", "stride")
        if getattr(args, name) is not None
    }
    config = ArcticConfig(**overrides)
    listed = read_split_file(root)  # the layout is checked before any work
    check_output_folder(out, "--out")
    left_layer, right_layer = _converter_layers(args)
    out.mkdir(parents=True, exist_ok=True)
    for split in args.splits or list(ARCTIC_SPLITS):
        if not listed.get(split):
            print(f"{split}: the split file lists no sequences; nothing written")
            continue
        work = out / f".arctic_{split}_parts"
        try:
            result = convert_arctic_split(root, split, left_layer, right_layer, work, config, progress=not args.quiet)
        except EmptySplitError as exc:  # protocol 1's test subject is withheld by ARCTIC
            print(f"{split}: nothing written: {exc}")
            continue
        grasps = GraspSet.from_converted(result, ARCTIC_ACTIONS)
        n = len(grasps)
        path = out / f"arctic_{split}.npz"
        grasps.save(path)
        frames_path = out / f"arctic_{split}_frames.npz"
        np.savez_compressed(frames_path, sequence=result.sequence, frame=result.frame, articulation=result.articulation)
        summary = result.summary(split, config, args.mano_dir)
        summary_path = out / f"arctic_{split}.json"
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        preview = out / f"arctic_{split}_preview.png"
        pick = pick_scenes(n, seed=0)
        titles = [f"{result.sequence[i]} frame {result.frame[i]}" for i in pick.tolist()]
        clouds = result.points[result.object_index[pick]]
        render_hand_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles, clouds)
        if not args.keep_parts:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"{split}: {n} scenes from {summary['sequences_converted']} of {result.sequences} sequences, "
            f"{summary['object_instances']} object clouds; {result.skips.summary()}"
        )
        print(f"wrote {path}, {frames_path}, {summary_path}, {preview}")


def run_motion(args: argparse.Namespace) -> None:
    from interhandgen_core.data.tracking_sequences import write_tracking_sequences

    out = Path(args.out)
    check_output_folder(out, "--out")
    left_layer, right_layer = _hand_layers(args.hand_model, args.mano_dir)
    motion, noise = tracking_configs(args)
    keyframes = {} if args.keyframes is None else {"keyframes": args.keyframes}
    sequences = make_tracking_sequences(
        right_layer, left_layer, args.sequences, motion, noise, seed=args.seed, progress=True, **keyframes
    )
    out.mkdir(parents=True, exist_ok=True)
    written = write_tracking_sequences(out, sequences, right_layer, left_layer)
    print(f"wrote {len(written)} sequences of {motion.frames} frames to {out} (truth_NNN.npz, observed_NNN.npz)")
