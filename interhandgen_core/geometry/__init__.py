"""Geometry on batched tensors: rotations, mirroring (Gamma), normals, nearest neighbours, winding
numbers, point-to-surface distance, primitive solids, point sampling, voxel occupancy.

Layer (ARCHITECTURE.md): the lowest package; imports only the foundation modules (errors).
"""
