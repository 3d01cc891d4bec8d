"""Scoring, methods, the resumable store and the tables, on a tiny model and fixture files."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mlsteer.errors import IncompatibleVectorError, MlsteerError
from mlsteer.evaluation.methods import FewShot, parse_method
from mlsteer.evaluation.runner import evaluate, plan_batches
from mlsteer.evaluation.scoring import score_choices, score_choices_loop
from mlsteer.evaluation.table import build_tables, export_tables
from mlsteer.evaluation.tasks.xcopa import XCOPA
from mlsteer.steering import SteeringVector

from .tolerances import FORWARD, approx_scaled

LANGS = ("id", "it", "sw")


def write_xcopa(folder, n_test=24, n_val=8):
    for lang in LANGS:
        path = folder / "xcopa" / lang
        path.mkdir(parents=True, exist_ok=True)
        for split, n in (("test", n_test), ("val", n_val)):
            rows = [
                {
                    "premise": f"{lang} premise number {i}.",
                    "choice1": f"First {i}.",
                    "choice2": f"Second option {i}.",
                    "question": "cause" if i % 2 else "effect",
                    "label": i % 2,
                    "idx": i,
                    "changed": False,
                }
                for i in range(n)
            ]
            (path / f"{split}.{lang}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
            )
    return folder


@pytest.fixture
def data_dir(tmp_path):
    return write_xcopa(tmp_path / "data")


def test_batched_scorer_equals_one_forward_per_option(tiny_model, data_dir):
    task = XCOPA()
    queries = [task.render(e) for e in task.load("sw", data_dir=data_dir, limit=6)]
    batched = score_choices(tiny_model, queries, batch_size=5)
    looped = score_choices_loop(tiny_model, queries)
    for a, b in zip(batched, looped):
        assert a.logprobs == approx_scaled(
            b.logprobs, FORWARD
        )  # padded batch vs one sequence: other kernels
        assert a.prediction == b.prediction


def test_steering_changes_scores(tiny_gemma, data_dir):
    from mlsteer.steering import steer

    task = XCOPA()
    queries = [task.render(e) for e in task.load("sw", data_dir=data_dir, limit=4)]
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(0)) * 3,
        1,
        "t",
        tiny_gemma.fingerprint,
    )
    plain = score_choices(tiny_gemma, queries)
    with steer(tiny_gemma, vector):
        steered = score_choices(tiny_gemma, queries)
    assert plain[0].logprobs != approx_scaled(
        steered[0].logprobs, FORWARD
    )  # moved past rounding noise


def test_fewshot_never_leaks_the_evaluated_item_and_stays_in_language(tiny_gemma, data_dir):
    task = XCOPA()
    method = FewShot(k=5)
    for lang in ("sw", "it"):  # set up for several languages first, as the runner does
        method.setup(tiny_gemma, task, lang, data_dir, 0, data_dir)
    pool = method.pools[("xcopa", "sw")]
    # evaluate the few-shot pool itself: every item must be left out of its own shots
    for example in pool:
        shots = method.shots(task, example)
        assert len(shots) == 5 and example.id not in {s.id for s in shots}
        assert {s.lang for s in shots} == {"sw"}
        query = method.queries(tiny_gemma, task, [example])[0]
        assert query.context.count(example.fields["premise"].rstrip(".")) == 1
        assert "it premise" not in query.context
    assert method.shots(task, pool[0]) == method.shots(task, pool[0])  # seeded


def test_run_table_and_resume_without_duplicates(tiny_gemma, data_dir, tmp_path):
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(1)), 1, "t", tiny_gemma.fingerprint
    )
    path = vector.save(tmp_path / "v.safetensors")
    methods = parse_method("basic") + parse_method(f"steered:{path}@1.0")
    assert [m.name for m in methods] == [
        "basic",
        "steered:v@1",
        "steered:v@1:negated",
        "steered:v@1:random",
    ]
    run = tmp_path / "run"
    store = evaluate(
        tiny_gemma, XCOPA(), ["sw", "it"], methods, run, limit=10, data_dir=data_dir, progress=False
    )
    assert len(store.rows()) == 2 * 4 * 10
    again = evaluate(
        tiny_gemma, XCOPA(), ["sw", "it"], methods, run, limit=10, data_dir=data_dir, progress=False
    )
    assert len(again.rows()) == 80  # nothing recomputed, nothing duplicated
    [table] = build_tables(again)
    rows = again.rows(method="basic", lang="sw")
    assert table.cells["basic"]["sw"].accuracy == pytest.approx(sum(r.correct for r in rows) / 10)
    assert table.cells["basic"]["avg"].accuracy == pytest.approx(
        (table.cells["basic"]["sw"].accuracy + table.cells["basic"]["it"].accuracy) / 2
    )
    assert set(table.columns()) >= {"sw", "it", "avg", "high", "low"}
    assert "steered:v@1:negated" in table.markdown()
    assert all(p.exists() for p in export_tables([table], run))


def _vector_files(model, folder):
    """One vector file, and a folder with a different vector per language (sw, it)."""

    def make(seed: int) -> SteeringVector:
        return SteeringVector(
            torch.randn(64, generator=torch.Generator().manual_seed(seed)) * 3,
            1,
            "t",
            model.fingerprint,
        )

    single = make(1).save(folder / "v.safetensors")
    (folder / "per_lang").mkdir()
    make(2).save(folder / "per_lang" / "sw.safetensors")
    make(3).save(folder / "per_lang" / "it.safetensors")
    return single, folder / "per_lang"


def _mixed_methods(model, folder):
    single, per_lang = _vector_files(model, folder)
    return (
        parse_method("basic")
        + parse_method("fewshot:2")
        + parse_method(f"steered:{single}@1")
        + parse_method(f"steered:{per_lang}@1", controls=False)
    )


def test_cells_sharing_a_model_state_share_full_batches(tiny_gemma, data_dir, tmp_path):
    task = XCOPA()
    methods = _mixed_methods(tiny_gemma, tmp_path)
    for lang in ("sw", "it"):
        for method in methods:
            method.setup(tiny_gemma, task, lang, data_dir, 0, tmp_path)
    todo = {
        (lang, m): task.load(lang, data_dir=data_dir, limit=6)
        for lang in ("sw", "it")
        for m in methods
    }
    batches = plan_batches(tiny_gemma, task, todo, batch_size=4)
    planned = sorted((lang, m.name, e.id) for batch in batches for lang, m, e in batch)
    assert planned == sorted(
        (lang, m.name, e.id) for (lang, m), items in todo.items() for e in items
    )  # each once
    groups: dict = {}
    for batch in batches:
        [state] = {m.state(lang) for lang, m, _ in batch}  # one model state per batch
        groups.setdefault(state, []).append(batch)
    # plain prompts (basic + fewshot, both languages) | the file's vector, negated, random (both
    # languages each) | the folder's sw vector | its it vector
    assert len(groups) == 1 + 3 + 2
    plain = groups[()]
    assert {(lang, m.name) for batch in plain for lang, m, _ in batch} == {
        (lang, name) for lang in ("sw", "it") for name in ("basic", "fewshot2")
    }
    assert [len(batch) for batch in plain] == [
        4
    ] * 6  # 24 items in 6 full batches (cell by cell: 8 batches)
    lengths = [m.length_hint(task, e) for batch in plain for _, m, e in batch]
    assert lengths == sorted(lengths, reverse=True)  # longest first: few-shot prompts together
    for state, group in groups.items():
        assert all(len(batch) == 4 for batch in group[:-1]), state


def test_batched_cells_give_the_rows_of_one_cell_at_a_time(tiny_gemma, data_dir, tmp_path):
    methods = _mixed_methods(tiny_gemma, tmp_path)
    langs = ["sw", "it"]
    grouped = evaluate(
        tiny_gemma,
        XCOPA(),
        langs,
        methods,
        tmp_path / "grouped",
        limit=5,
        data_dir=data_dir,
        batch_size=4,
        progress=False,
    )
    for lang in langs:
        for method in methods:
            alone = evaluate(
                tiny_gemma,
                XCOPA(),
                [lang],
                [method],
                tmp_path / "alone",
                limit=5,
                data_dir=data_dir,
                batch_size=4,
                progress=False,
            )
    rows = lambda store: {(r.lang, r.method, r.item_id): r.scores for r in store.rows()}  # noqa: E731
    together, apart = rows(grouped), rows(alone)
    assert together.keys() == apart.keys() and len(together) == 2 * 6 * 5
    for key, scores in together.items():
        assert scores == approx_scaled(apart[key], FORWARD), (
            key
        )  # other batch neighbours: other padding
    # the steered rows ran under their own vector: they differ from basic past rounding noise
    some = next(item for lang, method, item in together if method == "basic")
    assert together[("sw", "steered:per_lang@1", some)] != approx_scaled(
        together[("sw", "basic", some)], FORWARD
    )


def test_bad_input_is_refused_before_anything_is_written(tiny_gemma, data_dir, tmp_path):
    with pytest.raises(MlsteerError, match="xcopa has no 'fr' \\(French\\); it has: "):
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw", "fr"],
            parse_method("basic"),
            tmp_path / "a",
            data_dir=data_dir,
        )
    other = SteeringVector(torch.ones(64), 1, "t", "tiny-llama@000000000000").save(
        tmp_path / "o.safetensors"
    )
    with pytest.raises(IncompatibleVectorError, match="learned on tiny-llama"):
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw"],
            parse_method(f"steered:{other}@1"),
            tmp_path / "b",
            data_dir=data_dir,
        )
    assert (
        not (tmp_path / "a" / "results.sqlite").exists()
        and not (tmp_path / "b" / "results.sqlite").exists()
    )
    with pytest.raises(MlsteerError, match="unknown method 'beam'"):
        parse_method("beam")
    with pytest.raises(MlsteerError, match="oracle translate-test needs a parallel benchmark"):
        evaluate(
            tiny_gemma,
            XCOPA(),
            ["sw"],
            parse_method("translate_test"),
            tmp_path / "c",
            data_dir=data_dir,
            progress=False,
        )


def test_killed_run_resumes_with_no_lost_or_duplicate_rows(tmp_path):
    data = write_xcopa(tmp_path / "data", n_test=60)
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "mlsteer",
        "eval",
        "--task",
        "xcopa",
        "--langs",
        "sw",
        "--method",
        "basic",
        "--method",
        "fewshot:2",
        "--out",
        str(run),
        "--data-dir",
        str(data),
        "-m",
        "tiny-gemma3",
        "--batch-size",
        "2",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    database = run / "results.sqlite"
    deadline = time.time() + 120
    count = 0
    while time.time() < deadline and process.poll() is None:
        if database.exists():
            try:
                count = (
                    sqlite3.connect(database).execute("SELECT COUNT(*) FROM results").fetchone()[0]
                )
            except sqlite3.OperationalError:
                count = 0
            if count >= 10:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 10 <= count < 120, "the run should be killed part-way"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    connection = sqlite3.connect(database)
    assert connection.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 120
    assert (
        connection.execute("SELECT COUNT(DISTINCT method || item_id) FROM results").fetchone()[0]
        == 120
    )
    # the resumed rows equal those of an uninterrupted run
    fresh = tmp_path / "fresh"
    subprocess.run(
        [*command[:13], str(fresh), *command[14:]],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )

    def rows(db: Path) -> list:
        return sorted(
            sqlite3.connect(db).execute("SELECT method, item_id, prediction FROM results")
        )

    assert rows(database) == rows(fresh / "results.sqlite")


class _UpperCaser:
    """A stand-in translator: records what it was asked, 'translates' by upper-casing."""

    name = "upper"

    def __init__(self):
        self.calls = []

    def translate(self, texts, source_lang):
        self.calls.append(list(texts))
        return [t.upper() for t in texts]


def test_translate_test_translates_fields_and_caches(tiny_gemma, data_dir, tmp_path):
    from mlsteer.evaluation.methods import TranslateTest
    from mlsteer.evaluation.translation import CachedTranslator

    task = XCOPA()
    examples = task.load("sw", data_dir=data_dir, limit=3)
    inner = _UpperCaser()
    method = TranslateTest("oracle")
    method.translator = CachedTranslator(inner, tmp_path / "cache.jsonl")
    queries = method.queries(tiny_gemma, task, examples)
    assert queries[0].context.startswith(examples[0].fields["premise"].upper().rstrip("."))
    assert queries[0].context.endswith(("because", "therefore"))  # rendered with English connectors
    again = CachedTranslator(inner, tmp_path / "cache.jsonl")  # a new run reads the cache file
    method.translator = again
    method.queries(tiny_gemma, task, examples)
    assert len(inner.calls) == 1


def test_self_translate_runs_end_to_end(tiny_gemma, data_dir, tmp_path):
    store = evaluate(
        tiny_gemma,
        XCOPA(),
        ["sw"],
        parse_method("self_translate") + parse_method("xlt"),
        tmp_path / "run",
        limit=2,
        data_dir=data_dir,
        progress=False,
    )
    assert {r.method for r in store.rows()} == {"self_translate", "xlt"}
    assert (tmp_path / "run" / "translations" / "self.jsonl").exists()


def test_nllb_translator_plumbing(monkeypatch):
    """NLLBTranslator passes FLORES codes and reads translation_text (pipeline stubbed: the
    600M weights are not available offline)."""
    import transformers

    from mlsteer.evaluation.translation import NLLBTranslator

    seen = {}

    def fake_pipeline(task, model, device):
        seen.update(task=task, model=model)

        def run(texts, src_lang, tgt_lang, batch_size):
            seen.update(src=src_lang, tgt=tgt_lang)
            return [{"translation_text": f"<{t}>"} for t in texts]

        return run

    monkeypatch.setattr(transformers, "pipeline", fake_pipeline)
    translator = NLLBTranslator("some/local/nllb")
    assert translator.translate(["Habari", "Asante"], "sw") == ["<Habari>", "<Asante>"]
    assert seen == {
        "task": "translation",
        "model": "some/local/nllb",
        "src": "swh_Latn",
        "tgt": "eng_Latn",
    }
