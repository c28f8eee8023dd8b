"""Data sets and their making: synthetic two-hand interactions and bimanual grasps, procedural and
articulated objects, training datasets, synthetic motion and a tracker's noise, and the
InterHand2.6M and ARCTIC converters.

Layer (ARCHITECTURE.md): above refinement; imports refinement, pipelines and the layers below.
"""
