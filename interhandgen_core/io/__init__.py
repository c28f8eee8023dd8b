"""File formats only: hands files, meshes (PLY), object files (meshes and clouds), dataset JSON,
resumable conversion parts.

Layer (ARCHITECTURE.md): above contact, beside visualization (independent of it).
"""
