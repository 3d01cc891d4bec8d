"""``mlsteer run CONFIG``: the paper's pipeline end to end from one TOML file."""

from mlsteer.experiment.config import ExperimentConfig, load_config
from mlsteer.experiment.runner import run_experiment

__all__ = ["ExperimentConfig", "load_config", "run_experiment"]
