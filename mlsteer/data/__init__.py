"""Data: parallel text shipped with mlsteer (written by the project) and readers for pair files."""

from mlsteer.data.pairs import ParallelPairs, builtin_pairs, read_tsv_pairs

__all__ = ["ParallelPairs", "builtin_pairs", "read_tsv_pairs"]
