"""interhandgen_core: a generative prior of two interacting hands (InterHandGen, CVPR 2024).

Data flow: data -> hands -> prior (representation, denoiser, schedule, training) ->
sampler / refiner -> runtime. The entry points for users are :class:`InterHandGen`
(sampling, grasps) and :class:`HandPriorRefiner` (refining noisy two-hand estimates).
"""

from interhandgen_core.pipelines.interhandgen import (
    GraspSamples,
    InterHandGen,
    TwoHandSamples,
    default_checkpoint,
    default_object_checkpoint,
)
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

__all__ = [
    "GraspSamples",
    "HandObservation",
    "HandPriorRefiner",
    "InterHandGen",
    "RefinedHands",
    "RefinerConfig",
    "TwoHandObservation",
    "TwoHandSamples",
    "default_checkpoint",
    "default_object_checkpoint",
]
__version__ = "0.1.0"
