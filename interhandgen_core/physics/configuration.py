"""Typed configuration of the physics validation of bimanual grasps (physics/grasp_validation.py).

The field declarations (default, range, units, help; interhandgen_core/config.py) are the single
source of truth: the CLI options of ``interhandgen evaluate grasps --physics`` are generated from
them.

The protocol and where its numbers come from:
    hands        kinematic, at the grasp pose, each translated ``press_depth`` (5 mm, the issue's
                 protocol) towards the object: the rigid-hand version of the "squeeze pose" of
                 DexGraspBench (BODex, Chen et al., ICRA 2025), whose fingers close a little past
                 the grasp.
    settle       ``settle_time`` without disturbance, the object's motion damped (a quasi-static
                 press: the hands close slowly, they do not kick the object); a grasp whose object
                 then moved more than the thresholds is not held in any direction (the press alone
                 pushes it away: no opposing contact).
    disturbance  from the settled state, the object's weight (x ``push_force_factor``) along +x, -x,
                 +y, -y, +z, -z in turn, each for ``push_time``, gravity off otherwise: DexGraspBench
                 pushes with 10 m/s^2 x the object's mass along the six axes for 2 s; DexGraspNet
                 (Wang et al., ICRA 2023) turns gravity to the six directions in turn.
    failure      the object's centre of mass moves more than ``max_displacement`` or it turns more
                 than ``max_rotation_deg`` from its settled pose at any time during a push.
                 DexGraspBench fails beyond 5 cm or 15 degrees; we take 2 cm and 10 degrees: a
                 planner that closes its hands where we say needs the object near where it planned,
                 and the stricter bound costs nothing (an object that is not held is gone by far
                 more than 5 cm within the push: it accelerates at 1 g).
    penetration  a grasp whose hands start more than ``max_initial_penetration`` inside the object
                 (before the press) fails every direction: DexGraspBench's ``max_pene`` (1 cm); a
                 deeply sunk hand wedges the object with unphysical forces.
    contacts     MuJoCo soft contacts as DexGraspBench sets them: elliptic friction cones with
                 torsional friction (condim 4), friction 0.6 and torsional 0.02, impratio 10,
                 2 no-slip iterations, the implicit-fast integrator with a 4 ms step, stiff hand
                 contacts (solref time constant 5 ms, solimp 0.5, 0.99, 0.1 mm).
    mass         density x volume of the convex parts (500 kg/m^3: between wood and water), or a
                 fixed ``object_mass`` (DexGraspBench: 0.1 kg whatever the size). MuJoCo's contact
                 forces are mass-scaled (constraint impedance acts on accelerations), so the outcome
                 hardly depends on the mass; the push scales with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from interhandgen_core.config import ConfigBase, setting


@dataclass(frozen=True)
class GraspPhysicsConfig(ConfigBase):
    """Parameters of the physics validation (module docstring for the protocol and its sources)."""

    friction: float = setting(
        0.6, low=0.0, high=2.0, help="sliding friction coefficient between hands and object (DexGraspBench: 0.6)"
    )
    torsional_friction: float = setting(
        0.02,
        low=0.0,
        high=0.1,
        units="metres",
        help="torsional friction between hands and object (DexGraspBench: 0.02)",
    )
    press_depth: float = setting(
        0.005, low=0.0, high=0.02, units="metres", help="each hand is translated this far towards the object"
    )
    contact_band: float = setting(
        0.01,
        low=0.0,
        low_open=True,
        high=0.05,
        units="metres",
        help="hand vertices within this of the hand's closest approach to the object set its press direction",
    )
    max_initial_penetration: float = setting(
        0.01,
        low=0.0,
        low_open=True,
        allow_inf=True,
        units="metres",
        help="a grasp whose hands start deeper than this inside the object fails (DexGraspBench: 1 cm)",
    )
    object_density: float = setting(
        500.0, low=0.0, low_open=True, high=20000.0, units="kg/m^3", help="object density (mass = density x volume)"
    )
    object_mass: float = setting(
        0.0, low=0.0, high=100.0, units="kg", help="fixed object mass whatever its size; 0: from the density"
    )
    push_force_factor: float = setting(
        1.0, low=0.0, low_open=True, high=10.0, help="push along each direction, in multiples of the object's weight"
    )
    settle_time: float = setting(
        0.2, low=0.0, high=5.0, units="seconds", help="time the pressed grasp settles before the pushes (damped)"
    )
    push_time: float = setting(1.0, low=0.0, low_open=True, high=10.0, units="seconds", help="duration of each push")
    max_displacement: float = setting(
        0.02,
        low=0.0,
        low_open=True,
        high=1.0,
        units="metres",
        help="a push fails when the object's centre of mass moves more than this (DexGraspBench: 5 cm)",
    )
    max_rotation_deg: float = setting(
        10.0,
        low=0.0,
        low_open=True,
        high=180.0,
        units="degrees",
        help="a push fails when the object turns more than this (DexGraspBench: 15 degrees)",
    )
    timestep: float = setting(
        0.004, low=0.0005, high=0.01, units="seconds", help="simulation time step (DexGraspBench: 4 ms)"
    )
    impratio: float = setting(
        10.0, low=1.0, high=100.0, help="MuJoCo impratio: friction-to-normal impedance ratio, higher slips less"
    )
    noslip_iterations: int = setting(2, low=0, high=50, help="MuJoCo no-slip solver iterations (0: off)")
    contact_time_constant: float = setting(
        0.005,
        low=0.001,
        high=0.1,
        units="seconds",
        help="time constant of the hand contacts (MuJoCo solref): smaller is stiffer",
    )
    max_object_faces: int = setting(
        20_000, low=1000, help="a larger object mesh is simplified (vertex clustering) to about this many faces"
    )
    max_convex_parts: int = setting(16, low=1, high=256, help="most convex parts of a non-convex object (coacd)")
    concavity_threshold: float = setting(
        0.05, low=0.01, high=1.0, help="coacd concavity threshold: larger gives fewer, coarser parts"
    )
    convexity_tolerance: float = setting(
        0.03,
        low=0.0,
        high=1.0,
        help="a closed piece of the object whose convex hull is at most this fraction larger in volume is its own hull",
    )
    threads: int = setting(0, low=0, high=256, help="simulation threads (mujoco.rollout); 0: one per CPU core")
    rank_candidates: int = setting(
        0,
        low=0,
        high=4096,
        help="ranking by physics (rank physics) tries only this many proposals, those best by the score; the "
        "others rank after every one that held a push, by the score (0: all; README 'Physics validation': what "
        "8 of 32 keep and save)",
    )
