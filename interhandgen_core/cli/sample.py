"""`interhandgen sample`: two-hand interactions from a prior, as hands file, meshes, preview and statistics.

    interhandgen sample --num N --out DIR [--checkpoint PATH] [--seed S] [--steps K] [--cfg W] [--penetration-guidance-weight W]
        [--hand-guidance capsules|mesh] [--guidance-min-weight W] [--guidance-max-step S] [--final-guidance-steps K]
    interhandgen sample --anchors HANDS.npz [--num N] --out DIR ...   (a right hand for each given left hand)

Writes DIR/samples.npz (the hands-file schema), one DIR/sample_NNNN.ply per sample,
DIR/preview.png and DIR/statistics.json (contact/interaction.py's figures).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interhandgen_core.cli.arguments import (
    PENETRATION_GUIDANCE_FLAGS,
    add_backend_arguments,
    add_guidance_schedule_arguments,
    backend_config,
    positive_int,
    with_guidance_schedule,
)
from interhandgen_core.cli.output_paths import check_output_folder
from interhandgen_core.config import add_config_options
from interhandgen_core.errors import InterHandGenError
from interhandgen_core.prior.configuration import SamplerConfig

# The sampler's options: SamplerConfig field -> flag.
SAMPLER_FLAGS: dict[str, str | tuple[str, ...]] = {
    "ddim_steps": "--steps",
    "cfg_weight": "--cfg",
    "penetration_guidance_weight": PENETRATION_GUIDANCE_FLAGS,
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sample = commands.add_parser(
        "sample",
        help="sample two-hand interactions from a prior",
        description="Sample two-hand interactions from a prior; writes DIR/samples.npz (a hands file), one "
        "PLY mesh per sample, preview.png and statistics.json.",
    )
    sample.add_argument(
        "--num", type=positive_int, default=None, help="number of samples (with --anchors: the first N; default all)"
    )
    sample.add_argument(
        "--anchors",
        default=None,
        help="hands file whose left hands are given: only a right hand is sampled for each, in the file's frame "
        "(Algorithm 2's second stage)",
    )
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--checkpoint", default=None, help="prior .safetensors (default: the shipped small prior)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    add_config_options(sample, SamplerConfig, SAMPLER_FLAGS, flags=SAMPLER_FLAGS)
    add_guidance_schedule_arguments(sample)
    sample.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    add_backend_arguments(sample)
    sample.add_argument(
        "--mano-dir", default=None, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl, for MANO checkpoints"
    )
    sample.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from interhandgen_core.contact.interaction import interaction_statistics, measure_interaction
    from interhandgen_core.data.dataset import load_twohand_params
    from interhandgen_core.io.hands_file import write_hands_file
    from interhandgen_core.io.meshes import write_twohand_plys
    from interhandgen_core.pipelines.two_hand import TwoHandPipeline
    from interhandgen_core.visualization.scene_previews import render_penetration_grid

    out = Path(args.out)
    if args.num is None and args.anchors is None:
        raise InterHandGenError("give --num (how many samples) or --anchors (a hands file of given left hands)")
    check_output_folder(out, "--out")
    model = TwoHandPipeline.from_pretrained(
        args.checkpoint, device=args.device, mano_dir=args.mano_dir, backend=backend_config(args)
    )
    with_guidance_schedule(model, args)
    options = {
        "seed": args.seed,
        "ddim_steps": args.ddim_steps,
        "cfg_weight": args.cfg_weight,
        "penetration_guidance_weight": args.penetration_guidance_weight,
    }
    if args.anchors is None:
        samples = model.sample(args.num, **options)
    else:
        left, _ = load_twohand_params(args.anchors)
        samples = model.sample_partners(left.select(slice(0, args.num)), **options)
    out.mkdir(parents=True, exist_ok=True)
    write_hands_file(out / "samples.npz", model.to_hands_file(samples))
    lv, rv = samples.left_vertices.cpu().numpy(), samples.right_vertices.cpu().numpy()
    lf, rf = samples.left_faces.cpu().numpy(), samples.right_faces.cpu().numpy()
    write_twohand_plys(out, "sample", lv, lf, rv, rf)
    depth, gap = measure_interaction(
        samples.left_vertices, samples.left_faces, samples.right_vertices, samples.right_faces
    )
    stats = interaction_statistics(depth, gap)
    render_penetration_grid(out / "preview.png", lv, lf, rv, rf, depth)
    (out / "statistics.json").write_text(json.dumps(stats.as_dict(), indent=2))
    print(stats.summary())
    print(f"wrote {out / 'samples.npz'}, {samples.left.batch_size} PLY files and {out / 'preview.png'}")
