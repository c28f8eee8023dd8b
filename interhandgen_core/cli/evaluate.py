"""`interhandgen evaluate grasps|protocol|samples|objects`: the evaluation protocols.

interhandgen evaluate grasps --out DIR [--objects N] [--num N] [--sensor] [--families F,...] [--physics [--friction F ...] [--robot shadow]]
interhandgen evaluate protocol --config training/configs/protocol_twohand.yaml --out DIR [--num N] [--repeat K]
interhandgen evaluate samples --reference FILE.npz --samples NAME=FILE.npz [...] --out DIR
interhandgen evaluate objects --reference GRASPS.npz [--floor GRASPS.npz] --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from interhandgen_core.cli.arguments import (
    add_grasp_guidance_arguments,
    add_grasp_sampler_arguments,
    add_physics_arguments,
    family_list,
    non_negative_int,
    parameter_default,
    physics_config,
    positive_int,
    with_grasp_sampler_options,
)
from interhandgen_core.cli.output_paths import check_output_folder
from interhandgen_core.config import add_config_options
from interhandgen_core.data.procedural_objects import ALL_FAMILIES, OBJECT_FAMILIES
from interhandgen_core.errors import ConfigError, InterHandGenError
from interhandgen_core.evaluation.heldout_grasps import PhysicsStatistics, evaluate_heldout_grasps

if TYPE_CHECKING:
    from interhandgen_core.evaluation.protocol import ProtocolConfig


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="evaluation protocols",
        description="Run an evaluation protocol: grasps of held-out objects, the two-hand synthesis protocol of "
        "a YAML, hands files of samples, or object-conditioned synthesis per object family.",
    )
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", required=True)
    heldout = evaluate_commands.add_parser(
        "grasps",
        help="grasp proposals on held-out procedural objects",
        description="Propose grasps for held-out procedural objects and measure them (contact, penetration, "
        "scores); writes statistics.json and preview PNGs.",
    )
    heldout.add_argument(
        "--objects",
        type=positive_int,
        default=parameter_default(evaluate_heldout_grasps, "num_objects"),
        help="number of held-out objects (default: %(default)s)",
    )
    heldout.add_argument(
        "--num",
        type=positive_int,
        default=parameter_default(evaluate_heldout_grasps, "grasps_per_object"),
        help="grasps per object (default: %(default)s)",
    )
    heldout.add_argument(
        "--seed",
        type=int,
        default=parameter_default(evaluate_heldout_grasps, "seed"),
        help="object seed (default: %(default)s; the training recipes use 0 and 1)",
    )
    heldout.add_argument("--sensor", action="store_true", help="one-sided, noisy clouds with outliers")
    heldout.add_argument(
        "--unknown-viewpoint",
        action="store_true",
        help="with --sensor: give the clouds without the camera's position (normals oriented by propagation alone)",
    )
    heldout.add_argument(
        "--families",
        type=family_list,
        default=None,
        help=f"comma-separated object families to draw from, of {', '.join(ALL_FAMILIES)}; 'all' for every one "
        f"(default: {','.join(OBJECT_FAMILIES)}, which keeps the objects of a seed what they were)",
    )
    add_grasp_guidance_arguments(heldout)
    add_grasp_sampler_arguments(heldout)
    heldout.add_argument("--previews", type=non_negative_int, default=4, help="objects to draw (default: %(default)s)")
    heldout.add_argument("--out", required=True, help="output directory")
    heldout.add_argument("--quiet", action="store_true", help="no progress bar")
    add_physics_arguments(
        heldout,
        "also try every proposal in MuJoCo: hands pressed onto the object, then the object's weight along "
        "+-x, +-y, +-z; reports success over all proposals and the best 4 of each object",
    )
    heldout.add_argument(
        "--robot",
        default=None,
        help="with --physics: also retarget every proposal onto two robot hands (shadow, or a robot hand YAML) and "
        "try them in MuJoCo, fingers closed onto the object; reported beside the human hands (README 'Physics with "
        "the robot hands')",
    )
    heldout.set_defaults(func=run_grasps)

    protocol = evaluate_commands.add_parser(
        "protocol",
        help="two-hand synthesis protocol: sample every variant of a YAML, tabulate (paper Tables 1a, 3)",
        description="Run the two-hand synthesis protocol of a YAML: sample every variant, measure it against "
        "the reference and tabulate (paper Tables 1a and 3). Sizes are checked before any sampling; shipped "
        "files named interhandgen_core/assets/NAME are found from any folder.",
    )
    protocol.add_argument("--config", required=True, help="the protocol, e.g. training/configs/protocol_twohand.yaml")
    protocol.add_argument("--out", required=True, help="output directory (protocol.md, protocol.json, samples/)")
    protocol.add_argument(
        "--num", type=positive_int, default=None, help="samples per variant and repetition (default: the config's)"
    )
    protocol.add_argument(
        "--repeat", type=positive_int, default=None, help="evaluations per variant (default: the config's)"
    )
    protocol.add_argument("--only", default=None, help="comma-separated variant names to run (default: all)")
    from interhandgen_core.evaluation.protocol import ProtocolConfig as Protocol  # the option's one source

    add_config_options(protocol, Protocol, ["features"])
    protocol.add_argument("--quiet", action="store_true", help="no progress bar")
    protocol.set_defaults(func=run_protocol)

    on_files = evaluate_commands.add_parser(
        "samples",
        help="evaluate hands files of samples against a reference set",
        description="Evaluate hands files of samples against a reference set with the two-hand protocol's metrics "
        "(FHID, KHID, diversity, precision, recall, penetration); sizes are checked before any feature work.",
    )
    on_files.add_argument("--reference", required=True, help="held-out hands file (.npz)")
    on_files.add_argument(
        "--samples", required=True, action="append", help="NAME=FILE.npz, a hands file of samples; repeat for more rows"
    )
    on_files.add_argument("--backbone", default=None, help="feature backbone (default: the shipped one)")
    add_config_options(on_files, Protocol, ["features"])
    on_files.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        help="evaluations with different random subsets (default: %(default)s)",
    )
    on_files.add_argument("--out", required=True, help="output directory (protocol.md, protocol.json)")
    on_files.add_argument("--quiet", action="store_true", help="no progress bar")
    on_files.set_defaults(func=run_samples)

    objects = evaluate_commands.add_parser(
        "objects",
        help="object-conditioned synthesis per object family against a held-out grasp set (Table 1b)",
        description="Evaluate object-conditioned synthesis per object family against a held-out grasp set "
        "(paper Table 1b); sizes are checked before any sampling.",
    )
    objects.add_argument("--reference", required=True, help="held-out grasp set (.npz from data synth --kind object)")
    objects.add_argument(
        "--floor", default=None, help="another real grasp set to score as data (e.g. the training set)"
    )
    objects.add_argument("--checkpoint", default=None, help="object-conditioned prior (default: the shipped one)")
    objects.add_argument(
        "--backbone", default=None, help="object-conditional feature backbone (default: the shipped one)"
    )
    objects.add_argument(
        "--num", type=positive_int, default=16, help="proposals per reference object (default: %(default)s)"
    )
    objects.add_argument("--out", required=True, help="output directory (objects.md, objects.json)")
    objects.add_argument("--quiet", action="store_true", help="no progress bar")
    objects.set_defaults(func=run_objects)


def run_grasps(args: argparse.Namespace) -> None:
    from interhandgen_core.pipelines.grasp import GraspPipeline
    from interhandgen_core.retargeting.robot_grasp_physics import RobotGraspPhysicsConfig
    from interhandgen_core.retargeting.robot_hand import load_robot_hand
    from interhandgen_core.visualization.scene_previews import render_grasp_rows

    out = Path(args.out)
    check_output_folder(out, "--out")
    if args.unknown_viewpoint and not args.sensor:
        raise ConfigError("--unknown-viewpoint applies only to the one-sided clouds of --sensor")
    physics_options = physics_config(args)
    physics = physics_options if args.physics else None
    robot = None
    if args.robot is not None:
        if physics is None:
            raise ConfigError("--robot: the robot hands' physics applies only with --physics")
        load_robot_hand(args.robot)  # a bad robot is refused before any sampling
        robot = RobotGraspPhysicsConfig(robot=args.robot)
    model = GraspPipeline.from_pretrained(args.checkpoint, device=args.device)
    with_grasp_sampler_options(model, args)
    result = evaluate_heldout_grasps(
        model,
        num_objects=args.objects,
        grasps_per_object=args.num,
        seed=args.seed,
        sensor=args.sensor,
        penetration_guidance_weight=args.penetration_guidance_weight,
        contact_weight=args.object_contact_weight,
        settle_iterations=args.settle_iterations,
        progress=not args.quiet,
        physics=physics,
        physics_rank=physics_options if args.rank == "physics" else None,
        robot=robot,
        families=args.families or OBJECT_FAMILIES,
        unknown_viewpoint=args.unknown_viewpoint,
    )
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "objects": args.objects,
        "grasps_per_object": args.num,
        "seed": args.seed,
        "sensor": args.sensor,
        "unknown_viewpoint": args.unknown_viewpoint,
        "families": list(args.families or OBJECT_FAMILIES),
        "penetration_guidance_weight": args.penetration_guidance_weight,
        "contact_weight": args.object_contact_weight,
        "settle_iterations": args.settle_iterations,
        "rank": args.rank,
        "ddim_steps": model.sampler_config.ddim_steps,
        "cfg_weight": model.sampler_config.cfg_weight,
        "statistics": result.statistics.as_dict(),
        "per_object": result.per_object,
    }
    if result.physics is not None and physics is not None:
        report["physics"] = {"config": physics.to_dict(), **result.physics.as_dict()}
    if result.robot_physics is not None and robot is not None:
        report["robot_physics"] = {"config": robot.to_dict(), **result.robot_physics.as_dict()}
    (out / "statistics.json").write_text(json.dumps(report, indent=2))
    for i, grasps in enumerate(result.proposals[: args.previews]):  # a few objects, for people to look at
        best = grasps.ranked()
        seen, inferred = best.cloud.seen_and_inferred()
        render_grasp_rows(
            out / f"preview_object_{i:02d}.png",
            best.left_vertices,
            best.left_faces,
            best.right_vertices,
            best.right_faces,
            seen,
            best.scores,
            inferred_points=inferred,
        )
    print(result.statistics.summary())
    if result.physics is not None:
        print(result.physics.summary())
    if result.physics is not None and result.robot_physics is not None:
        print(f"robot hands ({args.robot}) {result.robot_physics.summary()}")
        print(physics_table(result.physics, result.robot_physics, args.robot))
    print(f"wrote {out / 'statistics.json'} and {min(args.previews, args.objects)} preview PNGs")


def physics_table(human: PhysicsStatistics, robot: PhysicsStatistics, robot_name: str) -> str:
    """The human and the robot hands' success over all proposals and the top k of each object, as a table."""
    rows = [("hands", "all proposals hold", f"top {human.top_k} of each object hold")]
    for name, stats in (("human", human), (f"robot ({robot_name})", robot)):
        rows.append((name, f"{100 * stats.success_all:.1f}%", f"{100 * stats.success_top_k:.1f}%"))
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def run_protocol(args: argparse.Namespace) -> None:
    from interhandgen_core.evaluation.protocol import ProtocolConfig

    config = _with_shipped_files(ProtocolConfig.from_yaml(args.config))
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
    if args.features is not None:
        config = dataclasses.replace(config, features=args.features)
    num = "--num" if args.num is not None else f"num_samples of {args.config} (--num)"
    _run_protocol(config, Path(args.out), args.quiet, {"num_samples": num, "reference": f"reference of {args.config}"})


def _with_shipped_files(config: ProtocolConfig) -> ProtocolConfig:
    """The config with its interhandgen_core/assets/NAME paths (the shipped backbone and priors) made the installed
    package's files, so that the protocol runs from any folder; the other relative paths (the user's data and
    runs) stay relative to the working directory."""
    from interhandgen_core.pipelines.shipped_priors import shipped_file

    def shipped(path: Path | None) -> Path | None:
        return None if path is None else shipped_file(path)

    variants = {
        name: dataclasses.replace(
            spec,
            checkpoint=shipped(spec.checkpoint),
            conditional_checkpoint=shipped(spec.conditional_checkpoint),
            vae=shipped(spec.vae),
            samples=shipped(spec.samples),
        )
        for name, spec in config.variants.items()
    }
    return dataclasses.replace(config, backbone=shipped_file(config.backbone), variants=variants)


def run_samples(args: argparse.Namespace) -> None:
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
        **({} if args.features is None else {"features": args.features}),
    )
    _run_protocol(config, Path(args.out), args.quiet, {"reference": "--reference"})


def _run_protocol(config: ProtocolConfig, out: Path, quiet: bool, names: dict[str, str]) -> None:
    """Check the sizes (``names``: the command's names of its settings), then run the protocol and print its tables."""
    import time

    from interhandgen_core.evaluation.feature_backbone import load_backbone
    from interhandgen_core.evaluation.protocol import feature_size, run_protocol, sample_variant
    from interhandgen_core.evaluation.sample_sizes import check_protocol_sizes
    from interhandgen_core.hands.layer import HandLayer
    from interhandgen_core.hands.loading import load_hand_pair

    check_output_folder(out, "--out")
    backbone = load_backbone(config.backbone).backbone
    check_protocol_sizes(config, feature_size(backbone, config.features), names)  # before any sampling or features
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


def run_objects(args: argparse.Namespace) -> None:
    from interhandgen_core.data.grasp_synth import GraspSet
    from interhandgen_core.evaluation.configuration import MetricsConfig
    from interhandgen_core.evaluation.feature_backbone import default_object_backbone, load_backbone
    from interhandgen_core.evaluation.object_protocol import evaluate_object_categories, write_object_report
    from interhandgen_core.evaluation.sample_sizes import check_object_sizes
    from interhandgen_core.pipelines.grasp import GraspPipeline

    out = Path(args.out)
    check_output_folder(out, "--out")
    reference = GraspSet.load(args.reference)
    floor = None if args.floor is None else GraspSet.load(args.floor)
    backbone = load_backbone(args.backbone or default_object_backbone()).backbone
    metrics = MetricsConfig()
    names = {"grasps_per_object": "--num", "reference": "--reference", "floor": "--floor"}
    check_object_sizes(reference, args.num, backbone.config.feature_dim, metrics, floor, names)  # before sampling
    model = GraspPipeline.from_pretrained(args.checkpoint)
    report = evaluate_object_categories(model, reference, backbone, args.num, metrics, floor, not args.quiet)
    write_object_report(report, out)
    print((out / "objects.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'objects.md'} and {out / 'objects.json'}")
