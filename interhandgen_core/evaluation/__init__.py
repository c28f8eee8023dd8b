"""Evaluation: the paper's protocol (feature backbone, FHID/KHID/diversity/precision-recall,
penetration volume, Tables 1 and 3), held-out grasps, tracking figures, and the benchmarks
(inference, training step, refinement).

Layer (ARCHITECTURE.md): below the CLI only; imports every library layer.
"""
