"""`interhandgen`: the command line of the library.

    interhandgen data synth --kind twohand --num N --out FILE.npz [--seed S]
    interhandgen train --config training/configs/NAME.yaml --out RUN_DIR [--resume]
    interhandgen sample --num N --out DIR [--checkpoint PATH] [--seed S] [--steps K] [--cfg W] [--pen-weight W]
    interhandgen data motion --sequences N --out DIR [--frames F] [--noise-mm 10] [--seed S]
    interhandgen evaluate protocol --config training/configs/protocol_twohand.yaml --out DIR [--num N] [--repeat K]
    interhandgen evaluate samples --reference FILE.npz --samples NAME=FILE.npz [...] --out DIR
    interhandgen evaluate objects --reference GRASPS.npz [--floor GRASPS.npz] --out DIR
    interhandgen refine --input FILE.npz --out FILE.npz [--checkpoint PATH] [--independent]
    interhandgen bench [cascade|denoiser|grasp|refine] [--backends torch,onnxruntime,cuda-graph,tensorrt]
                       [--device cpu|cuda] [--batches 1,16,64] [--preset small|paper] [--json FILE]
    interhandgen export --onnx FILE [--checkpoint PATH] [--encoder-onnx FILE] [--engine FILE --precision fp16]

``--backend NAME[:PRECISION]`` (sample, grasp, refine) picks the denoiser's runtime
(runtime/backend.py): torch, cuda-graph, onnxruntime or tensorrt; e.g. ``cuda-graph:bf16``.

Errors that a user can fix print one line (``interhandgen: error: ...``) and exit 1; bad
arguments print the usage and exit 2. Each command writes only under the path it is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interhandgen_core.errors import InterHandGenError

if TYPE_CHECKING:  # the CLI imports torch-heavy modules only when a command runs
    from interhandgen_core.hands.hand_params import HandParams
    from interhandgen_core.hands.layer import HandLayer


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _split_list(text: str) -> list[str]:
    splits = [part.strip() for part in text.split(",") if part.strip()]
    if not splits or len(set(splits)) != len(splits):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated split names, got {text!r}")
    return splits


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers >= 1, got {text!r}")
    return values


def _backend_spec(text: str) -> str:
    """An argparse type: NAME or NAME:PRECISION, checked against BackendConfig now rather than after loading."""
    from interhandgen_core.runtime.configuration import BackendConfig

    try:
        return BackendConfig.parse(text).spec
    except InterHandGenError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _backend_list(text: str) -> list[str]:
    specs = [part for part in text.split(",") if part]
    if not specs:
        raise argparse.ArgumentTypeError(f"expected comma-separated backends, got {text!r}")
    return [_backend_spec(spec) for spec in specs]


def _add_backend_arguments(parser: argparse.ArgumentParser, many: bool = False) -> None:
    """--backend (or bench's --backends) and --cache-dir; defaults are BackendConfig's."""
    if many:
        parser.add_argument(
            "--backends",
            type=_backend_list,
            default=None,
            help="comma-separated NAME[:PRECISION] (torch, cuda-graph, onnxruntime, tensorrt; fp32, fp16, bf16); "
            "default: torch,onnxruntime on the CPU, torch,cuda-graph on CUDA",
        )
    else:
        parser.add_argument(
            "--backend",
            type=_backend_spec,
            default=None,
            help="denoiser runtime NAME[:PRECISION]: torch (default), cuda-graph, onnxruntime, tensorrt",
        )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="exported ONNX files and TensorRT engines (default $INTERHANDGEN_CACHE or ~/.cache/interhandgen)",
    )


def _backend_config(args: argparse.Namespace) -> Any:
    from interhandgen_core.runtime.configuration import BackendConfig

    if args.backend is None and args.cache_dir is None:
        return None
    return BackendConfig.parse(args.backend or BackendConfig().spec, cache_dir=args.cache_dir)


def _check_output_folder(folder: Path, option: str) -> None:
    """Fail before any work when ``folder`` cannot be made a directory because a file is in the way."""
    for part in (folder, *folder.parents):  # the nearest existing ancestor decides
        if part.exists():
            if not part.is_dir():
                raise InterHandGenError(f"{option}: {part} is a file, not a folder")
            return


def _synth_setup(args: argparse.Namespace) -> tuple[Path, HandLayer, HandLayer]:
    """data synth: the checked .npz output path and the (right, left) hand layers, before any work."""
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    out = Path(args.out)
    if out.suffix != ".npz":
        raise InterHandGenError(f"--out must name a .npz file, got {out}")
    _check_output_folder(out.parent, "--out")
    right, left = load_hand_pair(args.hand_model, args.mano_dir)
    return out, HandLayer(right), HandLayer(left)


def _render_scenes(
    path: Path,
    layers: tuple[HandLayer, HandLayer],
    scenes: tuple[HandParams, HandParams],
    pick: Any,
    titles: list[str],
    object_points: Any = None,
) -> None:
    """A PNG grid of the picked (left, right) scenes: only their meshes are computed."""
    from interhandgen_core.evaluation.feature_backbone import hand_vertices
    from interhandgen_core.visualization.preview import render_twohand_grid

    (left_layer, right_layer), (left, right) = layers, scenes
    render_twohand_grid(
        path,
        hand_vertices(left_layer, left.select(pick)).numpy(),
        left_layer.faces.numpy(),
        hand_vertices(right_layer, right.select(pick)).numpy(),
        right_layer.faces.numpy(),
        titles=titles,
        object_points=object_points,
    )


def _cmd_data_synth(args: argparse.Namespace) -> None:
    import torch

    from interhandgen_core.contact.interaction import interaction_statistics
    from interhandgen_core.data.twohand_synth import INTERACTION_KINDS, TwoHandSynthConfig, TwoHandSynthesizer
    from interhandgen_core.io.hands_file import hands_file_from_params, write_hands_file

    if args.kind == "object":
        _synth_object_grasps(args)
        return
    out, right_layer, left_layer = _synth_setup(args)
    overrides = {} if args.iterations is None else {"iterations": args.iterations}
    config = TwoHandSynthConfig(num=args.num, seed=args.seed, **overrides)
    result = TwoHandSynthesizer(right_layer, left_layer).generate(config, progress=not args.quiet)
    stats = interaction_statistics(result.penetration_depth, result.minimum_distance)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Vertices are derived data (~4 MB per 1,000 samples): the training set keeps parameters
    # and keypoints, from which the hand layer recomputes meshes.
    write_hands_file(out, hands_file_from_params(left_layer, right_layer, result.left, result.right, meshes=False))

    counts = torch.bincount(result.kind, minlength=len(INTERACTION_KINDS)).tolist()
    summary = {
        "num": args.num,
        "seed": args.seed,
        "attempts": result.attempts,
        "acceptance_ratio": args.num / result.attempts,
        "kinds": dict(zip(INTERACTION_KINDS, counts, strict=True)),
        "statistics": stats.as_dict(),
        "hand_model": args.hand_model,
    }
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2))
    preview = out.with_name(out.stem + "_preview.png")
    pick = torch.randperm(args.num, generator=torch.Generator().manual_seed(args.seed))[:16]
    titles = [f"{INTERACTION_KINDS[int(result.kind[i])]} (sample {int(i)})" for i in pick]
    _render_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles)
    print(stats.summary())
    print(f"accepted {args.num} of {result.attempts} attempts; kinds: {summary['kinds']}")
    print(f"wrote {out}, {summary_path}, {preview}")


def _synth_object_grasps(args: argparse.Namespace) -> None:
    import torch

    from interhandgen_core.contact.grasp_measures import grasp_statistics, measure_grasps
    from interhandgen_core.data.grasp_synth import GRASP_KINDS, GraspSynthConfig, GraspSynthesizer
    from interhandgen_core.data.procedural_objects import OBJECT_FAMILIES, generate_objects
    from interhandgen_core.visualization.preview import render_twohand_grid

    out, right_layer, left_layer = _synth_setup(args)
    overrides: dict[str, Any] = {} if args.iterations is None else {"iterations": args.iterations}
    if args.grasps_per_object is not None:
        overrides["grasps_per_object"] = args.grasps_per_object
    config = GraspSynthConfig(seed=args.seed, **overrides)
    objects = generate_objects(args.num, seed=args.seed)
    result = GraspSynthesizer(right_layer, left_layer).generate(objects, config, progress=not args.quiet)
    with torch.no_grad():
        lv = left_layer(result.left).vertices
        rv = right_layer(result.right).vertices
    figures = measure_grasps(
        lv,
        left_layer.faces,
        rv,
        right_layer.faces,
        lambda p, rows: objects.signed_distance(p, result.object_index[rows]),
    )
    stats = grasp_statistics(figures)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(out)

    summary = {
        "objects": args.num,
        "grasps": len(result),
        "seed": args.seed,
        "attempts": result.attempts,
        "acceptance_ratio": len(result) / max(result.attempts, 1),
        "kinds": dict(zip(GRASP_KINDS, torch.bincount(result.kind, minlength=len(GRASP_KINDS)).tolist(), strict=True)),
        "families": dict(
            zip(OBJECT_FAMILIES, torch.bincount(objects.family, minlength=len(OBJECT_FAMILIES)).tolist(), strict=True)
        ),
        "statistics": stats.as_dict(),
        "hand_model": args.hand_model,
    }
    summary_path = out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=2))
    preview = out.with_name(out.stem + "_preview.png")
    pick = torch.randperm(len(result), generator=torch.Generator().manual_seed(args.seed))[:16]
    titles = [f"{GRASP_KINDS[int(result.kind[i])]} (grasp {int(i)})" for i in pick]
    render_twohand_grid(
        preview,
        lv[pick].numpy(),
        left_layer.faces.numpy(),
        rv[pick].numpy(),
        right_layer.faces.numpy(),
        titles=titles,
        object_points=result.object_points[result.object_index[pick]][:, ::2].numpy(),
    )
    print(stats.summary())
    print(f"{len(result)} grasps of {args.num} objects from {result.attempts} candidates; kinds: {summary['kinds']}")
    print(f"wrote {out}, {summary_path}, {preview}")


def _converter_layers(args: argparse.Namespace) -> tuple[HandLayer, HandLayer]:
    """data interhand / arctic: the (left, right) MANO layers; the datasets are MANO fits, so MANO is required."""
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    right, left = load_hand_pair("mano", args.mano_dir)
    return HandLayer(left), HandLayer(right)


def _cmd_data_interhand(args: argparse.Namespace) -> None:
    import torch

    from interhandgen_core.data.interhand import INTERHAND_SPLITS, convert_interhand_split, interhand_files
    from interhandgen_core.io.hands_file import hands_file_from_params, write_hands_file

    annotations, out = Path(args.annotations), Path(args.out)
    splits = args.splits or list(INTERHAND_SPLITS)
    for split in splits:  # every input is checked before any work
        interhand_files(annotations, split)
    _check_output_folder(out, "--out")
    left_layer, right_layer = _converter_layers(args)
    out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        work = out / f".interhand_{split}_parts"
        result = convert_interhand_split(
            annotations, split, left_layer, right_layer, work, per_image=args.per_image, progress=not args.quiet
        )
        path = out / f"interhand_{split}.npz"
        # Meshes are derived data; parameters and keypoints are kept, as data synth does.
        write_hands_file(path, hands_file_from_params(left_layer, right_layer, result.left, result.right, meshes=False))
        frames_path = out / f"interhand_{split}_frames.npz"
        np.savez_compressed(frames_path, capture=result.capture, frame=result.frame, num_images=result.num_images)
        rows = len(result.capture)
        summary = {
            "split": split,
            "annotations_read": result.annotations,
            "scenes": rows,
            "frames": len(np.unique(np.stack([result.capture, result.frame]), axis=1).T),
            "per_image": args.per_image,
            "skipped": result.skips.as_dict(),
            "hand_model": f"mano ({args.mano_dir})",
            "frame": "left hand canonical (identity rotation, wrist at the origin)",
        }
        (out / f"interhand_{split}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        preview = out / f"interhand_{split}_preview.png"
        pick = torch.randperm(rows, generator=torch.Generator().manual_seed(0))[:16]
        titles = [f"capture {result.capture[i]} frame {result.frame[i]}" for i in pick.tolist()]
        _render_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles)
        work_note = "" if args.keep_parts else "; removed the finished parts"
        if not args.keep_parts:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{split}: {rows} scenes from {result.annotations} annotations; {result.skips.summary()}")
        print(f"wrote {path}, {frames_path}, {out / f'interhand_{split}.json'}, {preview}{work_note}")


def _cmd_data_arctic(args: argparse.Namespace) -> None:
    import torch

    from interhandgen_core.data.arctic import (
        ARCTIC_ACTIONS,
        ARCTIC_SPLITS,
        ArcticConfig,
        EmptySplitError,
        convert_arctic_split,
        read_split_file,
        split_summary,
    )
    from interhandgen_core.data.grasp_synth import GraspSet

    root, out = Path(args.root), Path(args.out)
    overrides = {
        name: getattr(args, name)
        for name in ("articulation_step_deg", "cloud_points", "stride")
        if getattr(args, name) is not None
    }
    config = ArcticConfig(**overrides)
    listed = read_split_file(root)  # the layout is checked before any work
    _check_output_folder(out, "--out")
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
        n = int(result.object_index.shape[0])
        not_measured = torch.full((n,), float("nan"))  # penetration is the synthetic generator's acceptance figure
        grasps = GraspSet(
            result.objects,
            result.points,
            result.normals,
            result.object_index,
            result.left,
            result.right,
            result.kind,
            not_measured,
            not_measured,
            n,
            kind_names=ARCTIC_ACTIONS,
        )
        path = out / f"arctic_{split}.npz"
        grasps.save(path)
        frames_path = out / f"arctic_{split}_frames.npz"
        np.savez_compressed(frames_path, sequence=result.sequence, frame=result.frame, articulation=result.articulation)
        summary = {"split": split, **split_summary(result), "config": dataclasses.asdict(config)}
        summary["hand_model"] = f"mano ({args.mano_dir})"
        summary["frame"] = "object frame: template axes, origin at the object cloud's centroid"
        (out / f"arctic_{split}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        preview = out / f"arctic_{split}_preview.png"
        pick = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:16]
        titles = [f"{result.sequence[i]} frame {result.frame[i]}" for i in pick.tolist()]
        cloud = result.points[result.object_index[pick]][:, ::2].numpy()
        _render_scenes(preview, (left_layer, right_layer), (result.left, result.right), pick, titles, cloud)
        if not args.keep_parts:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"{split}: {n} scenes from {summary['sequences_converted']} of {result.sequences} sequences, "
            f"{summary['object_instances']} object clouds; {result.skips.summary()}"
        )
        print(f"wrote {path}, {frames_path}, {out / f'arctic_{split}.json'}, {preview}")


def _recipe_kind(path: str) -> str:
    """'prior', 'vae' or 'backbone': what a training recipe trains (its top-level 'vae' or 'backbone' key)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InterHandGenError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise InterHandGenError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "vae" in data:
        return "vae"
    if isinstance(data, dict) and "backbone" in data:
        return "backbone"
    return "prior"


def _cmd_train(args: argparse.Namespace) -> None:
    kind = _recipe_kind(args.config)
    if kind == "vae":
        from interhandgen_core.training.vae import VaeTrainConfig, train_vae

        if args.resume:
            raise InterHandGenError("--resume: VAE runs are short and are not resumable; start a new run")
        print(f"wrote {train_vae(VaeTrainConfig.from_yaml(args.config), Path(args.out))}")
        return
    if kind == "backbone":
        from interhandgen_core.evaluation.backbone_training import train_backbone
        from interhandgen_core.evaluation.configuration import BackboneTrainConfig
        from interhandgen_core.hands.layer import HandLayer
        from interhandgen_core.hands.loading import load_hand_pair

        if args.resume:
            raise InterHandGenError("--resume: feature backbone runs are not resumable; start a new run")
        right, left = load_hand_pair("procedural", None)
        path = train_backbone(
            BackboneTrainConfig.from_yaml(args.config), Path(args.out), HandLayer(right), HandLayer(left)
        )
        print(f"wrote {path}")
        print(json.dumps(json.loads(path.with_suffix(".json").read_text())["held_out_error"]))
        return
    from interhandgen_core.prior.configuration import TrainConfig
    from interhandgen_core.training.loop import train

    config = TrainConfig.from_yaml(args.config)
    model_path = train(config, Path(args.out), resume=args.resume)
    print(f"wrote {model_path}")


def _cmd_sample(args: argparse.Namespace) -> None:
    from interhandgen_core.contact.interaction import interaction_statistics, measure_interaction
    from interhandgen_core.io.hands_file import write_hands_file
    from interhandgen_core.io.meshes import write_twohand_ply
    from interhandgen_core.pipelines.interhandgen import InterHandGen
    from interhandgen_core.visualization.preview import render_twohand_grid

    out = Path(args.out)
    _check_output_folder(out, "--out")
    model = InterHandGen.from_pretrained(
        args.checkpoint, device=args.device, mano_dir=args.mano_dir, backend=_backend_config(args)
    )
    samples = model.sample(
        args.num, seed=args.seed, ddim_steps=args.steps, cfg_weight=args.cfg, penetration_weight=args.pen_weight
    )
    out.mkdir(parents=True, exist_ok=True)
    hands = model.to_hands_file(samples)
    write_hands_file(out / "samples.npz", hands)
    lv, rv = samples.left_vertices.cpu().numpy(), samples.right_vertices.cpu().numpy()
    lf, rf = samples.left_faces.cpu().numpy(), samples.right_faces.cpu().numpy()
    for i in range(args.num):  # one file per sample
        write_twohand_ply(out / f"sample_{i:04d}.ply", lv[i], lf, rv[i], rf)
    depth, gap = measure_interaction(
        samples.left_vertices, samples.left_faces, samples.right_vertices, samples.right_faces
    )
    stats = interaction_statistics(depth, gap)
    shown = min(args.num, 16)
    titles = [f"penetration {1000 * float(depth[i]):.1f} mm" for i in range(shown)]
    render_twohand_grid(out / "preview.png", lv[:shown], lf, rv[:shown], rf, titles=titles)
    (out / "statistics.json").write_text(json.dumps(stats.as_dict(), indent=2))
    print(stats.summary())
    print(f"wrote {out / 'samples.npz'}, {args.num} PLY files and {out / 'preview.png'}")


def _float_triple(text: str) -> tuple[float, float, float]:
    """'x,y,z' -> (x, y, z) metres."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers x,y,z (metres), got {text!r}")
    return values[0], values[1], values[2]


def _write_grasp_outputs(out: Path, model: Any, grasps: Any, shown: int) -> None:
    """grasps.npz, object.ply, one PLY per grasp (object cloud as grey points) and preview.png."""
    from interhandgen_core.io.hands_file import write_hands_file
    from interhandgen_core.io.meshes import write_ply, write_twohand_ply
    from interhandgen_core.visualization.preview import render_grasp_sheet

    out.mkdir(parents=True, exist_ok=True)
    write_hands_file(out / "grasps.npz", model.to_hands_file(grasps))
    lv, rv = grasps.left_vertices.cpu().numpy(), grasps.right_vertices.cpu().numpy()
    lf, rf = grasps.left_faces.cpu().numpy(), grasps.right_faces.cpu().numpy()
    points = grasps.object_points.cpu().numpy()
    write_ply(out / "object.ply", points, np.zeros((0, 3), dtype=np.int64))
    for i in range(len(lv)):  # one file per grasp
        write_twohand_ply(out / f"grasp_{i:04d}.ply", lv[i], lf, rv[i], rf, object_points=points)
    f = grasps.figures
    titles = [
        f"score {float(s):.2f}, H-O {1000 * float(d):.1f} mm"
        for s, d in zip(grasps.scores, f.hand_object_depth, strict=True)
    ]
    render_grasp_sheet(out / "preview.png", lv[:shown], lf, rv[:shown], rf, points, titles=titles[:shown])


def _cmd_grasp(args: argparse.Namespace) -> None:
    from interhandgen_core.io.object_files import read_object
    from interhandgen_core.pipelines.interhandgen import GraspSamples, InterHandGen, default_object_checkpoint
    from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig

    out = Path(args.out)
    _check_output_folder(out, "--out")
    obj = read_object(args.object)
    preprocess = CloudPreprocessConfig(
        crop_min=args.crop_min, crop_max=args.crop_max, **({} if args.voxel is None else {"voxel_size": args.voxel})
    )
    model = InterHandGen.from_pretrained(
        args.checkpoint or default_object_checkpoint(), device=args.device, backend=_backend_config(args)
    )
    grasps = model.sample(
        args.num,
        seed=args.seed,
        ddim_steps=args.steps,
        cfg_weight=args.cfg,
        penetration_weight=args.pen_weight,
        object_points=obj.points,
        object_normals=obj.normals,
        preprocess=preprocess,
        contact_weight=args.contact_weight,
        settle_iterations=args.settle_iterations,
    )
    if not isinstance(grasps, GraspSamples):
        raise InterHandGenError("the checkpoint did not produce grasps; use an object-conditioned prior")
    grasps = grasps.ranked()
    _write_grasp_outputs(out, model, grasps, min(args.num, 4))
    print(f"object: {obj.source}; {grasps.cloud.summary()}")
    print(f"{'rank':>4} {'score':>6} {'H-O pen mm':>10} {'H-H pen mm':>10} {'L gap mm':>8} {'R gap mm':>8}")
    f = grasps.figures
    for i in range(args.num):  # one line per grasp
        print(
            f"{i:>4} {float(grasps.scores[i]):>6.3f} {1000 * float(f.hand_object_depth[i]):>10.2f} "
            f"{1000 * float(f.hand_hand_depth[i]):>10.2f} {1000 * float(f.left_gap[i]):>8.2f} "
            f"{1000 * float(f.right_gap[i]):>8.2f}"
        )
    print(f"wrote {out / 'grasps.npz'}, {out / 'object.ply'}, {args.num} grasp PLY files and {out / 'preview.png'}")


def _cmd_evaluate_protocol(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.protocol import ProtocolConfig

    config = ProtocolConfig.from_yaml(args.config)
    if args.only is not None:
        names = [n for n in args.only.split(",") if n]
        unknown = [n for n in names if n not in config.variants]
        if unknown:
            raise InterHandGenError(
                f"--only: no variant(s) {', '.join(unknown)}; the config has {', '.join(config.variants)}"
            )
        config = dataclasses.replace(config, variants={n: config.variants[n] for n in names})
    if args.num is not None:
        config = dataclasses.replace(config, num_samples=args.num)
    if args.repeat is not None:
        config = dataclasses.replace(config, repeat=args.repeat)
    _run_protocol(config, Path(args.out), args.quiet)


def _cmd_evaluate_samples(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.feature_backbone import default_backbone
    from interhandgen_core.evaluation.protocol import ProtocolConfig, VariantSpec

    variants = {}
    for item in args.samples:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InterHandGenError(f"--samples must be NAME=FILE.npz, got {item!r}")
        variants[name] = VariantSpec(label=name, samples=Path(path))
    config = ProtocolConfig(
        reference=Path(args.reference),
        backbone=Path(args.backbone) if args.backbone else default_backbone(),
        variants=variants,
        repeat=args.repeat,
    )
    _run_protocol(config, Path(args.out), args.quiet)


def _run_protocol(config: Any, out: Path, quiet: bool) -> None:
    import time

    from interhandgen_core.evaluation.feature_backbone import load_backbone
    from interhandgen_core.evaluation.protocol import run_protocol, sample_variant
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    _check_output_folder(out, "--out")
    backbone = load_backbone(config.backbone).backbone
    right, left = load_hand_pair("procedural", None)
    t0 = time.monotonic()
    report = run_protocol(
        config,
        out,
        backbone,
        HandLayer(right),
        HandLayer(left),
        lambda spec, num, seed: sample_variant(spec, num, seed, config.batch_size),
        progress=not quiet,
    )
    print((out / "protocol.md").read_text(encoding="utf-8"))
    print(
        f"{len(report['results'])} rows in {time.monotonic() - t0:.1f} s; wrote {out / 'protocol.md'} and {out / 'protocol.json'}"
    )


def _cmd_evaluate_objects(args: argparse.Namespace) -> None:
    from interhandgen_core.data.grasp_synth import GraspSet
    from interhandgen_core.evaluation.configuration import MetricsConfig
    from interhandgen_core.evaluation.feature_backbone import default_object_backbone, load_backbone
    from interhandgen_core.evaluation.object_protocol import evaluate_object_categories, write_object_report
    from interhandgen_core.pipelines.interhandgen import InterHandGen, default_object_checkpoint

    out = Path(args.out)
    _check_output_folder(out, "--out")
    reference = GraspSet.load(args.reference)
    floor = None if args.floor is None else GraspSet.load(args.floor)
    backbone = load_backbone(args.backbone or default_object_backbone()).backbone
    model = InterHandGen.from_pretrained(args.checkpoint or default_object_checkpoint())
    report = evaluate_object_categories(model, reference, backbone, args.num, MetricsConfig(), floor, not args.quiet)
    write_object_report(report, out)
    print((out / "objects.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'objects.md'} and {out / 'objects.json'}")


def _cmd_evaluate_grasps(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.heldout_grasps import evaluate_heldout_grasps
    from interhandgen_core.pipelines.interhandgen import InterHandGen, default_object_checkpoint
    from interhandgen_core.visualization.preview import render_grasp_sheet

    out = Path(args.out)
    _check_output_folder(out, "--out")
    model = InterHandGen.from_pretrained(args.checkpoint or default_object_checkpoint(), device=args.device)
    result = evaluate_heldout_grasps(
        model,
        num_objects=args.objects,
        grasps_per_object=args.num,
        seed=args.seed,
        sensor=args.sensor,
        penetration_weight=args.pen_weight,
        contact_weight=args.contact_weight,
        settle_iterations=args.settle_iterations,
        progress=not args.quiet,
    )
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "objects": args.objects,
        "grasps_per_object": args.num,
        "seed": args.seed,
        "sensor": args.sensor,
        "penetration_weight": args.pen_weight,
        "contact_weight": args.contact_weight,
        "settle_iterations": args.settle_iterations,
        "statistics": result.statistics.as_dict(),
        "per_object": result.per_object,
    }
    (out / "statistics.json").write_text(json.dumps(report, indent=2))
    for i, grasps in enumerate(result.proposals[: args.previews]):  # a few objects, for people to look at
        best = grasps.ranked()
        shown = min(4, args.num)
        titles = [f"score {float(s):.2f}" for s in best.scores[:shown]]
        render_grasp_sheet(
            out / f"preview_object_{i:02d}.png",
            best.left_vertices[:shown].cpu().numpy(),
            best.left_faces.cpu().numpy(),
            best.right_vertices[:shown].cpu().numpy(),
            best.right_faces.cpu().numpy(),
            best.object_points.cpu().numpy(),
            titles=titles,
        )
    print(result.statistics.summary())
    print(f"wrote {out / 'statistics.json'} and {min(args.previews, args.objects)} preview PNGs")


def _add_tracking_arguments(parser: argparse.ArgumentParser, min_frames: int, prefix: str = "") -> None:
    """--frames, --noise-mm and --jitter-only: the tracking data of `data motion` and `bench refine`.

    Left out, they keep MotionConfig's and TrackerNoiseConfig's defaults (the one source of them).
    """
    parser.add_argument("--frames", type=_int_at_least(min_frames), default=None, help=f"{prefix}frames per sequence")
    parser.add_argument(
        "--noise-mm", type=_non_negative_float, default=None, help=f"{prefix}tracker jitter, per-axis std (mm)"
    )
    parser.add_argument(
        "--jitter-only", action="store_true", help=f"{prefix}no outliers, lost hands or low-confidence frames"
    )


def _tracking_configs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The MotionConfig and TrackerNoiseConfig that _add_tracking_arguments' options ask for."""
    from interhandgen_core.data.motion_sequences import MotionConfig
    from interhandgen_core.data.tracker_noise import TrackerNoiseConfig

    motion = MotionConfig() if args.frames is None else MotionConfig(frames=args.frames)
    noise = TrackerNoiseConfig()
    if args.noise_mm is not None:
        noise = dataclasses.replace(noise, jitter_std_m=args.noise_mm / 1000.0)
    if args.jitter_only:  # Gaussian jitter alone
        noise = dataclasses.replace(
            noise, outlier_probability=0.0, dropout_probability=0.0, low_confidence_probability=0.0
        )
    return motion, noise


def _cmd_data_motion(args: argparse.Namespace) -> None:
    from interhandgen_core.data.tracking_sequences import make_tracking_sequences, write_tracking_sequences
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    out = Path(args.out)
    _check_output_folder(out, "--out")
    right, left = load_hand_pair(args.hand_model, args.mano_dir)
    right_layer, left_layer = HandLayer(right), HandLayer(left)
    motion, noise = _tracking_configs(args)
    keyframes = {} if args.keyframes is None else {"keyframes": args.keyframes}
    sequences = make_tracking_sequences(
        right_layer, left_layer, args.sequences, motion, noise, seed=args.seed, progress=True, **keyframes
    )
    out.mkdir(parents=True, exist_ok=True)
    written = write_tracking_sequences(out, sequences, right_layer, left_layer)
    print(f"wrote {len(written)} sequences of {motion.frames} frames to {out} (truth_NNN.npz, observed_NNN.npz)")


def _cmd_refine(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
    from interhandgen_core.refinement.configuration import RefinerConfig
    from interhandgen_core.refinement.observation import TwoHandObservation
    from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands, issue_kind
    from interhandgen_core.visualization.preview import render_twohand_grid

    out = Path(args.out)
    if out.suffix != ".npz":
        raise InterHandGenError(f"--out must name a .npz file, got {out}")
    _check_output_folder(out.parent, "--out")
    observation = TwoHandObservation.from_hands_file(read_hands_file(args.input))
    overrides = {
        name: getattr(args, name)
        for name in ("iterations", "prior_weight", "penetration_weight", "smoothness_weight")
        if getattr(args, name) is not None
    }
    refiner = HandPriorRefiner.from_pretrained(
        args.checkpoint,
        device=args.device,
        config=RefinerConfig(**overrides),
        mano_dir=args.mano_dir,
        backend=_backend_config(args),
    )
    num = observation.batch_size
    if args.independent:
        refined = refiner.refine(observation)
    else:  # the frames are one sequence: stream them as a tracker would
        refined = RefinedHands.cat(
            [refiner.step(observation.select(i)) for i in tqdm(range(num), desc="refine", unit="frame")]
        )
    hands = refiner.to_hands_file(refined)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_hands_file(out, hands)
    shown = [int(i) for i in np.linspace(0, num - 1, min(num, 8)).round()]
    lv, rv = hands.left_vertices, hands.right_vertices
    assert lv is not None and rv is not None and hands.left_faces is not None and hands.right_faces is not None
    titles = [
        f"frame {i}: conf {float(refined.left_confidence[i]):.2f} / {float(refined.right_confidence[i]):.2f}"
        for i in shown
    ]
    preview = out.with_name(out.stem + "_preview.png")
    render_twohand_grid(preview, lv[shown], hands.left_faces, rv[shown], hands.right_faces, titles=titles)
    counts: dict[str, int] = {}
    for issue in refined.issues:
        key = issue_kind(issue)
        counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):
        print(f"{count:6d} frames: {key}")
    print(f"refined {num} frames; wrote {out} and {preview}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.inference_benchmark import (
        DEFAULT_BACKENDS,
        format_rows,
        run_benchmark,
        run_refine_benchmark,
    )
    from interhandgen_core.evaluation.refinement_benchmark import format_refinement_rows
    from interhandgen_core.pipelines.interhandgen import resolve_device

    if args.json:
        _check_output_folder(Path(args.json).parent, "--json")
    what = args.target if args.target is not None else args.what
    if (what == "train") != (args.config is not None):
        raise InterHandGenError("bench train needs --config RECIPE, and --config is only for bench train")
    if what == "train":
        rows = [_bench_train(args)]
    elif what == "refine":
        from interhandgen_core.runtime.configuration import BackendConfig

        if args.backends is not None and len(args.backends) > 1:
            raise InterHandGenError("bench refine times one backend at a time; give one in --backends")
        spec = args.backends[0] if args.backends else BackendConfig().spec
        motion, noise = _tracking_configs(args)
        rows = run_refine_benchmark(
            sequences=args.sequences,
            motion=motion,
            noise=noise,
            seed=args.seed,
            device=args.device,
            checkpoint=args.checkpoint,
            backend=BackendConfig.parse(spec, cache_dir=args.cache_dir),
        )
        print(format_refinement_rows(rows))
    else:
        device = resolve_device(args.device)
        result = run_benchmark(
            whats=("denoiser", "cascade") if what is None else (what,),
            backends=args.backends or DEFAULT_BACKENDS[device.type],
            batches=args.batches,
            device=str(device),
            checkpoint=args.checkpoint,
            preset=args.preset,
            repeats=args.repeats,
            ddim_steps=args.steps,
            backend_fields={"cache_dir": args.cache_dir},
        )
        rows = result.rows
        print(format_rows(rows))
        for spec, reason in result.skipped.items():
            print(f"skipped {spec}: {reason}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.json}")


def _bench_train(args: argparse.Namespace) -> dict[str, Any]:
    from interhandgen_core.evaluation.training_benchmark import count_scenes, format_train_row, run_train_benchmark
    from interhandgen_core.pipelines.interhandgen import resolve_device
    from interhandgen_core.prior.configuration import TrainConfig

    config = TrainConfig.from_yaml(args.config)
    scenes = args.scenes
    if scenes is None and Path(config.train_data).is_file():
        scenes = count_scenes(Path(config.train_data))
    device = resolve_device(args.device)
    row = run_train_benchmark(config, str(device), args.repeats, scenes, args.processes)
    print(format_train_row(row))
    if scenes is None:
        print(f"no projection: {config.train_data} does not exist here; pass --scenes N")
    return row


def _cmd_export(args: argparse.Namespace) -> None:
    from interhandgen_core.pipelines.interhandgen import default_checkpoint, resolve_device
    from interhandgen_core.prior.checkpoint import load_prior
    from interhandgen_core.runtime.configuration import ENGINE_PRECISION, BackendConfig
    from interhandgen_core.runtime.factory import create_backend
    from interhandgen_core.runtime.onnx_export import export_denoiser, export_object_encoder

    onnx = Path(args.onnx)
    if onnx.suffix != ".onnx":
        raise InterHandGenError(f"--onnx must name a .onnx file, got {onnx}")
    _check_output_folder(onnx.parent, "--onnx")
    engine = None
    if args.engine:  # checked before any work: an engine needs CUDA (and TensorRT, checked when building)
        profile = {} if args.max_batch is None else {"max_batch": args.max_batch}
        if args.max_batch is not None:
            profile["opt_batch"] = min(BackendConfig().opt_batch, args.max_batch)
        engine = BackendConfig(
            name="tensorrt",
            precision=args.precision or ENGINE_PRECISION,
            onnx_path=str(onnx),
            engine_path=args.engine,
            force_rebuild=args.force_rebuild,
            **profile,
        )
        device = resolve_device("cuda")
    prior = load_prior(args.checkpoint or default_checkpoint())
    if args.encoder_onnx and prior.object_encoder is None:
        raise InterHandGenError("--encoder-onnx: this checkpoint has no object encoder")
    export_denoiser(prior.denoiser, onnx)
    print(f"wrote {onnx} (denoiser, dynamic batch)")
    if prior.object_encoder is not None:
        encoder = Path(args.encoder_onnx) if args.encoder_onnx else onnx.with_name(f"{onnx.stem}_encoder.onnx")
        export_object_encoder(prior.object_encoder, encoder)
        print(f"wrote {encoder} (object encoder, one cloud per call)")
    if engine is not None:
        create_backend(prior.denoiser.to(device).eval(), device, engine).close()
        print(f"wrote {engine.engine_path} (TensorRT {engine.precision} engine, batch 1..{engine.max_batch})")


def _add_converter_arguments(parser: argparse.ArgumentParser, name: str, piece: str) -> None:
    """The options data interhand and data arctic share: MANO, output, splits, parts, progress."""
    parser.add_argument("--mano-dir", required=True, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl")
    parser.add_argument("--out", required=True, help=f"output folder: {name}_<split>.npz and its .json summary")
    parser.add_argument("--splits", type=_split_list, default=None, help="comma-separated (default: train,val,test)")
    parser.add_argument("--keep-parts", action="store_true", help=f"keep the per-{piece} parts after merging")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interhandgen", description="Generative prior of two interacting hands.")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="make or convert data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    synth = data_commands.add_parser("synth", help="synthesise two-hand interactions or bimanual grasps")
    synth.add_argument(
        "--kind",
        default="twohand",
        choices=("twohand", "object"),
        help="twohand: two interacting hands; object: procedural objects held by two hands",
    )
    synth.add_argument("--num", type=_positive_int, required=True, help="number of samples (--kind object: of objects)")
    synth.add_argument(
        "--grasps-per-object", type=_positive_int, default=None, help="--kind object: grasps per object (default 12)"
    )
    synth.add_argument("--out", required=True, help="output .npz (a .json summary and a _preview.png go beside it)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--iterations",
        type=_non_negative_int,
        default=None,
        help="optimisation iterations per sample (default 30; 50 for --kind object)",
    )
    synth.add_argument("--hand-model", default="procedural", choices=("procedural", "mano"))
    synth.add_argument("--mano-dir", default=None, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_cmd_data_synth)

    tr = commands.add_parser(
        "train",
        help="train from a YAML recipe: a prior, the VAE baseline ('vae:' key) or a feature backbone ('backbone:' key)",
    )
    tr.add_argument("--config", required=True, help="training/configs/NAME.yaml")
    tr.add_argument("--out", required=True, help="run directory")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.set_defaults(func=_cmd_train)

    sample = commands.add_parser("sample", help="sample two-hand interactions from a prior")
    sample.add_argument("--num", type=_positive_int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--checkpoint", default=None, help="prior .safetensors (default: the shipped small prior)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--steps", type=_positive_int, default=None, help="DDIM steps (default 32)")
    sample.add_argument(
        "--cfg", type=_non_negative_float, default=None, help="classifier-free guidance weight (default 0.1)"
    )
    sample.add_argument(
        "--pen-weight",
        type=_non_negative_float,
        default=None,
        help="anti-penetration guidance weight at t=0 (default 4)",
    )
    sample.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    _add_backend_arguments(sample)
    sample.add_argument(
        "--mano-dir", default=None, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl, for MANO checkpoints"
    )
    sample.set_defaults(func=_cmd_sample)

    grasp = commands.add_parser("grasp", help="propose bimanual grasps for an object (mesh or point cloud)")
    grasp.add_argument(
        "--object", required=True, help="mesh (.obj, .ply, .stl) or cloud (.ply, .pcd, .npy), metres, z up"
    )
    grasp.add_argument("--num", type=_positive_int, required=True, help="number of grasps")
    grasp.add_argument("--out", required=True, help="output directory")
    grasp.add_argument("--seed", type=int, default=0)
    grasp.add_argument("--checkpoint", default=None, help="object-conditioned prior (default: the shipped one)")
    grasp.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    _add_backend_arguments(grasp)
    grasp.add_argument("--steps", type=_positive_int, default=None, help="DDIM steps (default 32)")
    grasp.add_argument("--cfg", type=_non_negative_float, default=None, help="classifier-free guidance weight")
    grasp.add_argument(
        "--pen-weight",
        type=_non_negative_float,
        default=None,
        help="guidance weight at t=0 (default 4; 0: no guidance)",
    )
    grasp.add_argument(
        "--contact-weight", type=_non_negative_float, default=None, help="pull onto the object, relative (default 1)"
    )
    grasp.add_argument(
        "--settle-iterations", type=_non_negative_int, default=None, help="rigid settling steps (default 30; 0: off)"
    )
    grasp.add_argument("--crop-min", type=_float_triple, default=None, help="x,y,z: keep points above this corner")
    grasp.add_argument("--crop-max", type=_float_triple, default=None, help="x,y,z: keep points below this corner")
    grasp.add_argument("--voxel", type=_non_negative_float, default=None, help="voxel size in metres (0: none)")
    grasp.set_defaults(func=_cmd_grasp)

    evaluate = commands.add_parser("evaluate", help="evaluation protocols")
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", required=True)
    heldout = evaluate_commands.add_parser("grasps", help="grasp proposals on held-out procedural objects")
    heldout.add_argument("--objects", type=_positive_int, default=20, help="number of held-out objects")
    heldout.add_argument("--num", type=_positive_int, default=32, help="grasps per object")
    heldout.add_argument("--seed", type=int, default=1000, help="object seed (the training recipes use 0 and 1)")
    heldout.add_argument("--sensor", action="store_true", help="one-sided, noisy clouds with outliers")
    heldout.add_argument(
        "--pen-weight", type=_non_negative_float, default=None, help="guidance weight at t=0 (0: no guidance at all)"
    )
    heldout.add_argument(
        "--contact-weight", type=_non_negative_float, default=None, help="pull onto the object, relative (default 1)"
    )
    heldout.add_argument(
        "--settle-iterations", type=_non_negative_int, default=None, help="rigid settling steps (default 30; 0: off)"
    )
    heldout.add_argument("--checkpoint", default=None)
    heldout.add_argument("--device", default="cpu")
    heldout.add_argument("--previews", type=_non_negative_int, default=4, help="objects to draw")
    heldout.add_argument("--out", required=True, help="output directory")
    heldout.add_argument("--quiet", action="store_true", help="no progress bar")
    heldout.set_defaults(func=_cmd_evaluate_grasps)

    protocol = evaluate_commands.add_parser(
        "protocol", help="two-hand synthesis protocol: sample every variant of a YAML, tabulate (paper Tables 1a, 3)"
    )
    protocol.add_argument("--config", required=True, help="training/configs/protocol_twohand.yaml")
    protocol.add_argument("--out", required=True, help="output directory (protocol.md, protocol.json, samples/)")
    protocol.add_argument("--num", type=_positive_int, default=None, help="samples per variant and repetition")
    protocol.add_argument("--repeat", type=_positive_int, default=None, help="evaluations per variant")
    protocol.add_argument("--only", default=None, help="comma-separated variant names to run (default: all)")
    protocol.add_argument("--quiet", action="store_true", help="no progress bar")
    protocol.set_defaults(func=_cmd_evaluate_protocol)

    on_files = evaluate_commands.add_parser("samples", help="evaluate hands files of samples against a reference set")
    on_files.add_argument("--reference", required=True, help="held-out hands file (.npz)")
    on_files.add_argument(
        "--samples", required=True, action="append", help="NAME=FILE.npz, a hands file of samples; repeat for more rows"
    )
    on_files.add_argument("--backbone", default=None, help="feature backbone (default: the shipped one)")
    on_files.add_argument("--repeat", type=_positive_int, default=1, help="evaluations with different random subsets")
    on_files.add_argument("--out", required=True, help="output directory (protocol.md, protocol.json)")
    on_files.add_argument("--quiet", action="store_true", help="no progress bar")
    on_files.set_defaults(func=_cmd_evaluate_samples)

    objects = evaluate_commands.add_parser(
        "objects", help="object-conditioned synthesis per object family against a held-out grasp set (Table 1b)"
    )
    objects.add_argument("--reference", required=True, help="held-out grasp set (.npz from data synth --kind object)")
    objects.add_argument(
        "--floor", default=None, help="another real grasp set to score as data (e.g. the training set)"
    )
    objects.add_argument("--checkpoint", default=None, help="object-conditioned prior (default: the shipped one)")
    objects.add_argument(
        "--backbone", default=None, help="object-conditional feature backbone (default: the shipped one)"
    )
    objects.add_argument("--num", type=_positive_int, default=16, help="proposals per reference object")
    objects.add_argument("--out", required=True, help="output directory (objects.md, objects.json)")
    objects.add_argument("--quiet", action="store_true", help="no progress bar")
    objects.set_defaults(func=_cmd_evaluate_objects)

    refine = commands.add_parser(
        "refine", help="refine noisy two-hand estimates (a hands file; its frames are one sequence) with the prior"
    )
    refine.add_argument("--input", required=True, help="hands file: keypoints (NaN = missing) or parameters per side")
    refine.add_argument("--out", required=True, help="output hands file (.npz); a _preview.png goes beside it")
    refine.add_argument("--checkpoint", default=None, help="two-hand prior (default: the shipped small one)")
    refine.add_argument("--device", default="cpu")
    _add_backend_arguments(refine)
    refine.add_argument("--mano-dir", default=None)
    refine.add_argument(
        "--independent", action="store_true", help="refine the frames as independent estimates (no temporal terms)"
    )
    refine.add_argument("--iterations", type=_non_negative_int, default=None, help="L-BFGS iterations per frame")
    refine.add_argument("--prior-weight", type=_non_negative_float, default=None, help="weight of Eq. 9 (0 = off)")
    refine.add_argument("--penetration-weight", type=_non_negative_float, default=None)
    refine.add_argument("--smoothness-weight", type=_non_negative_float, default=None)
    refine.set_defaults(func=_cmd_refine)

    inter = data_commands.add_parser(
        "interhand", help="convert InterHand2.6M's MANO annotations to two-hand hands files (paper 4.1)"
    )
    inter.add_argument(
        "--annotations", required=True, help="InterHand2.6M annotation folder (holding train/, val/, test/)"
    )
    _add_converter_arguments(inter, "interhand", "capture")
    inter.add_argument(
        "--per-image", action="store_true", help="one row per interacting image (the paper's counts), not per frame"
    )
    inter.set_defaults(func=_cmd_data_interhand)

    arc = data_commands.add_parser(
        "arctic", help="convert ARCTIC's sequences (protocol 1) to object-conditioned grasp sets (paper 4.2)"
    )
    arc.add_argument("--root", required=True, help="ARCTIC's unpacked data folder (raw_seqs/, meta/, splits_json/)")
    _add_converter_arguments(arc, "arctic", "sequence")
    arc.add_argument("--stride", type=_positive_int, default=None, help="keep every N-th frame (default 1)")
    arc.add_argument(
        "--articulation-step-deg",
        type=_non_negative_float,
        default=None,
        help="object clouds are shared by frames whose articulation rounds alike (default 1 degree)",
    )
    arc.add_argument("--cloud-points", type=_positive_int, default=None, help="points per object cloud (default 2048)")
    arc.set_defaults(func=_cmd_data_arctic)

    motion = data_commands.add_parser(
        "motion", help="synthetic two-hand motion with a noisy keypoint tracker's report (tracking benchmark data)"
    )
    motion.add_argument("--sequences", type=_positive_int, required=True)
    motion.add_argument("--keyframes", type=_positive_int, default=None, help="interactions the motion moves between")
    _add_tracking_arguments(motion, min_frames=2)
    motion.add_argument("--out", required=True, help="output folder")
    motion.add_argument("--seed", type=int, default=0)
    motion.add_argument("--hand-model", default="procedural", choices=("procedural", "mano"))
    motion.add_argument("--mano-dir", default=None)
    motion.set_defaults(func=_cmd_data_motion)

    bench = commands.add_parser(
        "bench", help="latency of the denoiser, the cascade or grasp proposal; accuracy and latency of refinement"
    )
    bench.add_argument("target", nargs="?", default=None, choices=("cascade", "denoiser", "grasp", "refine", "train"))
    bench.add_argument(
        "--what",
        default=None,
        choices=("cascade", "denoiser", "grasp", "refine", "train"),
        help="the same as the positional target; default: denoiser and cascade",
    )
    bench.add_argument("--sequences", type=_positive_int, default=4, help="refine: tracking sequences")
    bench.add_argument("--config", default=None, help="train: the training recipe (YAML) whose step is timed")
    bench.add_argument(
        "--scenes", type=_positive_int, default=None, help="train: training-set size (default: its train_data's)"
    )
    bench.add_argument("--processes", type=_positive_int, default=1, help="train: torchrun processes to project for")
    bench.add_argument("--seed", type=int, default=0, help="refine: sequence seed")
    _add_tracking_arguments(bench, min_frames=3, prefix="refine: ")
    bench.add_argument("--batches", type=_int_list, default=[1, 16, 64])
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--checkpoint", default=None)
    bench.add_argument("--repeats", type=_positive_int, default=5)
    bench.add_argument("--steps", type=_positive_int, default=None, help="DDIM steps (default 32)")
    bench.add_argument(
        "--preset",
        default=None,
        choices=("small", "paper"),
        help="denoiser size; one other than the checkpoint's is timed with random weights",
    )
    _add_backend_arguments(bench, many=True)
    bench.add_argument("--json", default=None, help="write the rows as JSON")
    bench.set_defaults(func=_cmd_bench)

    export = commands.add_parser("export", help="export a prior to ONNX (and optionally build a TensorRT engine)")
    export.add_argument("--onnx", required=True, help="output .onnx file of the denoiser (dynamic batch)")
    export.add_argument("--checkpoint", default=None, help="prior .safetensors (default: the shipped small prior)")
    export.add_argument(
        "--encoder-onnx", default=None, help="object-conditioned priors: the encoder's .onnx (default: beside --onnx)"
    )
    export.add_argument("--engine", default=None, help="also build a TensorRT engine here (needs TensorRT and CUDA)")
    export.add_argument(
        "--precision", default=None, choices=("fp32", "fp16"), help="--engine: kernel precision (default fp16)"
    )
    export.add_argument(
        "--max-batch", type=_positive_int, default=None, help="--engine: largest batch of the profile (default 512)"
    )
    export.add_argument("--force-rebuild", action="store_true", help="--engine: rebuild even if a valid one exists")
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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


if __name__ == "__main__":
    raise SystemExit(main())
