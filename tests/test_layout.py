"""mlsteer.layout names every path in the folders mlsteer writes, with the names run folders had
before it existed (so they resume), and sweep records are read through their dataclass."""

import json
from pathlib import Path

import torch

from mlsteer.analysis.paired import Comparison
from mlsteer.analysis.sweep import LanguageSweep
from mlsteer.layout import (
    AnalysisLayout,
    RunLayout,
    SweepLayout,
    language_file,
    results_file,
    vector_file,
)
from mlsteer.pipeline.sweep import SweepRecord, load_choices

# Paths inside a run folder as the runner wrote them before the layout module.
BEFORE = {
    "config.json": lambda r: r.config,
    "vectors/sw_mse.safetensors": lambda r: vector_file(r.vectors, "sw", "mse"),
    "vectors/sw_to_es_mse.safetensors": lambda r: vector_file(r.vectors, "sw", "mse", "es"),
    "sweep/mse/sweep_xcopa.json": lambda r: r.sweep("mse").record("xcopa"),
    "sweep/mse/sweep_xcopa.md": lambda r: r.sweep("mse").markdown("xcopa"),
    "sweep/mse/sweep_xcopa.html": lambda r: r.sweep("mse").figure("xcopa"),
    "sweep/mse/validation": lambda r: r.sweep("mse").validation,
    "sweep/mse/test": lambda r: r.sweep("mse").test,
    "chosen/mse": lambda r: r.chosen("mse"),
    "chosen/mse/sw.safetensors": lambda r: r.chosen_vector("mse", "sw"),
    "eval": lambda r: r.eval,
    "eval/results.sqlite": lambda r: r.results,
    "analysis/similarity/similarity.json": lambda r: r.analysis("similarity").similarity(),
    "analysis/similarity/similarity_centered.json": lambda r: r.analysis("similarity").similarity(
        centered=True
    ),
    "analysis/similarity/distances_L9.json": lambda r: r.analysis("similarity").distances(9),
    "analysis/lens/lens_sw.json": lambda r: r.analysis("lens").lens("sw"),
    "analysis/wendler/wendler_zh.json": lambda r: r.analysis("wendler").wendler("zh"),
    "analysis/pca/pca.json": lambda r: r.analysis("pca").pca(),
    "analysis/transfer/transfer_xcopa.json": lambda r: r.analysis("transfer").transfer("xcopa"),
    "examples": lambda r: r.examples,
    "summary.md": lambda r: r.summary,
    "report.html": lambda r: r.report,
    "exports": lambda r: r.exports,
}


def test_run_layout_paths_are_the_ones_run_folders_already_use(tmp_path):
    layout = RunLayout(tmp_path)
    for relative, path in BEFORE.items():
        assert path(layout) == tmp_path / relative, relative


def test_sweep_and_analysis_folders():
    assert SweepLayout(Path("s")).vectors == Path("s/vectors")
    assert AnalysisLayout(Path("p")).pivot("xnli") == Path("p/pivot_xnli.json")
    assert AnalysisLayout(Path("p")).vectors == Path("p/vectors")
    assert language_file("f", "zh") == Path("f/zh.safetensors")
    assert results_file("run") == Path("run/results.sqlite")


def _language(lang: str, chosen: tuple[int, float]) -> LanguageSweep:
    return LanguageSweep(
        lang,
        (1, 2),
        (1.0,),
        torch.tensor([[0.5], [0.75]]),
        0.5,
        chosen,
        {"vector": Comparison(0.6, 0.1, 0.1, 0.05, 10)},
        0.5,
    )


def test_sweep_records_round_trip_and_list_their_choices(tmp_path):
    record = SweepRecord("xcopa", "m", "mse-rel", "../../vectors", [_language("sw", (2, 1.0))])
    again = SweepRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again.to_dict() == record.to_dict()
    [choice] = again.choices(tmp_path / "sweep" / "mse-rel").values()
    assert choice.path == tmp_path / "sweep" / "mse-rel" / "../../vectors/sw_mse-rel.safetensors"
    assert (choice.layer, choice.alpha) == (2, 1.0)


def test_a_sweep_written_before_the_vectors_key_still_loads(tmp_path):
    """Older sweep files have no ``vectors`` key: their vectors sit in the sweep's own folder."""
    old = {
        "task": "xcopa",
        "model": "m",
        "learner": "mse",
        "languages": [_language("sw", (1, 1.0)).to_dict()],
    }
    (tmp_path / "sweep_xcopa.json").write_text(json.dumps(old))
    choice = load_choices(tmp_path, "xcopa")["sw"]
    assert choice.path == tmp_path / "vectors" / "sw_mse.safetensors" and choice.layer == 1


def test_run_layout_finds_every_learners_sweep_record(tmp_path):
    layout = RunLayout(tmp_path)
    for learner in ("mse", "bipo"):
        path = layout.sweep(learner).record("xcopa")
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    (tmp_path / "sweep" / "mse" / "other.json").write_text("{}")
    assert layout.sweep_records() == [
        layout.sweep("bipo").record("xcopa"),
        layout.sweep("mse").record("xcopa"),
    ]
