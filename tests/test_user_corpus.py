"""Bring your own corpus: TSV, JSONL, line-aligned files and hf: specs through ``load_pairs`` and
every command that reads pairs; malformed files fail naming the file and line."""

import json

import pytest
from typer.testing import CliRunner

from mlsteer.cli import app
from mlsteer.data.corpora import check_corpus, load_pairs
from mlsteer.data.user_corpus import corpus_label, resolve_corpus
from mlsteer.errors import MlsteerError

runner = CliRunner()
ENGLISH = [
    "Hello.",
    "Thank you.",
    "Water is cold.",
    "I like bread.",
    "The dog sleeps.",
    "Where is the market?",
    "Good morning.",
    "The sun is hot.",
    "I have two sisters.",
    "We eat rice.",
    "The book is red.",
    "See you tomorrow.",
]
SWAHILI = [
    "Habari.",
    "Asante.",
    "Maji ni baridi.",
    "Ninapenda mkate.",
    "Mbwa analala.",
    "Soko liko wapi?",
    "Habari za asubuhi.",
    "Jua ni kali.",
    "Nina dada wawili.",
    "Tunakula wali.",
    "Kitabu ni chekundu.",
    "Tuonane kesho.",
]
SPANISH = [
    "Hola.",
    "Gracias.",
    "El agua está fría.",
    "Me gusta el pan.",
    "El perro duerme.",
    "¿Dónde está el mercado?",
    "Buenos días.",
    "El sol quema.",
    "Tengo dos hermanas.",
    "Comemos arroz.",
    "El libro es rojo.",
    "Hasta mañana.",
]


def write_corpus(folder):
    """pairs.tsv (en, sw, es), pairs.jsonl and en.txt / sw.txt, all with the same pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(zip(ENGLISH, SWAHILI, SPANISH))
    (folder / "pairs.tsv").write_text(
        "en\tsw\tes\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8"
    )
    (folder / "pairs.jsonl").write_text(
        "".join(json.dumps({"en": e, "sw": s}) + "\n" for e, s, _ in rows), encoding="utf-8"
    )
    (folder / "en.txt").write_text("\n".join(ENGLISH) + "\n", encoding="utf-8")
    (folder / "sw.txt").write_text("\n".join(SWAHILI) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus")


def test_every_form_gives_the_same_pairs(corpus):
    expected = (tuple(ENGLISH), tuple(SWAHILI))
    specs = [
        corpus / "pairs.tsv",
        corpus / "pairs.jsonl",
        f"{corpus / 'en.txt'},{corpus / 'sw.txt'}",
        f"sw={corpus / 'sw.txt'},en={corpus / 'en.txt'}",
    ]
    for spec in specs:
        pairs = load_pairs(str(spec), "sw")
        assert (pairs.english, pairs.target) == expected and pairs.lang == "sw", spec
    pivot = load_pairs(
        str(corpus / "pairs.tsv"), "sw", goal="es"
    )  # the goal column straight from the file
    assert pivot.goal == "es" and pivot.english == tuple(SPANISH) and pivot.target == tuple(SWAHILI)
    sample = load_pairs(str(corpus / "pairs.tsv"), "es", n=5, seed=1)
    assert len(sample) == 5 and sample == load_pairs(str(corpus / "pairs.tsv"), "es", n=5, seed=1)


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "bad.tsv",
            "en\tsw\nHi\tHabari\nYes\tNdiyo\textra\n",
            r"bad.tsv:3: 3 tab-separated cells but the header has 2 \(en, sw\)",
        ),
        (
            "bad.tsv",
            "en\tsw\nHi\t \n",
            r"bad.tsv:2: the sw cell is empty; write its text, or delete the row",
        ),
        (
            "bad.tsv",
            "en\tfr\nHi\tSalut\n",
            r"bad.tsv has no 'sw' \(Swahili\) column; it has: en, fr; add a sw column",
        ),
        (
            "bad.tsv",
            b"en\tsw\nHi\tHab\xffari\n",
            r"bad.tsv:2: byte 0xff is not UTF-8; save the file as UTF-8",
        ),
        (
            "bad.tsv",
            "Hi\tHabari\n",
            r"bad.tsv:1: the header names no language code .*header line such as en<TAB>sw",
        ),
        ("bad.tsv", "en\tsw\n", r"bad.tsv has a header but no pairs"),
        (
            "bad.jsonl",
            '{"en": "Hi", "sw": "Habari"}\n{"en": "Yes", "sw": \n',
            r"bad.jsonl:2: not JSON",
        ),
        ("bad.jsonl", '["Hi", "Habari"]\n', r"bad.jsonl:1: expected a JSON object"),
        (
            "bad.jsonl",
            '{"en": "Hi", "sw": "Habari"}\n\n{"en": "Yes", "es": "Sí"}\n',
            r"bad.jsonl:3: no 'sw' field \(it has: en, es\)",
        ),
        ("bad.jsonl", '{"en": "Hi", "sw": 3}\n', r"bad.jsonl:1: the sw cell is int"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MlsteerError, match=message):
        load_pairs(str(path), "sw")


def test_aligned_files_must_line_up(tmp_path):
    (tmp_path / "en.txt").write_text("Hi\nYes\nNo\n", encoding="utf-8")
    (tmp_path / "sw.txt").write_text("Habari\n\nHapana\n", encoding="utf-8")
    with pytest.raises(MlsteerError, match=r"sw.txt:2: blank line where the other files have text"):
        load_pairs(f"{tmp_path / 'en.txt'},{tmp_path / 'sw.txt'}", "sw")
    (tmp_path / "sw.txt").write_text("Habari\n", encoding="utf-8")
    with pytest.raises(
        MlsteerError,
        match=r"line-aligned files differ in length .*en.txt: 3 lines.*sw.txt: 1 lines",
    ):
        load_pairs(f"{tmp_path / 'en.txt'},{tmp_path / 'sw.txt'}", "sw")
    with pytest.raises(MlsteerError, match=r"cannot read 'xx=b.txt'; write CODE=FILE"):
        load_pairs("en=a.txt,xx=b.txt", "sw")


def test_specs_that_name_nothing_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(
        MlsteerError,
        match=r"unknown corpus 'tatoebaa'; use one of: tatoeba, msvamp, builtin, or your own",
    ):
        load_pairs("tatoebaa", "sw")
    with pytest.raises(MlsteerError, match=r"no corpus file .*missing.tsv; check the path"):
        check_corpus(str(tmp_path / "missing.tsv"))
    with pytest.raises(
        MlsteerError, match=r"corpus 'hf:' names no dataset; write hf:ID or hf:ID:CONFIG"
    ):
        load_pairs("hf:", "sw")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        MlsteerError,
        match=r"cannot load hf:nobody/nothing from the Hub .*save the pairs as a TSV file",
    ):
        load_pairs("hf:nobody/nothing", "sw")


def test_hub_rows_by_column_or_translation_dict(monkeypatch):
    import datasets

    def fake(dataset, config):  # what load_dataset returns without a split: the splits by name
        translation = datasets.Dataset.from_dict(
            {"translation": [{"en": e, "sw": s} for e, s in zip(ENGLISH, SWAHILI)]}
        )
        columns = datasets.Dataset.from_dict({"en": ENGLISH, "sw": SWAHILI})
        return datasets.DatasetDict(
            {"test": columns}
            if config == "plain"
            else {"validation": columns, "train": translation}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake)
    for spec in ("hf:someone/opus:en-sw", "hf:someone/plain:plain"):
        pairs = load_pairs(spec, "sw")
        assert pairs.english == tuple(ENGLISH) and pairs.target == tuple(SWAHILI)
    with pytest.raises(
        MlsteerError, match=r"hf:someone/plain:plain has no 'es' \(Spanish\) column; it has: en, sw"
    ):
        load_pairs("hf:someone/plain:plain", "es")


def test_labels_and_config_relative_paths(corpus):
    assert (
        corpus_label(str(corpus / "pairs.tsv")) == "pairs" and corpus_label("tatoeba") == "tatoeba"
    )
    assert corpus_label("hf:Helsinki-NLP/opus-100:en-sw") == "Helsinki-NLP_opus-100_en-sw"
    assert corpus_label("en=a/en.txt,sw=b/sw.txt") == "sw"
    assert resolve_corpus("pairs.tsv", corpus) == str(corpus / "pairs.tsv")
    assert resolve_corpus("en.txt,sw.txt", corpus) == f"{corpus / 'en.txt'},{corpus / 'sw.txt'}"
    assert (
        resolve_corpus("hf:a/b", corpus) == "hf:a/b"
        and resolve_corpus("pairs.tsv", None) == "pairs.tsv"
    )


def test_commands_take_a_corpus_file(corpus, tmp_path):
    tsv, model = str(corpus / "pairs.tsv"), ["-m", "tiny-gemma3"]
    vector = tmp_path / "sw.safetensors"
    learned = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "meandiff",
            "--layer",
            "1",
            "--lang",
            "sw",
            "--corpus",
            tsv,
            "-n",
            "10",
            "-o",
            str(vector),
            *model,
        ],
    )
    assert learned.exit_code == 0, learned.output
    assert vector.is_file() and "wrote 1 entry" in learned.output
    similarity = runner.invoke(
        app,
        [
            "similarity",
            "--langs",
            "sw,es",
            "--corpus",
            tsv,
            "-n",
            "6",
            "--out",
            str(tmp_path / "sim"),
            *model,
        ],
    )
    assert similarity.exit_code == 0, similarity.output
    assert json.loads((tmp_path / "sim" / "similarity.json").read_text())["langs"] == ["sw", "es"]
    lens = runner.invoke(
        app,
        [
            "lens",
            "--langs",
            "sw",
            "--corpus",
            str(corpus / "pairs.jsonl"),
            "--texts",
            "3",
            "--k",
            "3",
            "--out",
            str(tmp_path / "lens"),
            *model,
        ],
    )
    assert lens.exit_code == 0, lens.output
    assert (tmp_path / "lens" / "lens_sw.json").is_file()
    sweep = runner.invoke(
        app,
        [
            "sweep",
            "--task",
            "cloze",
            "--langs",
            "sw",
            "--corpus",
            tsv,
            "-n",
            "10",
            "--layers",
            "1,2",
            "--alphas",
            "2",
            "--limit",
            "4",
            "--no-test-grid",
            "--out",
            str(tmp_path / "sweep"),
            *model,
        ],
    )
    assert sweep.exit_code == 0, sweep.output
    assert (
        json.loads((tmp_path / "sweep" / "sweep_cloze.json").read_text())["languages"][0]["lang"]
        == "sw"
    )
    pivot = runner.invoke(
        app,
        [
            "pivot",
            "--task",
            "cloze",
            "--langs",
            "sw",
            "--pivots",
            "en,es",
            "--corpus",
            tsv,
            "--layer",
            "1",
            "-n",
            "10",
            "--limit",
            "4",
            "--out",
            str(tmp_path / "pivot"),
            *model,
        ],
    )
    assert pivot.exit_code == 0, pivot.output
    assert (tmp_path / "pivot" / "vectors" / "sw_to_es_mse.safetensors").is_file()
    missing = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "meandiff",
            "--layer",
            "1",
            "--lang",
            "fr",
            "--corpus",
            tsv,
            "-o",
            str(tmp_path / "fr.safetensors"),
            *model,
        ],
    )
    assert (
        missing.exit_code == 2
        and "has no 'fr' (French) column; it has: en, sw, es" in missing.output
    )
