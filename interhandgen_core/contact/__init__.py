"""Contact physics, one implementation each: the Eq. 7-8 penetration term and the object terms
(penetration.py), interaction measures (interaction.py), grasp measures (grasp_measures.py) and
settling onto an object (settling.py); shared by synthesis, guidance, refinement and evaluation.

Layer (ARCHITECTURE.md): above hands and geometry; imports nothing above them.
"""
