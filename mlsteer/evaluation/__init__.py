"""Evaluation: multilingual tasks, the paper's baselines as methods, scoring, a resumable store."""
