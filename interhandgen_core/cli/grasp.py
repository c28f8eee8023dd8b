"""`interhandgen grasp`: bimanual grasps of an object (a mesh or a point cloud), best first.

    interhandgen grasp --object FILE --num N --out DIR [--checkpoint PATH] [--crop-min x,y,z] [--voxel M]
                       [--physics [--friction F ...]]

Writes DIR/grasps.npz (the hands-file schema, with the object cloud and the scores),
DIR/object.ply, one DIR/grasp_NNNN.ply per grasp and DIR/preview.png, and prints one line per grasp.

With --physics each proposal is also tried in MuJoCo (physics/, README "Physics validation"):
the object a free body made from the mesh (in the cloud's input frame, metres) or, for a cloud
file, from the cleaned cloud (crop, units, voxels and outliers as for the proposals; the file's
normals where it had them), the hands of each GraspSample pressed onto it, then its weight along
+-x, +-y, +-z. The table gains which pushes each grasp held, a summary line follows, and
DIR/physics.json holds the figures per grasp (rank order, as grasps.npz). The body is built and
the grasps simulated before anything is written: an object that cannot be a solid is refused in
one line, naming the file, and leaves --out empty.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from interhandgen_core.cli.arguments import (
    add_backend_arguments,
    add_grasp_guidance_arguments,
    add_grasp_sampler_arguments,
    add_physics_arguments,
    backend_config,
    float_triple,
    physics_config,
    positive_int,
    with_grasp_sampler_options,
)
from interhandgen_core.cli.output_paths import check_output_folder
from interhandgen_core.config import add_config_options, config_overrides, default_of
from interhandgen_core.errors import ConfigError, DataError, InterHandGenError
from interhandgen_core.pipelines.sensor_cloud import MILLIMETRES_PER_METRE, CloudPreprocessConfig

if TYPE_CHECKING:
    from interhandgen_core.io.object_files import ObjectInput
    from interhandgen_core.physics.configuration import GraspPhysicsConfig
    from interhandgen_core.physics.grasp_validation import GraspPhysicsResult
    from interhandgen_core.physics.object_body import ObjectBody
    from interhandgen_core.pipelines.grasp import GraspPipeline
    from interhandgen_core.pipelines.samples import GraspSamples

# The summary line's success rate of the best proposals, as evaluate grasps --physics reports per object.
PHYSICS_TOP_K = 4


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grasp = commands.add_parser(
        "grasp",
        help="propose bimanual grasps for an object (mesh or point cloud)",
        description="Propose bimanual grasps for an object (a mesh or a point cloud in metres, z up), best first; "
        "writes DIR/grasps.npz, object.ply, one PLY mesh per grasp and preview.png. A cloud in millimetres is "
        "converted to metres, with a warning. With --physics each proposal is also tried in MuJoCo "
        "(DIR/physics.json).",
    )
    grasp.add_argument(
        "--object", required=True, help="mesh (.obj, .ply, .stl) or cloud (.ply, .pcd, .npy), metres, z up"
    )
    grasp.add_argument("--num", type=positive_int, required=True, help="number of grasps")
    grasp.add_argument("--out", required=True, help="output directory")
    grasp.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    add_grasp_guidance_arguments(grasp)
    add_backend_arguments(grasp)
    add_grasp_sampler_arguments(grasp)
    grasp.add_argument("--crop-min", type=float_triple, default=None, help="x,y,z: keep points above this corner")
    grasp.add_argument("--crop-max", type=float_triple, default=None, help="x,y,z: keep points below this corner")
    grasp.add_argument(
        "--viewpoint",
        type=float_triple,
        default=None,
        help="x,y,z: where the depth camera that saw a cloud stood, in the file's frame (0,0,0 for a cloud in the "
        "camera's own frame; write --viewpoint=-x,y,z for a negative x); an estimated normal facing clearly away "
        "from it is turned, so that a cloud seen from one side is told from one seen all round (default: unknown)",
    )
    add_config_options(grasp, CloudPreprocessConfig, ("voxel_size",), flags={"voxel_size": "--voxel"})
    add_physics_arguments(
        grasp,
        "also try every proposal in MuJoCo: the object a free body from the mesh (or the cleaned cloud), hands "
        "pressed onto it, then its weight along +-x, +-y, +-z; prints the pushes each grasp held, writes "
        "DIR/physics.json",
    )
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
    physics_options = physics_config(args)
    physics = physics_options if args.physics else None
    obj = read_object(args.object)
    model = GraspPipeline.from_pretrained(args.checkpoint, device=args.device, backend=backend_config(args))
    with_grasp_sampler_options(model, args)
    try:
        grasps = model.sample(
            args.num,
            seed=args.seed,
            penetration_guidance_weight=args.penetration_guidance_weight,
            object_points=obj.points,
            object_normals=obj.normals,
            object_viewpoint=args.viewpoint,
            preprocess=preprocess,
            contact_weight=args.object_contact_weight,
            settle_iterations=args.settle_iterations,
            physics_rank=physics_options if args.rank == "physics" else None,
        )
    except DataError as err:  # the cloud's preprocessing does not know the file: name it
        raise DataError(f"{args.object}: {err}") from None
    grasps = grasps.ranked()
    # Before anything is written: an object that cannot be simulated leaves --out as it was.
    validated = None if physics is None else _validate(args.object, obj, grasps, model, physics)
    out.mkdir(parents=True, exist_ok=True)
    write_hands_file(out / "grasps.npz", model.to_hands_file(grasps))
    lv, rv = grasps.left_vertices.cpu().numpy(), grasps.right_vertices.cpu().numpy()
    lf, rf = grasps.left_faces.cpu().numpy(), grasps.right_faces.cpu().numpy()
    points = grasps.object_points.cpu().numpy()
    write_ply(out / "object.ply", points, np.zeros((0, 3), dtype=np.int64))
    write_twohand_plys(out, "grasp", lv, lf, rv, rf, object_points=points)
    f = grasps.figures
    seen, inferred = grasps.cloud.seen_and_inferred()
    render_grasp_rows(
        out / "preview.png", lv, lf, rv, rf, seen, grasps.scores, f.hand_object_depth, inferred_points=inferred
    )
    print(f"object: {obj.source}; {grasps.cloud.summary()}")
    header = f"{'rank':>4} {'score':>6} {'H-O pen mm':>10} {'H-H pen mm':>10} {'L gap mm':>8} {'R gap mm':>8}"
    held_text = [""] * args.num
    if validated is not None:
        header += f" {'held':>4}  directions held"
        held_text = _held_columns(validated[1])
    print(header)
    for i in range(args.num):  # one line per grasp
        print(
            f"{i:>4} {float(grasps.scores[i]):>6.3f} {1000 * float(f.hand_object_depth[i]):>10.2f} "
            f"{1000 * float(f.hand_hand_depth[i]):>10.2f} {1000 * float(f.left_gap[i]):>8.2f} "
            f"{1000 * float(f.right_gap[i]):>8.2f}{held_text[i]}"
        )
    written = [out / "grasps.npz", out / "object.ply"]
    if validated is not None and physics is not None:
        body, result = validated
        print(f"physics object: {body.method}; {body.mass:.3f} kg, built in {body.build_seconds:.1f} s")
        best = result.success[:PHYSICS_TOP_K].mean()
        print(f"physics: {result.summary()}; best {min(PHYSICS_TOP_K, args.num)} by score: {100 * best:.0f}% hold")
        report = _physics_report(args.object, physics, body, result, grasps)
        (out / "physics.json").write_text(json.dumps(report, indent=2))
        written.append(out / "physics.json")
    print(f"wrote {', '.join(map(str, written))}, {args.num} grasp PLY files and {out / 'preview.png'}")


def _validate(
    path: str, obj: ObjectInput, grasps: GraspSamples, model: GraspPipeline, config: GraspPhysicsConfig
) -> tuple[ObjectBody, GraspPhysicsResult]:
    """The object as a free body and the physics outcome of every grasp, in the grasps' (input) frame, metres.

    A mesh is taken as it is (divided by 1000 where its samples were taken for millimetres); a cloud
    as cleaned for the proposals, with the file's normals where it had them, else normals estimated
    by the physics module. A DataError of the body's build names the file and this step.
    """
    from interhandgen_core.physics.grasp_validation import PosedHands, validate_grasps
    from interhandgen_core.physics.hand_bodies import HandParts
    from interhandgen_core.physics.object_body import object_body_from_mesh, object_body_from_points

    cloud = grasps.cloud
    try:
        if obj.mesh_vertices is not None and obj.mesh_faces is not None:
            scale = 1.0 / MILLIMETRES_PER_METRE if cloud.from_millimetres else 1.0
            body = object_body_from_mesh(obj.mesh_vertices * scale, obj.mesh_faces, config)
        else:
            normals = cloud.normals if obj.normals is not None else None
            body = object_body_from_points(cloud.to_input_frame(cloud.points), normals, config)
    except DataError as err:
        raise DataError(
            f"{path}: the physics validation cannot make a solid of it: {err}; nothing was written"
        ) from None
    hands = [
        PosedHands(grasps.left_vertices.cpu(), HandParts.from_layer(model.left_layer)),
        PosedHands(grasps.right_vertices.cpu(), HandParts.from_layer(model.right_layer)),
    ]
    return body, validate_grasps(body, hands, config)


def _held_columns(result: GraspPhysicsResult) -> list[str]:
    """Per grasp: " yes|no  +x -x ..." (the directions held, DIRECTIONS order; "none" where it held none)."""
    names = np.asarray(result.DIRECTIONS)
    return [
        f" {'yes' if ok else 'no':>4}  {' '.join(names[row]) or 'none'}"
        for ok, row in zip(result.success, result.held, strict=True)
    ]


def _physics_report(
    path: str, config: GraspPhysicsConfig, body: ObjectBody, result: GraspPhysicsResult, grasps: GraspSamples
) -> dict[str, Any]:
    """physics.json: the configuration, the object's body, and per grasp (rank order) the outcome of each push.

    Arrays are per grasp, directions in ``directions`` order; metres and degrees; a simulation that
    diverged (displacement infinite) is written as null.
    """
    return {
        "object": path,
        "config": config.to_dict(),
        "object_body": {
            "method": body.method,
            "convex_parts": body.num_parts,
            "volume_m3": body.volume,
            "mass_kg": body.mass,
            "build_seconds": body.build_seconds,
        },
        "directions": list(result.DIRECTIONS),
        "grasps": result.num_grasps,
        "success_rate": float(result.success.mean()),
        "success_top_k": float(result.success[:PHYSICS_TOP_K].mean()),
        "top_k": min(PHYSICS_TOP_K, result.num_grasps),
        "held_per_direction": dict(zip(result.DIRECTIONS, result.held.mean(axis=0).tolist(), strict=True)),
        "grasps_per_second": result.grasps_per_second,
        "seconds": result.seconds,
        "per_grasp": {
            "score": grasps.scores.cpu().tolist(),
            "success": result.success.tolist(),
            "held": result.held.tolist(),
            "displacement_m": _json_numbers(result.displacement_m),
            "rotation_deg": _json_numbers(result.rotation_deg),
            "settle_displacement_m": _json_numbers(result.settle_displacement_m),
            "settle_rotation_deg": _json_numbers(result.settle_rotation_deg),
            "initial_penetration_m": _json_numbers(result.initial_penetration_m),
        },
    }


def _json_numbers(values: NDArray[np.float64]) -> list[Any]:
    """An array -> nested lists of floats, None where a value is not finite (JSON has no Infinity)."""
    numbers = values.astype(object)
    numbers[~np.isfinite(values)] = None
    return list(numbers.tolist())
