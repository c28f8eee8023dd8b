"""`interhandgen grasp`: bimanual grasps of an object (a mesh or a point cloud), best first.

    interhandgen grasp --object FILE --num N --out DIR [--checkpoint PATH] [--crop-min x,y,z] [--voxel M]

Writes DIR/grasps.npz (the hands-file schema, with the object cloud and the scores),
DIR/object.ply, one DIR/grasp_NNNN.ply per grasp and DIR/preview.png, and prints one line per grasp.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from interhandgen_core.cli.arguments import (
    add_backend_arguments,
    add_grasp_guidance_arguments,
    backend_config,
    float_triple,
    positive_int,
)
from interhandgen_core.cli.output_paths import check_output_folder
from interhandgen_core.config import add_config_options, config_overrides, default_of
from interhandgen_core.errors import ConfigError, InterHandGenError
from interhandgen_core.pipelines.sensor_cloud import CloudPreprocessConfig
from interhandgen_core.prior.configuration import SamplerConfig

SAMPLER_FLAGS = {"ddim_steps": "--steps", "cfg_weight": "--cfg"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grasp = commands.add_parser(
        "grasp",
        help="propose bimanual grasps for an object (mesh or point cloud)",
        description="Propose bimanual grasps for an object (a mesh or a point cloud in metres, z up), best first; "
        "writes DIR/grasps.npz, object.ply, one PLY mesh per grasp and preview.png. A cloud in millimetres is "
        "converted to metres, with a warning.",
    )
    grasp.add_argument(
        "--object", required=True, help="mesh (.obj, .ply, .stl) or cloud (.ply, .pcd, .npy), metres, z up"
    )
    grasp.add_argument("--num", type=positive_int, required=True, help="number of grasps")
    grasp.add_argument("--out", required=True, help="output directory")
    grasp.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    add_grasp_guidance_arguments(grasp)
    add_backend_arguments(grasp)
    add_config_options(grasp, SamplerConfig, SAMPLER_FLAGS, flags=SAMPLER_FLAGS)
    grasp.add_argument("--crop-min", type=float_triple, default=None, help="x,y,z: keep points above this corner")
    grasp.add_argument("--crop-max", type=float_triple, default=None, help="x,y,z: keep points below this corner")
    add_config_options(grasp, CloudPreprocessConfig, ("voxel_size",), flags={"voxel_size": "--voxel"})
    grasp.set_defaults(func=run)


def _preprocess_config(args: argparse.Namespace) -> CloudPreprocessConfig:
    """--crop-min, --crop-max and --voxel as the cloud preprocessing's settings.

    The rules between settings are the configuration's; its message names its fields, so a broken
    one is told here in this command's options.
    """
    try:
        return CloudPreprocessConfig(
            crop_min=args.crop_min, crop_max=args.crop_max, **config_overrides(args, ("voxel_size",))
        )
    except ConfigError:
        low, high = args.crop_min, args.crop_max
        if low is not None and high is not None and any(lo >= hi for lo, hi in zip(low, high, strict=True)):
            raise InterHandGenError(
                f"--crop-min {','.join(f'{v:g}' for v in low)} must be below --crop-max "
                f"{','.join(f'{v:g}' for v in high)} on every axis"
            ) from None
        radius = default_of(CloudPreprocessConfig, "normal_radius")
        raise InterHandGenError(
            f"--voxel {args.voxel_size:g} m must be below the radius of normal estimation ({radius:g} m); "
            "a third of it or less is right"
        ) from None


def run(args: argparse.Namespace) -> None:
    from interhandgen_core.io.hands_file import write_hands_file
    from interhandgen_core.io.meshes import write_ply, write_twohand_plys
    from interhandgen_core.io.object_files import read_object
    from interhandgen_core.pipelines.grasp import GraspPipeline
    from interhandgen_core.visualization.scene_previews import render_grasp_rows

    out = Path(args.out)
    check_output_folder(out, "--out")
    preprocess = _preprocess_config(args)
    obj = read_object(args.object)
    model = GraspPipeline.from_pretrained(args.checkpoint, device=args.device, backend=backend_config(args))
    grasps = model.sample(
        args.num,
        seed=args.seed,
        ddim_steps=args.ddim_steps,
        cfg_weight=args.cfg_weight,
        penetration_guidance_weight=args.penetration_guidance_weight,
        object_points=obj.points,
        object_normals=obj.normals,
        preprocess=preprocess,
        contact_weight=args.object_contact_weight,
        settle_iterations=args.settle_iterations,
    )
    grasps = grasps.ranked()
    out.mkdir(parents=True, exist_ok=True)
    write_hands_file(out / "grasps.npz", model.to_hands_file(grasps))
    lv, rv = grasps.left_vertices.cpu().numpy(), grasps.right_vertices.cpu().numpy()
    lf, rf = grasps.left_faces.cpu().numpy(), grasps.right_faces.cpu().numpy()
    points = grasps.object_points.cpu().numpy()
    write_ply(out / "object.ply", points, np.zeros((0, 3), dtype=np.int64))
    write_twohand_plys(out, "grasp", lv, lf, rv, rf, object_points=points)
    f = grasps.figures
    render_grasp_rows(out / "preview.png", lv, lf, rv, rf, points, grasps.scores, f.hand_object_depth)
    print(f"object: {obj.source}; {grasps.cloud.summary()}")
    print(f"{'rank':>4} {'score':>6} {'H-O pen mm':>10} {'H-H pen mm':>10} {'L gap mm':>8} {'R gap mm':>8}")
    for i in range(args.num):  # one line per grasp
        print(
            f"{i:>4} {float(grasps.scores[i]):>6.3f} {1000 * float(f.hand_object_depth[i]):>10.2f} "
            f"{1000 * float(f.hand_hand_depth[i]):>10.2f} {1000 * float(f.left_gap[i]):>8.2f} "
            f"{1000 * float(f.right_gap[i]):>8.2f}"
        )
    print(f"wrote {out / 'grasps.npz'}, {out / 'object.ply'}, {args.num} grasp PLY files and {out / 'preview.png'}")
