"""interhandgen_core: a generative prior of two interacting hands (InterHandGen, CVPR 2024).

Layers, bottom first (ARCHITECTURE.md; each imports only those below it, checked by
lint-imports): foundation (errors, config, restricted_pickle, array_files) -> geometry ->
hands -> contact -> io | visualization -> prior -> runtime -> pipelines -> refinement ->
data -> training -> evaluation -> cli. The entry points for users are :class:`InterHandGen`
(``from_pretrained`` gives a :class:`TwoHandPipeline` for a two-hand prior, a
:class:`GraspPipeline` for an object-conditioned one) and :class:`HandPriorRefiner`
(refining noisy two-hand estimates).
"""

from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.interhandgen import InterHandGen
from interhandgen_core.pipelines.samples import GraspSamples, TwoHandSamples
from interhandgen_core.pipelines.shipped_priors import default_checkpoint, default_object_checkpoint
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.refinement.configuration import RefinerConfig
from interhandgen_core.refinement.observation import HandObservation, TwoHandObservation
from interhandgen_core.refinement.refiner import HandPriorRefiner, RefinedHands

__all__ = [
    "GraspPipeline",
    "GraspSamples",
    "HandObservation",
    "HandPriorRefiner",
    "InterHandGen",
    "RefinedHands",
    "RefinerConfig",
    "TwoHandObservation",
    "TwoHandPipeline",
    "TwoHandSamples",
    "default_checkpoint",
    "default_object_checkpoint",
]
__version__ = "0.1.0"
