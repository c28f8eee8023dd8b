"""Denoiser backends behind one interface (backend.py): torch eager, CUDA graphs, ONNX Runtime,
TensorRT; the factory that picks one (factory.py), ONNX export and the TensorRT engine cache.

Layer (ARCHITECTURE.md): above prior; imports prior and the layers below.
"""
