"""Pipelines: a trained prior, its hand model and a runtime backend behind one ``sample`` each.

interhandgen.py     InterHandGen.from_pretrained: a checkpoint -> the pipeline for its kind
two_hand.py         TwoHandPipeline: two-hand prior -> TwoHandSamples (Algorithm 2)
grasp.py            GraspPipeline: object-conditioned prior + cloud -> GraspSamples (paper 3.6)
prior_pipeline.py   what both share: loading, device, backend, batches through the cascade
samples.py          TwoHandSamples, GraspSamples
shipped_priors.py   the checkpoints in the package's assets
sensor_cloud.py     cleaning a depth sensor's object cloud before it is encoded
"""
