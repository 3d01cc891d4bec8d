"""Evaluation tasks on miniature benchmark folders written here in the exact on-disk formats,
plus one fast check per task against the real data folder when it is present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks import TASKS, get_task
from mlsteer.evaluation.tasks import m3exam as m3exam_module
from mlsteer.evaluation.tasks.base import Query, read_json_list
from mlsteer.evaluation.tasks.mgsm import extract_number

# --------------------------------------------------------------------------- writers


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )


def write_tsv(path: Path, rows: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def write_json(path: Path, value: object, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=indent), encoding="utf-8")


def load_after_appending(
    data: Path, relative: str, text: str, name: str, lang: str, split: str | None = None
):
    """Append ``text`` to a fixture file, then load it (the malformed-row tests)."""
    path = data / relative
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return get_task(name).load(lang, split, data)


# --------------------------------------------------------------------------- fixtures, one builder per task

XCOPA_ROWS = [  # (premise, choice1, choice2, question, label) per language; row 1's question is disputed by th
    {
        "sw": ("Mtoto alilia.", "Alikuwa na njaa.", "Alicheka.", "cause", 0),
        "id": ("Anak itu menangis.", "Dia lapar.", "Dia tertawa.", "cause", 0),
        "it": ("Il bambino pianse.", "Aveva fame.", "Rise.", "cause", 0),
        "th": ("เด็กร้องไห้", "เขาหิว", "เขาหัวเราะ", "effect", 0),
    },
    {
        "sw": ("Nilifungua mlango.", "Paka aliingia.", "Mvua ilinyesha.", "effect", 0),
        "id": ("Saya membuka pintu.", "Kucing masuk.", "Hujan turun.", "effect", 0),
        "it": ("Ho aperto la porta.", "Il gatto è entrato.", "Ha piovuto.", "effect", 0),
        "th": ("ฉันเปิดประตู", "แมวเดินเข้ามา", "ฝนตก", "effect", 0),
    },
    {
        "sw": ("Barabara ilikuwa na maji?", "Mvua ilinyesha.", "Jua liliwaka.", "cause", 0),
        "id": ("Jalan basah.", "Hujan turun.", "Matahari bersinar.", "cause", 0),
        "it": ("La strada era bagnata.", "Ha piovuto.", "C'era il sole.", "cause", 0),
        "th": ("ถนนเปียก!", "ฝนตก", "แดดออก", "cause", 0),
    },
    {
        "sw": ("Alijikata.", "Alicheka.", "Alivuja damu.", "effect", 1),
        "id": ("Dia terluka.", "Dia tertawa.", "Dia berdarah.", "effect", 1),
        "it": ("Si è tagliato.", "Ha riso.", "Ha sanguinato.", "effect", 1),
        "th": ("เขาถูกมีดบาด", "เขาหัวเราะ", "เลือดออก", "effect", 1),
    },
]


def build_xcopa(folder: Path, languages: tuple[str, ...] = ("sw", "id", "it", "th")) -> None:
    for split in ("test", "val"):
        for lang in languages:
            rows = [
                {
                    "premise": p,
                    "choice1": c1,
                    "choice2": c2,
                    "question": q,
                    "label": label,
                    "idx": idx,
                    "changed": False,
                }
                for idx, row in enumerate(XCOPA_ROWS, start=1)
                for p, c1, c2, q, label in [row[lang]]
            ]
            write_jsonl(
                folder / "xcopa" / lang / f"{split}.{lang}.jsonl",
                rows if split == "test" else rows[:2],
            )


XNLI_EN = [
    ("The cat sat on the mat", "A cat was sitting.", 0),
    ("The cat sat on the mat", "The cat was hungry.", 1),
    ("The cat sat on the mat", "No animal was there.", 2),
    ("He went home early", "He left.", 0),
]
XNLI_SW = [
    ("Paka aliketi kwenye mkeka", "Paka alikuwa ameketi.", 0),
    ("Paka aliketi kwenye mkeka", "Paka alikuwa na njaa.", 1),
    ("Paka aliketi kwenye mkeka", "Hakuna mnyama.", 2),
    ("Alienda nyumbani mapema", "Aliondoka.", 0),
]
XNLI_TH = [
    ("แมวนั่งบนเสื่อ", "แมวนั่งอยู่", 0),
    ("แมวนั่งบนเสื่อ", "แมวหิว", 1),
    ("แมวนั่งบนเสื่อ", "ไม่มีสัตว์", 2),
    ("เขากลับบ้าน", "เขาออกไป", 0),
]
LABEL_WORDS = ("entailment", "neutral", "contradiction")


def build_xnli(folder: Path) -> None:
    test = folder / "xnli" / "test"
    dev = folder / "xnli" / "dev_xtreme"
    for name, rows in (
        ("en.test.jsonl", XNLI_EN),
        ("sw.test.jsonl", XNLI_SW),
        ("th.test.derived.jsonl", XNLI_TH),
    ):
        write_jsonl(
            test / name, [{"premise": p, "hypothesis": h, "label": label} for p, h, label in rows]
        )
    for lang, rows in (("en", XNLI_EN), ("sw", XNLI_SW)):
        write_tsv(
            dev / f"dev-{lang}.tsv", [(p, h, LABEL_WORDS[label]) for p, h, label in rows[::-1]]
        )


MGSM_EN = [
    ("Janet has 16 eggs and eats 3. How many are left?", "13"),
    ("A house costs $2,000 and repairs $125. What is the total?", "2,125"),
    ("Tom has 5 apples and gives away 2. How many are left?", "3"),
    ("Sara runs 4 km a day for 7 days. How far does she run?", "28"),
]
MGSM_SW = [
    ("Janet ana mayai 16 na anakula 3. Yamebaki mangapi?", "13"),
    ("Nyumba inagharimu $2,000 na matengenezo $125. Jumla ni ngapi?", "2,125"),
    ("Tom ana matufaha 5 na anatoa 2. Yamebaki mangapi?", "3"),
    ("Sara anakimbia km 4 kila siku kwa siku 7. Anakimbia umbali gani?", "28"),
]
MGSM_EXEMPLARS = {
    "EXEMPLAR_NUMBER_ANSWERS": [11, 29],
    "EXEMPLAR_EQUATION_SOLUTIONS": ["5 + 6 = 11.", "9 + 20 = 29."],
    "MGSM_EXEMPLARS": {
        "en": {
            "1": {
                "q": "Question: Roger has 5 balls and buys 6 more. How many?",
                "a": "Step-by-Step Answer: 5 + 6 = 11. The answer is 11.",
            },
            "2": {
                "q": "Question: There were 9 computers and 20 more came. How many?",
                "a": "Step-by-Step Answer: 9 + 20 = 29. The answer is 29.",
            },
        },
        "sw": {
            "1": {
                "q": "Swali: Roger ana mipira 5 na ananunua 6 zaidi. Ngapi?",
                "a": "Jibu la Hatua kwa Hatua: 5 + 6 = 11. Jibu ni 11.",
            },
            "2": {
                "q": "Swali: Kulikuwa na kompyuta 9 na 20 zaidi zikaja. Ngapi?",
                "a": "Jibu la Hatua kwa Hatua: 9 + 20 = 29. Jibu ni 29.",
            },
        },
    },
}


def build_mgsm(folder: Path) -> None:
    write_tsv(folder / "mgsm" / "mgsm_en.tsv", MGSM_EN)
    write_tsv(folder / "mgsm" / "mgsm_sw.tsv", MGSM_SW)
    write_json(folder / "mgsm" / "derived_mgsm_exemplars.json", MGSM_EXEMPLARS, indent=1)


def mmlu_row(n: int, split: str, answer: str = "B") -> dict:
    return {
        "instruction": f"  ¿Cuánto es {n} + 1?  ",
        "option_a": str(n),
        "option_b": str(n + 1),
        "option_c": str(n + 2),
        "option_d": "ninguno",
        "answer": answer,
        "id": f"elementary_mathematics/{split}/{n}",
    }


def build_m_mmlu(folder: Path) -> None:
    write_json(
        folder / "m_mmlu_okapi" / "es_val.json", [mmlu_row(n, "val") for n in range(5)], indent=2
    )
    write_json(
        folder / "m_mmlu_okapi" / "es_dev.json",
        [mmlu_row(n, "dev", "A") for n in range(3)],
        indent=2,
    )


def m3_row(
    question: str,
    options: list[str],
    answer: str,
    background: list[str] | None = None,
    image: str = "no",
) -> dict:
    return {
        "question_text": question,
        "background_description": background or [],
        "answer_text": answer,
        "options": options,
        "need_image": image,
        "language": "swahili",
        "level": "mid",
        "subject": "swahili",
        "subject_category": "language",
        "year": "2011",
    }


M3_SW_TEST = [
    m3_row(
        "Chagua jibu sahihi.",
        ["A. mtawalia", "B. mkabala", "C. sadakta", "D. sambamba"],
        "B",
        ["Soma kifungu.  ", " ", "Kifungu cha pili."],
    ),
    m3_row("Jibu lipi?", ["(1) moja", "(2)mbili", "3) tatu", "(4) nne"], "3"),
    m3_row("Angalia picha.", ["A. a", "B. b"], "A", image="yes"),
    m3_row("Neno lipi?", ["a. kunja", "b . kunjia", "c: kunjiana", "d kunjisha"], "d"),
    m3_row("Ipi ni sahihi?", ["A．２ + ２", "B．①②③", "C．三", ""], "B"),
    m3_row("Typo katika herufi?", ["A. moja", "B. mbili", "C. tatu", "A. nne"], "D"),
]
M3_SW_DEV = [m3_row("Swali la mfano?", ["A. ndiyo", "B. hapana"], "A")]


def build_m3exam(folder: Path) -> None:
    write_json(
        folder / "m3exam" / "swahili-questions-test.json", M3_SW_TEST
    )  # one line, as the real files
    dev = [
        {k: v for k, v in row.items() if k not in ("need_image", "year")} for row in M3_SW_DEV
    ]  # as the real dev files
    write_json(folder / "m3exam" / "swahili-questions-dev.json", dev)


# task name -> (builder, a language it has, a known language it lacks, its test file for that language)
BUILDERS = {
    "xcopa": (build_xcopa, "sw", "fr", "xcopa/sw/test.sw.jsonl"),
    "xnli": (build_xnli, "sw", "it", "xnli/test/sw.test.jsonl"),
    "mgsm": (build_mgsm, "sw", "it", "mgsm/mgsm_sw.tsv"),
    "m_mmlu": (build_m_mmlu, "es", "en", "m_mmlu_okapi/es_val.json"),
    "m3exam": (build_m3exam, "sw", "de", "m3exam/swahili-questions-test.json"),
}


@pytest.fixture
def data(tmp_path) -> Path:
    for builder, *_ in BUILDERS.values():
        builder(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- every task


def test_registry_has_every_builder():
    # every task read from a benchmark folder has a fixture builder; cloze ships its own data
    assert set(TASKS) - {"cloze"} == set(BUILDERS) == {"xcopa", "xnli", "mgsm", "m_mmlu", "m3exam"}
    assert all(get_task(name).name == name for name in TASKS)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(
        MlsteerError,
        match=r"unknown task 'xnly'; use one of: cloze, m3exam, m_mmlu, mgsm, xcopa, xnli",
    ):
        get_task("xnly")


@pytest.mark.parametrize("name", BUILDERS)
def test_language_the_task_lacks_names_the_ones_it_has(name, data):
    task = get_task(name)
    _, _, lacking, _ = BUILDERS[name]
    with pytest.raises(
        MlsteerError,
        match=rf"{name} has no '{lacking}' \(.+\); it has: {', '.join(sorted(task.languages))}$",
    ):
        task.load(lacking, data_dir=data)


@pytest.mark.parametrize("name", BUILDERS)
def test_missing_file_is_named(name, tmp_path):
    _, lang, _, test_file = BUILDERS[name]
    with pytest.raises(
        MlsteerError, match=rf"missing data file .*{Path(test_file).name}; point --data-dir"
    ):
        get_task(name).load(lang, data_dir=tmp_path)


@pytest.mark.parametrize("name", BUILDERS)
def test_unknown_split_lists_the_ones_it_has(name, data):
    task = get_task(name)
    _, lang, _, _ = BUILDERS[name]
    with pytest.raises(
        MlsteerError, match=rf"has no split 'train2'; use one of: .*{task.fewshot_split}"
    ):
        task.load(lang, "train2", data)


@pytest.mark.parametrize("name", BUILDERS)
def test_load_limit_is_a_seeded_sample_in_file_order(name, data):
    task = get_task(name)
    _, lang, _, _ = BUILDERS[name]
    everything = task.load(lang, data_dir=data)
    sample = task.load(lang, data_dir=data, limit=2, seed=3)
    assert sample == task.load(lang, data_dir=data, limit=2, seed=3)
    assert len(sample) == 2 and len({e.id for e in sample}) == 2
    order = [e.id for e in everything]
    assert [order.index(e.id) for e in sample] == sorted(order.index(e.id) for e in sample)
    assert task.load(lang, data_dir=data, limit=100) == everything


@pytest.mark.parametrize("name", BUILDERS)
def test_fewshot_split_reads_and_renders(name, data):
    task = get_task(name)
    _, lang, _, _ = BUILDERS[name]
    shots = task.load(lang, task.fewshot_split, data)
    assert shots and all(
        e.id.startswith(f"{task.fewshot_split}-") or name == "m_mmlu" for e in shots
    )
    for shot in shots:
        query = task.render(shot)
        answer = task.answer_text(shot)
        if task.kind == "choice":
            assert answer == query.continuations[shot.gold]
        else:
            assert query.continuations == () and task.extract(answer) == shot.gold


@pytest.mark.parametrize("name", BUILDERS)
def test_data_dir_from_environment(name, data, monkeypatch):
    monkeypatch.setenv("MLSTEER_DATA", str(data))
    _, lang, _, _ = BUILDERS[name]
    assert get_task(name).load(lang) == get_task(name).load(lang, data_dir=data)


# --------------------------------------------------------------------------- XCOPA


def test_xcopa_render_gold_and_connector(data):
    task = get_task("xcopa")
    sw = task.load("sw", data_dir=data)
    assert [e.id for e in sw] == ["test-1", "test-2", "test-3", "test-4"] and [
        e.gold for e in sw
    ] == [0, 0, 0, 1]
    assert task.render(sw[0]) == Query(
        "Mtoto alilia kwa sababu", (" alikuwa na njaa.", " alicheka.")
    )
    assert task.render(sw[1]) == Query(
        "Nilifungua mlango kwa hiyo", (" paka aliingia.", " mvua ilinyesha.")
    )
    assert task.render(sw[2]).context == "Barabara ilikuwa na maji kwa sababu"  # "?" stripped too
    assert task.answer_text(sw[3]) == " alivuja damu."
    assert [e.id for e in task.load("sw", "val", data)] == ["val-1", "val-2"]


def test_xcopa_majority_vote_fixes_the_disputed_question(data):
    task = get_task("xcopa")
    th = task.load("th", data_dir=data)[0]
    assert th.fields["question_in_file"] == "effect" and th.fields["question"] == "cause"
    assert task.render(th).context == "เด็กร้องไห้ เพราะ"  # cause connector, not ดังนั้น
    assert task.load("sw", data_dir=data)[0].fields["question"] == "cause"


def test_xcopa_with_two_files_keeps_each_files_own_question(tmp_path):
    build_xcopa(tmp_path, languages=("sw", "th"))
    th = get_task("xcopa").load("th", data_dir=tmp_path)[0]
    assert (
        th.fields["question"] == "effect"
        and get_task("xcopa").render(th).context == "เด็กร้องไห้ ดังนั้น"
    )


def test_xcopa_thai_keeps_its_last_letter_and_drops_final_punctuation(data):
    task = get_task("xcopa")
    th = task.load("th", data_dir=data)
    assert task.render(th[1]).context == "ฉันเปิดประตู ดังนั้น"  # the harness would cut "ู"
    assert task.render(th[2]).context == "ถนนเปียก เพราะ"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{not json", r"not JSON"),
        (
            json.dumps({"premise": "p", "choice1": "a", "choice2": "b", "label": 0, "idx": 9}),
            r"missing question",
        ),
        (
            json.dumps(
                {
                    "premise": "p",
                    "choice1": "a",
                    "choice2": "b",
                    "question": "why",
                    "label": 0,
                    "idx": 9,
                }
            ),
            r"cause/effect",
        ),
    ],
)
def test_xcopa_malformed_row_names_file_and_line(data, line, problem):
    with pytest.raises(MlsteerError, match=rf"test\.sw\.jsonl:5: .*{problem}"):
        load_after_appending(data, "xcopa/sw/test.sw.jsonl", line + "\n", "xcopa", "sw")


# --------------------------------------------------------------------------- XNLI


def test_xnli_render_exact(data):
    task = get_task("xnli")
    en = task.load("en", data_dir=data)
    assert task.render(en[0]) == Query(
        "The cat sat on the mat, right?",
        (" Yes, A cat was sitting.", " Also, A cat was sitting.", " No, A cat was sitting."),
    )
    sw = task.load("sw", data_dir=data)
    assert task.render(sw[2]) == Query(
        "Paka aliketi kwenye mkeka, sahihi?",
        (" Ndiyo, Hakuna mnyama.", " Hivyo, Hakuna mnyama.", " Hapana, Hakuna mnyama."),
    )
    assert task.answer_text(sw[2]) == " Hapana, Hakuna mnyama."


def test_xnli_gold_ids_and_english_link(data):
    task = get_task("xnli")
    sw = task.load("sw", data_dir=data)
    assert [e.id for e in sw] == ["test-0", "test-1", "test-2", "test-3"] and [
        e.gold for e in sw
    ] == [0, 1, 2, 0]
    assert [e.english.fields["hypothesis"] for e in sw] == [h for _, h, _ in XNLI_EN]
    assert all(e.english.id == e.id and e.english.lang == "en" for e in sw)
    assert all(e.english is None for e in task.load("en", data_dir=data))
    th = task.load("th", data_dir=data)  # read from th.test.derived.jsonl
    assert (
        th[1].fields["hypothesis"] == "แมวหิว"
        and th[1].english.fields["hypothesis"] == "The cat was hungry."
    )


def test_xnli_validation_reads_label_words(data):
    dev = get_task("xnli").load("sw", "validation", data)
    assert [e.id for e in dev] == ["validation-0", "validation-1", "validation-2", "validation-3"]
    assert [e.gold for e in dev] == [0, 2, 1, 0] and dev[1].fields["hypothesis"] == "Hakuna mnyama."
    assert dev[1].english.fields["hypothesis"] == "No animal was there."


@pytest.mark.parametrize(
    "name, text, where, problem",
    [
        (
            "test/sw.test.jsonl",
            '{"premise": "p", "hypothesis": "h", "label": 3}\n',
            "sw.test.jsonl:5",
            "label must be 0, 1 or 2",
        ),
        (
            "test/sw.test.jsonl",
            '{"premise": "p", "label": 1}\n',
            "sw.test.jsonl:5",
            "missing hypothesis",
        ),
        (
            "dev_xtreme/dev-sw.tsv",
            "p\th\tmaybe\n",
            r"dev-sw.tsv:5",
            "label must be one of entailment",
        ),
        (
            "dev_xtreme/dev-sw.tsv",
            "p\th\n",
            r"dev-sw.tsv:5",
            "expected 3 tab-separated fields, got 2",
        ),
    ],
)
def test_xnli_malformed_row_names_file_and_line(data, name, text, where, problem):
    split = "test" if name.startswith("test") else "validation"
    with pytest.raises(MlsteerError, match=rf"{where}: {problem}"):
        load_after_appending(data, f"xnli/{name}", text, "xnli", "sw", split)


def test_xnli_files_must_be_parallel(data):
    path = data / "xnli" / "test" / "sw.test.jsonl"
    path.write_text(
        "\n".join(path.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8"
    )
    with pytest.raises(
        MlsteerError, match=r"xnli sw test has 3 rows but English has 4; the files must be parallel"
    ):
        get_task("xnli").load("sw", data_dir=data)


# --------------------------------------------------------------------------- MGSM


def test_mgsm_render_gold_and_english(data):
    task = get_task("mgsm")
    sw = task.load("sw", data_dir=data)
    assert [e.id for e in sw] == ["test-0", "test-1", "test-2", "test-3"] and [
        e.gold for e in sw
    ] == ["13", "2125", "3", "28"]
    assert task.render(sw[1]) == Query(
        "Swali: Nyumba inagharimu $2,000 na matengenezo $125. Jumla ni ngapi?\nJibu la Hatua kwa Hatua:"
    )
    assert task.answer_text(sw[1]) == " Jibu ni 2125."
    assert sw[1].english.fields["question"] == MGSM_EN[1][0] and sw[1].english.gold == "2125"
    assert task.render(sw[1].english).context.startswith("Question: A house costs")
    assert task.is_correct("2,125", sw[1]) and task.is_correct("The answer is 2125.", sw[1])
    assert not task.is_correct("", sw[1]) and not task.is_correct("2124", sw[1])


def test_mgsm_exemplars_are_the_fewshot_split(data):
    task = get_task("mgsm")
    shots = task.load("sw", "train", data)
    assert [e.id for e in shots] == ["train-1", "train-2"] and [e.gold for e in shots] == [
        "11",
        "29",
    ]
    assert (
        task.render(shots[0]).context
        == "Swali: Roger ana mipira 5 na ananunua 6 zaidi. Ngapi?\nJibu la Hatua kwa Hatua:"
    )
    assert task.answer_text(shots[0]) == " 5 + 6 = 11. Jibu ni 11."
    # the shot is the exemplar, character for character
    item = MGSM_EXEMPLARS["MGSM_EXEMPLARS"]["sw"]["1"]
    assert (
        task.render(shots[0]).context + task.answer_text(shots[0]) == item["q"] + "\n" + item["a"]
    )
    assert shots[0].english.fields["question"] == "Roger has 5 balls and buys 6 more. How many?"


def test_mgsm_exemplar_gold_falls_back_to_the_answer_text(data):
    exemplars = json.loads(json.dumps(MGSM_EXEMPLARS))
    del exemplars["EXEMPLAR_NUMBER_ANSWERS"]
    write_json(data / "mgsm" / "derived_mgsm_exemplars.json", exemplars)
    assert [e.gold for e in get_task("mgsm").load("sw", "train", data)] == ["11", "29"]


@pytest.mark.parametrize(
    "text, number",
    [
        ("2,125", "2125"),
        ("The answer is 2,125.", "2125"),
        ("Jibu ni 11.", "11"),
        ("答案是 18。", "18"),
        ("-5", "-5"),
        ("18.0", "18"),
        ("1,000,000", "1000000"),
        ("3.5", "3.5"),
        ("no number at all", ""),
        ("", ""),
        (
            "He had 5 + 6 = 11 balls. The answer is 11. Question: 3 more? The answer is 14.",
            "11",
        ),  # first answer phrase
        ("5 + 6 = 11 balls, then 2 more: 13", "13"),  # no phrase: the last number
        ("答えは１８です。", "18"),  # full-width digits
        ("উত্তর হল ১১।", "11"),  # Bengali digits
        ("Ответ — 42.", "42"),
        ("Die Antwort ist 7.", "7"),
        ("La réponse est −3.", "-3"),  # U+2212 minus
        ("the answer is $1,200.50", "1200.5"),
        ("2.125", "2.125"),  # '.' is never a thousands separator
        ("12,34 and more", "34"),  # ',' followed by two digits is no thousands separator
    ],
)
def test_mgsm_extract(text, number):
    assert extract_number(text) == number
    assert get_task("mgsm").extract(text) == number


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Question?\t12\textra\n", "expected 2 tab-separated fields, got 3"),
        ("Question?\ttwelve\n", "answer must be an integer"),
    ],
)
def test_mgsm_malformed_row_names_file_and_line(data, text, problem):
    with pytest.raises(MlsteerError, match=rf"mgsm_sw\.tsv:5: {problem}"):
        load_after_appending(data, "mgsm/mgsm_sw.tsv", text, "mgsm", "sw")


def test_mgsm_malformed_exemplar_names_the_key(data):
    exemplars = json.loads(json.dumps(MGSM_EXEMPLARS))
    exemplars["MGSM_EXEMPLARS"]["sw"]["2"]["q"] = "Roger ana mipira 5."
    write_json(data / "mgsm" / "derived_mgsm_exemplars.json", exemplars)
    with pytest.raises(
        MlsteerError,
        match=r"derived_mgsm_exemplars\.json:MGSM_EXEMPLARS\['sw'\]\['2'\]: .*'Swali: '",
    ):
        get_task("mgsm").load("sw", "train", data)
    del exemplars["MGSM_EXEMPLARS"]["sw"]
    write_json(data / "mgsm" / "derived_mgsm_exemplars.json", exemplars)
    with pytest.raises(MlsteerError, match=r"MGSM_EXEMPLARS\['sw'\]: missing"):
        get_task("mgsm").load("sw", "train", data)


# --------------------------------------------------------------------------- m_mmlu


def test_m_mmlu_render_gold_and_ids(data):
    task = get_task("m_mmlu")
    val = task.load("es", data_dir=data)
    assert [e.id for e in val] == [f"elementary_mathematics/val/{n}" for n in range(5)] and {
        e.gold for e in val
    } == {1}
    assert task.render(val[2]) == Query(
        "¿Cuánto es 2 + 1?\nA. 2\nB. 3\nC. 4\nD. ninguno\nAnswer:", (" A", " B", " C", " D")
    )
    assert task.answer_text(val[2]) == " B" and val[2].english is None
    dev = task.load("es", "dev", data)
    assert [e.id for e in dev] == [f"elementary_mathematics/dev/{n}" for n in range(3)] and {
        e.gold for e in dev
    } == {0}
    assert task.test_split == "val" and task.fewshot_split == "dev"


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"answer": "E"}, "answer must be A, B, C or D"),
        ({"answer": "AB"}, "answer must be"),
        ({"option_c": None}, "missing option_c"),
    ],
)
def test_m_mmlu_malformed_row_names_file_and_line(data, change, problem):
    rows = [mmlu_row(n, "val") for n in range(3)]
    rows[2].update(change)
    rows[2] = {k: v for k, v in rows[2].items() if v is not None}
    write_json(data / "m_mmlu_okapi" / "es_val.json", rows, indent=2)
    with pytest.raises(
        MlsteerError, match=rf"es_val\.json:20 \(row 2\): {problem}"
    ):  # row 2 starts on line 2 + 9 * 2
        get_task("m_mmlu").load("es", data_dir=data)


def test_read_json_list_gives_each_rows_first_line(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"a": 1},\n\n  {"a": [\n 2]}, {"a": 3}\n]\n', encoding="utf-8")
    assert read_json_list(path) == [(2, {"a": 1}), (4, {"a": [2]}), (5, {"a": 3})]
    path.write_text('[\n  {"a": 1},\n  {"a": 2,}\n]', encoding="utf-8")
    with pytest.raises(MlsteerError, match=r"rows\.json:3: not JSON"):
        read_json_list(path)
    path.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(MlsteerError, match=r"rows\.json:1: expected a JSON list"):
        read_json_list(path)


# --------------------------------------------------------------------------- M3Exam


def test_m3exam_render_gold_and_option_styles(data):
    task = get_task("m3exam")
    test = task.load("sw", data_dir=data)
    assert [e.id for e in test] == [
        "test-0",
        "test-1",
        "test-3",
        "test-4",
        "test-5",
    ]  # test-2 needs an image
    assert [e.gold for e in test] == [1, 2, 3, 1, 3]
    assert task.render(test[0]) == Query(
        "Soma kifungu.\nKifungu cha pili.\nChagua jibu sahihi.\nA. mtawalia\nB. mkabala\nC. sadakta\nD. sambamba\nAnswer:",
        (" A", " B", " C", " D"),
    )
    assert task.render(test[1]).context == "Jibu lipi?\nA. moja\nB. mbili\nC. tatu\nD. nne\nAnswer:"
    assert (
        task.render(test[2]).context
        == "Neno lipi?\nA. kunja\nB. kunjia\nC. kunjiana\nD. kunjisha\nAnswer:"
    )
    # full-width labels parsed, the text left as written, the empty option dropped
    assert task.render(test[3]) == Query(
        "Ipi ni sahihi?\nA. ２ + ２\nB. ①②③\nC. 三\nAnswer:", (" A", " B", " C")
    )
    assert task.answer_text(test[3]) == " B" and test[3].english is None
    # labels A, B, C, A (a typo): answer D is the fourth option
    assert task.render(test[4]).context.endswith("D. nne\nAnswer:")
    dev = task.load("sw", "dev", data)
    assert [e.id for e in dev] == ["dev-0"] and dev[0].gold == 0


@pytest.mark.parametrize(
    "option, label, text",
    [
        ("A. text", "A", "text"),
        ("(1) text", "1", "text"),
        ("(B)text", "B", "text"),
        ("c) text", "C", "text"),
        ("C : text", "C", "text"),
        ("C: text", "C", "text"),
        ("B, text", "B", "text"),
        ("A text", "A", "text"),
        ("D.4.", "D", "4."),
        ("（E）texto", "E", "texto"),
        ("A．①②", "A", "①②"),
        ("๓. นภา", "3", "นภา"),
        ("В. KО", "B", "KО"),  # Cyrillic В
        ("text without label", None, None),
    ],
)
def test_m3exam_option_labels(option, label, text):
    parsed = m3exam_module.parse_option(option)
    assert parsed == (None if label is None else (label, text))


def test_m3exam_thai_digit_answer(tmp_path):
    row = m3_row(
        "คำใด", ["๑. หาว", "๓. นภา", "๓. เวหา", "๔. ธรณี"], "๔"
    )  # a label typo, as in the real Thai dev file
    write_json(
        tmp_path / "m3exam" / "thai-questions-dev.json",
        [row, m3_row("ข้อใด", ["๑. ก", "๒. ข"], "๒")],
    )
    assert [e.gold for e in get_task("m3exam").load("th", "dev", tmp_path)] == [3, 1]


def test_m3exam_answer_matching_no_option_names_file_line_and_row(data, monkeypatch):
    rows = [*M3_SW_TEST, m3_row("Jibu E?", ["A. a", "B. b", "C. c", "D. d"], "E")]
    write_json(data / "m3exam" / "swahili-questions-test.json", rows)
    with pytest.raises(
        MlsteerError,
        match=r"swahili-questions-test\.json:1 \(row 6\): answer 'E' matches no option \(labels: A, B, C, D\)",
    ):
        get_task("m3exam").load("sw", data_dir=data)
    monkeypatch.setitem(
        m3exam_module.KNOWN_BROKEN, "swahili-questions-test", (6,)
    )  # a known broken row is skipped
    assert [e.id for e in get_task("m3exam").load("sw", data_dir=data)][-1] == "test-5"


@pytest.mark.parametrize(
    "row, problem",
    [
        (m3_row("Swali?", ["A. a", "hakuna lebo"], "A"), "option 'hakuna lebo' has no label"),
        (m3_row("Swali?", ["A. a"], "A"), "expected 2 to 10 options, got 1"),
        (
            {"question_text": "Swali?", "options": ["A. a", "B. b"], "answer_text": "A"},
            "missing background_description",
        ),
        (
            m3_row("Swali?", "A. a B. b", "A"),
            "options and background_description must be lists of strings",
        ),
    ],
)
def test_m3exam_malformed_row_names_file_and_row(data, row, problem):
    pretty = [
        m3_row("Swali?", ["A. a", "B. b"], "A"),
        row,
    ]  # pretty-printed: row 1 starts on line 17
    write_json(data / "m3exam" / "swahili-questions-test.json", pretty, indent=1)
    with pytest.raises(
        MlsteerError, match=rf"swahili-questions-test\.json:17 \(row 1\): {problem}"
    ):
        get_task("m3exam").load("sw", data_dir=data)


# --------------------------------------------------------------------------- the real data folder


def real_data() -> Path:
    folder = Path(
        os.environ.get("MLSTEER_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    if not folder.is_dir():
        pytest.skip(f"no benchmark data folder at {folder} (set $MLSTEER_DATA)")
    return folder


def test_real_xcopa():
    task, folder = get_task("xcopa"), real_data()
    sw = task.load("sw", data_dir=folder)
    assert len(sw) == 500 and len(task.load("sw", "val", folder)) == 100
    assert all(task.render(e).continuations[e.gold] == task.answer_text(e) for e in sw)


def test_real_xnli():
    task, folder = get_task("xnli"), real_data()
    sw = task.load("sw", data_dir=folder)
    assert len(sw) == 5010 and [sum(e.gold == k for e in sw) for k in range(3)] == [1670] * 3
    assert all(e.gold == e.english.gold for e in sw)  # parallel labels
    assert (
        len(task.load("th", data_dir=folder)) == 5010
        and len(task.load("el", "validation", folder)) == 2490
    )


def test_real_mgsm():
    task, folder = get_task("mgsm"), real_data()
    for lang in ("sw", "zh", "en"):
        rows = task.load(lang, data_dir=folder)
        assert len(rows) == 250 and "2125" in {e.gold for e in rows}
    for lang in task.languages:
        shots = task.load(lang, "train", folder)
        assert [e.gold for e in shots] == ["11", "29", "39", "9", "33", "8", "8", "5"]


def test_real_m_mmlu():
    task, folder = get_task("m_mmlu"), real_data()
    assert (
        len(task.load("es", data_dir=folder)) == 1465 and len(task.load("es", "dev", folder)) == 272
    )
    assert len(task.load("te", data_dir=folder)) == 1159


def test_real_m3exam():
    task, folder = get_task("m3exam"), real_data()
    rows = json.loads(
        (folder / "m3exam" / "swahili-questions-test.json").read_text(encoding="utf-8")
    )
    assert len(rows) == 428
    skipped = sum(row.get("need_image") == "yes" for row in rows) + len(
        m3exam_module.KNOWN_BROKEN["swahili-questions-test"]
    )
    assert len(task.load("sw", data_dir=folder)) == 428 - skipped
    assert (
        len(task.load("th", "dev", folder)) == 26 and len(task.load("vi", data_dir=folder)) == 1789
    )
