"""Hand models: the core hand type HandParams (hand_params.py), the MANO-format hand layer and
skinning, the procedural hand, MANO pickles and parameters, articulation, keypoint order.

Layer (ARCHITECTURE.md): above geometry; imports geometry and the foundation modules.
"""
