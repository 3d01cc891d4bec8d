"""Steering: the vector format, the hook that adds it, and generation that respects positions."""

from mlsteer.steering.generate import Generation, generate
from mlsteer.steering.hooks import POSITIONS, SCALES, position_mask, steer, steering_delta
from mlsteer.steering.vector import SteeringVector

__all__ = [
    "POSITIONS",
    "SCALES",
    "Generation",
    "SteeringVector",
    "generate",
    "position_mask",
    "steer",
    "steering_delta",
]
