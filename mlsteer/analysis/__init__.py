"""Analyses: pure functions over cached activations or stored results (no model access)."""
