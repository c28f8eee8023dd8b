"""InterHandGen: the entry point that loads a checkpoint into the pipeline for its kind.

>>> from interhandgen_core import InterHandGen, default_object_checkpoint
>>> model = InterHandGen.from_pretrained()                          # TwoHandPipeline (pipelines/two_hand.py)
>>> samples = model.sample(16, seed=0)                              # TwoHandSamples
>>> grasper = InterHandGen.from_pretrained(default_object_checkpoint())   # GraspPipeline (pipelines/grasp.py)
>>> grasps = grasper.sample(32, seed=0, object_points=cloud)        # GraspSamples; cloud (P, 3) metres, z up

For the shipped priors a type checker knows which pipeline comes back (their paths are typed,
pipelines/shipped_priors.py); for any other path it is ``TwoHandPipeline | GraspPipeline``,
decided by the checkpoint. Code that needs one kind loads it with
``TwoHandPipeline.from_pretrained(path)`` or ``GraspPipeline.from_pretrained(path)``, which
refuse the other kind with an error that names the right pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import overload

import torch

from interhandgen_core.pipelines.grasp import GraspPipeline
from interhandgen_core.pipelines.prior_pipeline import load_pretrained
from interhandgen_core.pipelines.shipped_priors import ObjectCheckpoint, TwoHandCheckpoint, default_checkpoint
from interhandgen_core.pipelines.two_hand import TwoHandPipeline
from interhandgen_core.runtime.configuration import BackendConfig


class InterHandGen:
    """Loads priors into pipelines; not instantiated."""

    @overload
    @staticmethod
    def from_pretrained(
        path: ObjectCheckpoint,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> GraspPipeline: ...

    @overload
    @staticmethod
    def from_pretrained(
        path: TwoHandCheckpoint | None = None,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> TwoHandPipeline: ...

    @overload
    @staticmethod
    def from_pretrained(
        path: str | Path,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> TwoHandPipeline | GraspPipeline: ...

    @staticmethod
    def from_pretrained(
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
        backend: BackendConfig | None = None,
    ) -> TwoHandPipeline | GraspPipeline:
        """Load a checkpoint (the shipped two-hand prior when ``path`` is None), its hand model and the
        denoiser's runtime backend (torch eager when ``backend`` is None; runtime/backend.py) ->
        GraspPipeline for an object-conditioned prior, TwoHandPipeline otherwise."""
        prior, right, left, resolved = load_pretrained(default_checkpoint() if path is None else path, device, mano_dir)
        if prior.object_conditioned:
            return GraspPipeline(prior, right, left, resolved, backend)
        return TwoHandPipeline(prior, right, left, resolved, backend)

    @staticmethod
    def from_separate(
        unconditional: str | Path,
        conditional: str | Path,
        device: str | torch.device = "cpu",
        mano_dir: str | Path | None = None,
    ) -> TwoHandPipeline:
        """The "w/o Shared Network" baseline (TwoHandPipeline.from_separate)."""
        return TwoHandPipeline.from_separate(unconditional, conditional, device, mano_dir)
