"""Fair tables: averages, tiers and deltas on the languages and items both methods have."""

from __future__ import annotations

import csv
import json
import math

import pytest

from mlsteer.evaluation.store import ResultRow, ResultStore
from mlsteer.evaluation.table import build_tables, export_tables

MODEL, TASK = "tiny", "xcopa"


def _rows(method: str, lang: str, correct: list[int]) -> list[ResultRow]:
    return [
        ResultRow(MODEL, TASK, lang, method, f"{lang}-{i}", "a", "a" if ok else "b", bool(ok))
        for i, ok in enumerate(correct)
    ]


@pytest.fixture
def store(tmp_path):
    store = ResultStore(tmp_path)
    store.add(_rows("basic", "es", [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]))  # 40 %
    store.add(_rows("basic", "sw", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]))  # 10 %
    store.add(
        _rows("steered:v@1", "es", [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    )  # es only, 50 %: +10 on es
    store.add(_rows("fewshot", "es", [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]))
    store.add(_rows("fewshot", "sw", [1, 1, 1, 0, 0]))  # still running: 5 of 10 items
    store.add(_rows("translate_test", "es", [1] * 10))
    store.add(_rows("translate_test", "sw", [1] * 10))
    yield store
    store.close()


def test_a_method_on_fewer_languages_is_compared_on_those(store):
    [table] = build_tables(store)
    assert table.langs == ["es", "sw"] and table.columns() == ["es", "sw", "avg", "high", "low"]
    steered = table.cells["steered:v@1"]
    assert steered["avg"].langs == ("es",) and steered["avg"].accuracy == pytest.approx(0.5)
    assert table.cells["basic"]["avg"].accuracy == pytest.approx(
        0.25
    )  # basic's own average covers es and sw
    # the unfair number would be 0.5 - 0.25 = +25 points; the fair one is es's +10
    assert (
        table.delta("steered:v@1", "avg") == pytest.approx(0.1) == table.delta("steered:v@1", "es")
    )
    assert table.deltas["steered:v@1"]["avg"].langs == ("es",)
    assert (
        table.delta("steered:v@1", "high") == pytest.approx(0.1)
        and "low" not in table.deltas["steered:v@1"]
    )
    assert "low" not in steered and "sw" not in steered


def test_deltas_are_paired_on_shared_items_with_their_se(store):
    [table] = build_tables(store)
    sw = table.deltas["fewshot"]["sw"]
    # items sw-0..4: fewshot 1,1,1,0,0 vs basic 1,0,0,0,0 -> d = 0,1,1,0,0
    d = [0, 1, 1, 0, 0]
    mean = sum(d) / 5
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 4 / 5)
    assert sw.n == 5 and sw.delta == pytest.approx(mean) and sw.stderr == pytest.approx(se)
    es = table.deltas["fewshot"]["es"]
    average = table.deltas["fewshot"]["avg"]
    assert average.delta == pytest.approx((es.delta + sw.delta) / 2)
    assert average.stderr == pytest.approx(math.sqrt(es.stderr**2 + sw.stderr**2) / 2)
    text = table.markdown()
    assert "[5 of 10 items]" in text and "paired SE" in text


def test_markdown_marks_partial_averages_and_the_ceiling(store):
    [table] = build_tables(store)
    text = table.markdown()
    assert "| translate_test (oracle English: ceiling) |" in text
    steered_row = next(line for line in text.splitlines() if line.startswith("| steered:v@1 |"))
    assert steered_row.count("†") == 1  # avg over es only; its high tier is es, all the table has
    assert "steered:v@1: es" in text


def test_exports_keep_languages_and_aggregates_apart(store, tmp_path):
    tables = build_tables(store)
    _, csv_path, json_path = export_tables(tables, tmp_path)
    with csv_path.open(encoding="utf-8") as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    header = list(rows["basic"])
    assert header[:4] == ["model", "task", "method", "label"]
    assert (
        header.index("sw_delta_n")
        < header.index("avg")
        < header.index("high")
        < header.index("low")
    )
    steered = rows["steered:v@1"]
    assert float(steered["es"]) == pytest.approx(0.5) and steered["sw"] == ""
    assert float(steered["avg_delta"]) == pytest.approx(0.1) and steered["avg_delta_langs"] == "es"
    assert float(steered["es_delta_se"]) > 0 and steered["avg_langs"] == "es"
    [data] = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["langs"] == ["es", "sw"] and data["aggregates"]["avg"] == ["es", "sw"]
    method = next(m for m in data["methods"] if m["method"] == "steered:v@1")
    assert set(method["langs"]) == {"es"} and method["aggregates"]["avg"]["delta_langs"] == ["es"]
    assert (
        method["langs"]["es"]["delta_stderr"] > 0
        and "delta" not in next(m for m in data["methods"] if m["method"] == "basic")["langs"]["es"]
    )
    ceiling = next(m for m in data["methods"] if m["method"] == "translate_test")
    assert ceiling["label"] == "translate_test (oracle English: ceiling)"
