"""interhandgen_core: a generative prior of two interacting hands (InterHandGen, CVPR 2024).

Data flow: data -> hands -> prior (representation, denoiser, schedule, training) ->
sampler -> runtime. The entry point for users is :class:`InterHandGen`.
"""

from interhandgen_core.prior.pipeline import (
    GraspSamples,
    InterHandGen,
    TwoHandSamples,
    default_checkpoint,
    default_object_checkpoint,
)

__all__ = ["GraspSamples", "InterHandGen", "TwoHandSamples", "default_checkpoint", "default_object_checkpoint"]
__version__ = "0.1.0"
