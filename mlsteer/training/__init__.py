"""Training of whole models (the SFT baseline); steering vectors are learned in `mlsteer.learners`."""
