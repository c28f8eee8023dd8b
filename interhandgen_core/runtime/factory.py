"""The backend factory: BackendConfig.name -> a DenoiserBackend (runtime/backend.py) around a denoiser.

The one place that knows every backend; each backend module knows only the interface.
Optional backends are imported on demand, so that a machine without onnxruntime or TensorRT
never imports them.
"""

from __future__ import annotations

import torch

from interhandgen_core.errors import ConfigError
from interhandgen_core.prior.denoiser import Denoiser
from interhandgen_core.runtime.backend import DenoiserBackend
from interhandgen_core.runtime.configuration import BackendConfig


def create_backend(denoiser: Denoiser, device: torch.device, config: BackendConfig | None = None) -> DenoiserBackend:
    """A backend running ``denoiser`` (eval mode, already on ``device``) as ``config`` asks.

    onnxruntime and tensorrt export the denoiser to ONNX first (runtime/onnx_export.py, cached
    under config.cache_dir by the weights' fingerprint) unless config.onnx_path names an export.
    """
    config = config or BackendConfig()
    if config.name in ("cuda-graph", "tensorrt") and device.type != "cuda":
        raise ConfigError(f"the {config.name} backend needs a CUDA device, got {device}; use torch or onnxruntime")
    if config.name == "torch":
        from interhandgen_core.runtime.eager import EagerBackend

        return EagerBackend(denoiser, device, config)
    if config.name == "cuda-graph":
        from interhandgen_core.runtime.cuda_graph import CudaGraphBackend

        return CudaGraphBackend(denoiser, device, config)
    from interhandgen_core.runtime.onnx_export import onnx_for_denoiser

    onnx_path = onnx_for_denoiser(denoiser, config)
    dims = (denoiser.config.hand_dim, denoiser.config.object_embedding_dim)
    if config.name == "onnxruntime":
        from interhandgen_core.runtime.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(onnx_path, config, device, *dims)
    from interhandgen_core.runtime.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(onnx_path, config, device, *dims)
