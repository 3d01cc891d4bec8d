"""Steering: vectors and maps, their file format, the hook that applies them, and generation."""

from mlsteer.steering.files import load_steering, save_steering
from mlsteer.steering.generate import Generation, generate
from mlsteer.steering.hooks import POSITIONS, SCALES, position_mask, steer
from mlsteer.steering.vector import Steering, SteeringMap, SteeringVector, check_compatible

__all__ = [
    "POSITIONS",
    "SCALES",
    "Generation",
    "Steering",
    "SteeringMap",
    "SteeringVector",
    "check_compatible",
    "generate",
    "load_steering",
    "position_mask",
    "save_steering",
    "steer",
]
