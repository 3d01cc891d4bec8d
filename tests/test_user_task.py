"""Bring your own task: JSONL multiple choice and YAML generation files through ``get_task``,
``mlsteer eval``, ``mlsteer table`` and a whole ``mlsteer run``; bad files fail naming the file,
line and field."""

import json

import pytest
from typer.testing import CliRunner

from mlsteer.cli import app
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks import get_task
from mlsteer.experiment import load_config
from tests.test_user_corpus import write_corpus

runner = CliRunner()
CHOICE = [  # (language, context, options, answer, split)
    ("sw", "Mji mkuu wa Ufaransa ni", ["Paris", "Berlin", "Roma"], 0, "test"),
    ("sw", "Rangi ya nyasi ni", ["nyekundu", "kijani"], 1, "test"),
    ("sw", "Moja jumlisha moja ni", ["tatu", "mbili"], 1, "test"),
    ("sw", "Siku baada ya Jumatatu ni", ["Jumanne", "Ijumaa"], 0, "test"),
    ("sw", "Mbwa ni", ["mnyama", "jiwe"], 0, "dev"),
    ("sw", "Maji ni", ["kavu", "majimaji"], 1, "dev"),
    ("sw", "Jua ni", ["moto", "baridi"], 0, "dev"),
    ("es", "La capital de Francia es", ["París", "Berlín"], 0, "test"),
    ("es", "El perro es un", ["animal", "coche"], 0, "dev"),
]
GENERATION = """\
name: sums
kind: generation
description: adding small numbers
answer_regex: "(-?[0-9]+)"
language: sw
items:
  - prompt: "Swali: 2 + 2 = ?\\nJibu:"
    answer: 4
  - {prompt: "Swali: 3 + 4 = ?\\nJibu:", answer: "7", id: q7}
data_files: [more_sums.jsonl]
"""


def write_tasks(folder):
    """mc.jsonl (multiple choice, sw and es, test and dev items) and sums.yaml (generation)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"context": c, "options": o, "answer": a, "language": lang, "split": split}
        for lang, c, o, a, split in CHOICE
    ]
    (folder / "mc.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    (folder / "sums.yaml").write_text(GENERATION, encoding="utf-8")
    more = [
        {"prompt": "Swali: 5 - 1 = ?\nJibu:", "answer": 4},
        {"prompt": "Swali: 1 + 1 = ?\nJibu:", "answer": 2, "split": "dev"},
        {"prompt": "Swali: 2 + 1 = ?\nJibu:", "answer": 3, "split": "dev"},
    ]
    (folder / "more_sums.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in more), encoding="utf-8"
    )
    return folder


@pytest.fixture
def tasks(tmp_path):
    return write_tasks(tmp_path / "tasks")


def test_jsonl_choice_and_yaml_generation_tasks(tasks):
    mc = get_task(str(tasks / "mc.jsonl"))
    assert (mc.name, mc.kind, mc.languages, mc.fewshot_split) == (
        "mc",
        "choice",
        ("es", "sw"),
        "dev",
    )
    test = mc.load("sw")
    assert [e.id for e in test] == ["mc-1", "mc-2", "mc-3", "mc-4"] and len(
        mc.load("sw", split="dev")
    ) == 3
    query = mc.render(test[0])
    assert query.context == "Mji mkuu wa Ufaransa ni" and query.continuations == (
        " Paris",
        " Berlin",
        " Roma",
    )
    assert (
        mc.answer_text(test[1]) == " kijani"
        and mc.is_correct(1, test[1])
        and not mc.is_correct(0, test[1])
    )
    with pytest.raises(MlsteerError, match=r"mc has no 'fr' \(French\); it has: es, sw"):
        mc.load("fr")

    sums = get_task(str(tasks / "sums.yaml"))
    assert (sums.name, sums.kind, sums.languages, sums.description) == (
        "sums",
        "generation",
        ("sw",),
        "adding small numbers",
    )
    items = sums.load("sw")
    assert (
        [e.gold for e in items] == ["4", "7", "4"]
        and items[1].id == "q7"
        and len(sums.load("sw", split="dev")) == 2
    )
    assert (
        sums.render(items[0]).context == "Swali: 2 + 2 = ?\nJibu:"
        and sums.answer_text(items[0]) == " 4"
    )
    assert sums.extract(" Jibu ni 4.\nSwali: 9") == "4" and sums.is_correct(
        sums.extract("ni 7"), items[1]
    )
    assert get_task(str(tasks / "sums.yaml")) is sums  # read once per file version


@pytest.mark.parametrize(
    "line, message",
    [
        (
            '{"context": "a", "answer": 0, "language": "sw"}',
            r"bad.jsonl:2: options: missing; a multiple-choice item needs",
        ),
        (
            '{"context": "a", "options": ["x", "y"], "answer": 2, "language": "sw"}',
            r"bad.jsonl:2: answer: expected the right option's index, 0 to 1, got 2",
        ),
        (
            '{"context": "a", "options": ["x", " "], "answer": 0, "language": "sw"}',
            r"bad.jsonl:2: options\[1\]: expected non-empty text",
        ),
        (
            '{"context": "a", "options": "x y", "answer": 0, "language": "sw"}',
            r"bad.jsonl:2: options: expected a list of at least 2 texts",
        ),
        (
            '{"context": "b", "options": ["x", "y"], "answer": 0, "language": "sw", "id": "one"}',
            r"bad.jsonl:2: id: 'one' repeats the sw item at .*bad.jsonl:1",
        ),
        (
            '{"context": "a", "options": ["x", "y"], "answer": 0, "language": "xx"}',
            r"bad.jsonl:2: language: unknown language code 'xx'",
        ),
        (
            '{"context": "a", "options": ["x", "y"], "answer": 0}',
            r'bad.jsonl:2: language: missing; add "language": "sw" to the item',
        ),
        (
            '{"context": "a", "options": ["x", "y"], "answer": 0, "language": "sw", "split": "val"}',
            r"bad.jsonl:2: split: 'val', but earlier items use 'dev'",
        ),
        (
            '{"context": "a", "options": ["x", "y"], "answer": 0, "language": "sw",',
            r"bad.jsonl:2: not JSON",
        ),
    ],
)
def test_bad_task_lines_name_file_line_and_field(tmp_path, line, message):
    first = '{"context": "c", "options": ["x", "y"], "answer": 0, "language": "sw", "id": "one", "split": "dev"}'
    path = tmp_path / "bad.jsonl"
    path.write_text(first + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(MlsteerError, match=message):
        get_task(str(path))


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "name: t\nitem:\n  - {prompt: a, answer: b}\n",
            r"bad.yaml:2: item: unknown field; use: name, kind",
        ),
        (
            "kind: generation\nanswer_regex: '(['\nlanguage: sw\nitems: [{prompt: a, answer: b}]\n",
            r"bad.yaml:2: answer_regex: not a regular expression",
        ),
        (
            "kind: choice\nlanguage: sw\nitems:\n  - {context: a, options: [x, y], answer: 0}\n  - {context: a, answer: 0}\n",
            r"bad.yaml:5: options: missing",
        ),
        (
            "name: xcopa\nlanguage: sw\nitems: [{context: a, options: [x, y], answer: 0}]\n",
            r"name 'xcopa' is a built-in task's",
        ),
        ("name: my task\nitems: []\n", r"bad.yaml:1: name: 'my task' is not a usable name"),
        (
            "language: sw\nitems: [{context: a, options: [x, y], answer: 0}\n",
            r"bad.yaml:\d+: not valid YAML",
        ),
        ("language: sw\ndata_files: [nope.jsonl]\n", r"no task file .*nope.jsonl"),
    ],
)
def test_bad_yaml_task_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MlsteerError, match=message):
        get_task(str(path))
    with pytest.raises(MlsteerError, match=r"unknown task 'squad'; use one of: .*or a task file"):
        get_task("squad")


def test_eval_and_table_with_task_files(tasks, tmp_path):
    run, model = tmp_path / "run", ["-m", "tiny-gemma3"]
    result = runner.invoke(
        app,
        [
            "eval",
            "--task",
            str(tasks / "mc.jsonl"),
            "--task",
            str(tasks / "sums.yaml"),
            "--langs",
            "sw",
            "--method",
            "basic",
            "--method",
            "fewshot:1",
            "--max-new-tokens",
            "4",
            "--out",
            str(run),
            *model,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "**mc**" in result.output
        and "**sums**" in result.output
        and "| fewshot1 |" in result.output
    )
    shown = runner.invoke(app, ["table", str(run)])
    assert shown.exit_code == 0 and "**sums**" in shown.output
    few = runner.invoke(
        app,
        [
            "eval",
            "--task",
            str(tasks / "mc.jsonl"),
            "--langs",
            "es",
            "--method",
            "fewshot:2",
            "--out",
            str(tmp_path / "r2"),
            *model,
        ],
    )
    assert few.exit_code == 2 and "mc es has 1 few-shot examples; 2 shots need 3" in few.output


def test_run_config_with_own_corpus_and_tasks(tmp_path):
    """A vector learned from a user TSV, chosen on a user task, evaluated on both user tasks."""
    write_corpus(tmp_path / "cfg")
    write_tasks(tmp_path / "cfg")
    config = tmp_path / "cfg" / "mine.toml"
    config.write_text(
        f"""
name = "mine"
out = "{tmp_path / "run"}"
model = "tiny-gemma3"
languages = ["sw"]
layers = [1, 2]
alphas = [2.0]
methods = ["basic"]
max_new_tokens = 4
learners = [{{name = "meandiff"}}]

[data]
corpus = "pairs.tsv"
pairs = 10
sweep_task = "mc.jsonl"
tasks = ["mc.jsonl", "sums.yaml"]
""",
        encoding="utf-8",
    )
    loaded = load_config(config)  # relative paths: against the config file's folder
    assert loaded.data.corpus == str(tmp_path / "cfg" / "pairs.tsv") and loaded.data.tasks[
        1
    ] == str(tmp_path / "cfg" / "sums.yaml")
    result = runner.invoke(app, ["run", str(config), "--no-exports"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    for path in (
        "sweep/meandiff/sweep_mc.json",
        "chosen/meandiff/sw.safetensors",
        "summary.md",
        "report.html",
    ):
        assert (out / path).exists(), path
    summary = (out / "summary.md").read_text()
    assert "**mc**" in summary and "**sums**" in summary and "Chosen on mc validation" in summary
    report = (out / "report.html").read_text()
    assert "sums" in report and "mc" in report
