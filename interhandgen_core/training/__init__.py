"""Training of the priors: the diffusion loss of Algorithm 1 (loss.py), the training loop with
DDP and resume (loop.py; ``torchrun -m interhandgen_core.training.loop``), the VAE baseline's
training (vae.py).

Layer (ARCHITECTURE.md): above data; imports data, prior and the layers below.
"""
