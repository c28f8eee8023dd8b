"""`interhandgen refine`: noisy two-hand estimates (a hands file) refined with the prior.

    interhandgen refine --input FILE.npz --out FILE.npz [--checkpoint PATH] [--independent]

The input's frames are one sequence, streamed as a tracker would, unless --independent.
Writes the refined hands file and a _preview.png beside it, and prints how many frames
had each kind of issue.
"""

from __future__ import annotations

import argparse

from interhandgen_core.cli.arguments import add_backend_arguments, backend_config
from interhandgen_core.cli.output_paths import checked_output_file
from interhandgen_core.config import add_config_options, config_overrides
from interhandgen_core.refinement.configuration import RefinerConfig

# RefinerConfig fields given as options (flags from the field names).
REFINER_OPTIONS = ("iterations", "prior_weight", "penetration_weight", "smoothness_weight")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    refine = commands.add_parser(
        "refine",
        help="refine noisy two-hand estimates (a hands file; its frames are one sequence) with the prior",
        description="Refine noisy two-hand estimates (a hands file whose frames are one sequence, unless "
        "--independent) with the prior; writes the refined hands file and a _preview.png beside it.",
    )
    refine.add_argument("--input", required=True, help="hands file: keypoints (NaN = missing) or parameters per side")
    refine.add_argument("--out", required=True, help="output hands file (.npz); a _preview.png goes beside it")
    refine.add_argument("--checkpoint", default=None, help="two-hand prior (default: the shipped small one)")
    refine.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    add_backend_arguments(refine)
    refine.add_argument(
        "--mano-dir", default=None, help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl, for MANO checkpoints"
    )
    refine.add_argument(
        "--independent", action="store_true", help="refine the frames as independent estimates (no temporal terms)"
    )
    add_config_options(refine, RefinerConfig, REFINER_OPTIONS)
    refine.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from interhandgen_core.io.hands_file import read_hands_file, write_hands_file
    from interhandgen_core.refinement.issues import issue_counts
    from interhandgen_core.refinement.observation import TwoHandObservation
    from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands
    from interhandgen_core.visualization.scene_previews import render_sequence_frames

    out = checked_output_file(args.out, ".npz", "--out")
    observation = TwoHandObservation.from_hands_file(read_hands_file(args.input))
    refiner = HandPriorRefiner.from_pretrained(
        args.checkpoint,
        device=args.device,
        config=RefinerConfig(**config_overrides(args, REFINER_OPTIONS)),
        mano_dir=args.mano_dir,
        backend=backend_config(args),
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
    preview = out.with_name(out.stem + "_preview.png")
    lv, rv, lf, rf = hands.left_vertices, hands.right_vertices, hands.left_faces, hands.right_faces
    assert lv is not None and rv is not None and lf is not None and rf is not None  # to_hands_file writes meshes
    render_sequence_frames(preview, lv, lf, rv, rf, refined.left_confidence, refined.right_confidence)
    for kind, count in issue_counts(refined.issues).items():
        print(f"{count:6d} frames: {kind}")
    print(f"refined {num} frames; wrote {out} and {preview}")
