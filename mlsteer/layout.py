"""Where everything lives inside the folders mlsteer writes: one place for every path, so a
reader (a resumed run, the report, a later command) finds what a writer put there.

- :class:`RunLayout`: an ``mlsteer run`` folder (config, vectors, per-learner sweeps, chosen
  vectors, the evaluation store, analyses, summary, report).
- :class:`SweepLayout`: a sweep folder (``mlsteer sweep --out``, or ``sweep/{learner}`` of a run).
- :class:`AnalysisLayout`: the data files an analysis or matrix pipeline writes to its folder.

Names match the folders written before this module existed, so those runs resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlsteer.evaluation.store import MAIN_FILE as RESULTS_FILE

VECTOR_SUFFIX = ".safetensors"


def vector_file(folder: str | os.PathLike, lang: str, label: str, goal: str = "en") -> Path:
    """``folder/{lang}_{label}.safetensors`` (``{lang}_to_{goal}_{label}`` toward a pivot)."""
    name = f"{lang}_{label}" if goal == "en" else f"{lang}_to_{goal}_{label}"
    return Path(folder) / f"{name}{VECTOR_SUFFIX}"


def language_file(folder: str | os.PathLike, lang: str) -> Path:
    """``folder/{lang}.safetensors``: one language's entry in a language-to-vector folder."""
    return Path(folder) / f"{lang}{VECTOR_SUFFIX}"


def results_file(store_folder: str | os.PathLike) -> Path:
    """The results database of an evaluation folder."""
    return Path(store_folder) / RESULTS_FILE


@dataclass(frozen=True)
class _Folder:
    """A folder whose paths a layout names."""

    root: Path


@dataclass(frozen=True)
class AnalysisLayout(_Folder):
    """The data files (JSON) an analysis writes to its folder; each figure is named like its
    data file's stem."""

    def similarity(self, centered: bool = False) -> Path:
        return self.root / ("similarity_centered.json" if centered else "similarity.json")

    def distances(self, layer: int) -> Path:
        return self.root / f"distances_L{layer}.json"

    def lens(self, lang: str) -> Path:
        return self.root / f"lens_{lang}.json"

    def wendler(self, lang: str) -> Path:
        return self.root / f"wendler_{lang}.json"

    def pca(self) -> Path:
        return self.root / "pca.json"

    def transfer(self, task: str) -> Path:
        return self.root / f"transfer_{task}.json"

    def pivot(self, task: str) -> Path:
        return self.root / f"pivot_{task}.json"

    @property
    def vectors(self) -> Path:
        """Vectors a matrix pipeline learns for itself (``mlsteer pivot``)."""
        return self.root / "vectors"


@dataclass(frozen=True)
class SweepLayout(_Folder):
    """A sweep folder: ``sweep_{task}.json`` / ``.md`` (the figure is named like them), the
    ``validation`` and ``test`` result stores, and by default the learned ``vectors``."""

    def record(self, task: str) -> Path:
        return self.root / f"sweep_{task}.json"

    def markdown(self, task: str) -> Path:
        return self.root / f"sweep_{task}.md"

    def figure(self, task: str) -> Path:
        return self.root / f"sweep_{task}.html"

    @property
    def validation(self) -> Path:
        return self.root / "validation"

    @property
    def test(self) -> Path:
        return self.root / "test"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors"


@dataclass(frozen=True)
class RunLayout(_Folder):
    """An ``mlsteer run`` folder."""

    @property
    def config(self) -> Path:
        """The config that made the run (a different one is refused)."""
        return self.root / "config.json"

    @property
    def vectors(self) -> Path:
        """Every learner's vector files, one entry per layer (:func:`vector_file`)."""
        return self.root / "vectors"

    def sweep(self, learner: str) -> SweepLayout:
        return SweepLayout(self.root / "sweep" / learner)

    def sweep_records(self) -> list[Path]:
        """Every learner's ``sweep_{task}.json``, sorted."""
        pattern = self.sweep("*").record("*").relative_to(self.root)
        return sorted(self.root.glob(str(pattern)))

    def chosen(self, learner: str) -> Path:
        """The learner's chosen vector per language at its chosen strength (:func:`language_file`)."""
        return self.root / "chosen" / learner

    def chosen_vector(self, learner: str, lang: str) -> Path:
        return language_file(self.chosen(learner), lang)

    @property
    def eval(self) -> Path:
        """The evaluation store's folder (and its exported tables)."""
        return self.root / "eval"

    @property
    def results(self) -> Path:
        return results_file(self.eval)

    def analysis(self, name: str) -> AnalysisLayout:
        return AnalysisLayout(self.root / "analysis" / name)

    @property
    def examples(self) -> Path:
        return self.root / "examples"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def exports(self) -> Path:
        return self.root / "exports"
