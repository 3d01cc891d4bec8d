"""Pipelines: the steps that tie data, model, activations and learners together."""
