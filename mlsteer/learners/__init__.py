"""Learners: pure functions from cached activations to a `SteeringVector`."""

from mlsteer.learners.mean_difference import check_paired, mean_difference

__all__ = ["check_paired", "mean_difference"]
