"""The built-in cloze benchmark: its data file, the task (splits, options, no data folder) and a run."""

import json
from collections import Counter
from importlib.resources import files

import pytest

from mlsteer.evaluation.methods import FewShot, parse_method
from mlsteer.evaluation.runner import evaluate
from mlsteer.evaluation.tasks import TASKS, get_task
from mlsteer.evaluation.tasks.cloze import LANGUAGES, UNSPACED, Cloze, option_order, read_items

from .tolerances import FORWARD, approx_scaled

CATEGORIES = {"capital", "colour", "number", "opposite", "calendar", "fact"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    path = files("mlsteer.data").joinpath("builtin", "cloze.jsonl")
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture
def no_data_dir(monkeypatch):
    monkeypatch.delenv("MLSTEER_DATA", raising=False)


# --------------------------------------------------------------------------- the data file


def test_file_has_enough_parallel_items_in_every_category(rows):
    assert len(rows) >= 64
    assert len({row["id"] for row in rows}) == len(rows)
    counts = Counter(row["category"] for row in rows)
    assert set(counts) == CATEGORIES
    assert max(counts.values()) - min(counts.values()) <= 2  # about equal shares
    assert LANGUAGES == ("en", "es", "fr", "de", "zh", "ja", "ru", "sw", "th", "bn", "te")
    for row in rows:
        assert set(row["text"]) == set(LANGUAGES), row["id"]


def test_every_item_has_a_prompt_an_answer_and_three_distinct_distractors(rows):
    for row in rows:
        for lang, entry in row["text"].items():
            where = f"{row['id']} {lang}"
            assert entry["prompt"].strip() == entry["prompt"] and entry["prompt"], where
            answer, distractors = entry["answer"], entry["distractors"]
            assert len(distractors) == 3 and len(set(distractors)) == 3, where
            assert answer not in distractors, where
            assert all(o and o.strip() == o for o in (answer, *distractors)), where


def test_reader_accepts_the_file(rows):
    assert [item["id"] for item in read_items()] == [row["id"] for row in rows]


# --------------------------------------------------------------------------- the task


def test_registered():
    assert isinstance(TASKS["cloze"], Cloze) and get_task("cloze").name == "cloze"
    task = get_task("cloze")
    assert task.kind == "choice" and task.parallel and task.languages == LANGUAGES
    assert (task.test_split, task.fewshot_split) == ("test", "val")
    assert task.description and task.answer_format


def test_splits_by_position_disjoint_and_identical_across_languages(rows, no_data_dir):
    task = get_task("cloze")
    test, val = task.load("en", "test"), task.load("en", "val")
    assert len(val) >= 16 and len(test) >= 48 and len(val) + len(test) == len(rows)
    assert not {e.id for e in test} & {e.id for e in val}
    assert [e.id for e in val] == [row["id"] for i, row in enumerate(rows) if i % 4 == 3]
    assert {e.fields["category"] for e in val} == CATEGORIES  # the few-shot pool has every category
    for lang in LANGUAGES:
        for split, english in (("test", test), ("val", val)):
            examples = task.load(lang, split)
            assert [e.id for e in examples] == [e.id for e in english]
            assert [e.gold for e in examples] == [
                e.gold for e in english
            ]  # same option order everywhere


def test_gold_points_at_the_answer_and_positions_vary(rows, no_data_dir):
    task = get_task("cloze")
    by_id = {row["id"]: row for row in rows}
    golds = []
    for lang in LANGUAGES:
        for example in task.load(lang) + task.load(lang, "val"):
            entry = by_id[example.id]["text"][lang]
            query = task.render(example)
            assert query.context == entry["prompt"]
            space = "" if lang in UNSPACED else " "
            assert query.continuations[example.gold] == space + entry["answer"]
            assert sorted(query.continuations) == sorted(
                space + o for o in (entry["answer"], *entry["distractors"])
            )
            assert task.answer_text(example) == query.continuations[example.gold]
            golds.append(example.gold)
    assert set(golds) == {0, 1, 2, 3}
    assert max(Counter(golds).values()) < 0.4 * len(golds)
    assert option_order("capital-01") == option_order("capital-01")  # seeded, not random per call


def test_spacing_follows_the_script(no_data_dir):
    task = get_task("cloze")
    assert all(c.startswith(" ") for c in task.render(task.load("sw")[0]).continuations)
    for lang in UNSPACED:
        assert not any(c.startswith(" ") for c in task.render(task.load(lang)[0]).continuations)


def test_loads_without_a_data_folder(no_data_dir):
    examples = get_task("cloze").load("sw")
    assert len(examples) >= 48 and examples[0].lang == "sw"


def test_an_unrelated_data_folder_changes_nothing(monkeypatch, tmp_path, no_data_dir):
    task = get_task("cloze")
    builtin = task.load("sw")
    monkeypatch.setenv("MLSTEER_DATA", str(tmp_path / "elsewhere"))
    assert task.load("sw") == builtin
    assert task.load("sw", data_dir=tmp_path) == builtin


def test_english_twin_is_linked(no_data_dir):
    task = get_task("cloze")
    english = {e.id: e for e in task.load("en")}
    for example in task.load("th"):
        assert example.english is not None and example.english.lang == "en"
        assert example.english == english[example.id]
    assert all(e.english is None for e in task.load("en"))


def test_limit_is_a_seeded_sample(no_data_dir):
    task = get_task("cloze")
    sample = task.load("bn", limit=5, seed=2)
    assert len(sample) == 5 and sample == task.load("bn", limit=5, seed=2)


def test_fewshot_context_joins_completed_prompts_with_newlines(no_data_dir):
    task = get_task("cloze")
    method = FewShot(k=2)
    method.setup(None, task, "en", None, 0, None)
    example = task.load("en")[0]
    query = method.queries(None, task, [example])[0]
    *shots, last = query.context.split("\n\n")
    assert len(shots) == 2 and last == example.fields["prompt"]
    prompts = {e.fields["prompt"]: task.answer_text(e) for e in task.load("en", "val")}
    for shot in shots:
        prompt = next(p for p in prompts if shot.startswith(p))
        assert shot == prompt + prompts[prompt]  # "The capital of X is Y"


# --------------------------------------------------------------------------- a run


def test_evaluation_end_to_end_on_the_tiny_model(tiny_gemma, tmp_path, no_data_dir):
    task = get_task("cloze")
    methods = parse_method("basic") + parse_method("fewshot:2") + parse_method("translate_test")
    store = evaluate(
        tiny_gemma, task, ["sw", "zh"], methods, tmp_path / "run", limit=4, progress=False
    )
    for lang in ("sw", "zh"):
        for method in ("basic", "fewshot2", "translate_test"):
            rows = store.rows(method=method, lang=lang)
            assert len(rows) == 4, (lang, method)
            assert all(
                r.task == "cloze" and r.scores is not None and len(r.scores) == 4 for r in rows
            )
            assert {r.item_id for r in rows} <= {e.id for e in task.load(lang)}
    # oracle translate-test scores the English twin with the same options in the same order
    english = evaluate(
        tiny_gemma, task, ["en"], parse_method("basic"), tmp_path / "en", limit=4, progress=False
    )
    basic_en = {r.item_id: r.scores for r in english.rows(method="basic")}
    for row in store.rows(method="translate_test", lang="sw"):
        assert row.scores == approx_scaled(basic_en[row.item_id], FORWARD)  # same text, other batch
