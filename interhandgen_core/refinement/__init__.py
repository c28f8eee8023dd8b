"""HandPriorRefiner: a noisy two-hand tracker's output refined with the prior as a critic (Eq. 9):
observations, the prior term, the objective, the solver and the tracking state machine.

Layer (ARCHITECTURE.md): above pipelines; imports pipelines and the layers below.
"""
