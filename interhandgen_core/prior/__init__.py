"""The two-hand prior itself: the 64-number representation and its frames, configurations, the
denoiser, the PointNet++ object encoder, the diffusion schedule, the cascaded sampler with CFG and
anti-penetration guidance (Algorithm 2), checkpoints, the VAE baseline's model.

Layer (ARCHITECTURE.md): above io and visualization; imports nothing from runtime or above.
"""
