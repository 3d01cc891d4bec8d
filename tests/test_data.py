"""Readers for parallel corpora, on small fixtures written here in the exact on-disk formats."""

import json

import pytest

from mlsteer.data import builtin_pairs, read_tsv_pairs
from mlsteer.data.corpora import load_pairs, read_line_aligned, read_msvamp_rows, sample_pairs
from mlsteer.data.pairs import ParallelPairs
from mlsteer.data.preferences import format_answer, triples_from_answers, triples_from_parallel
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.languages import TIERS, get_language

SWAHILI = [
    ("He brought me coffee.", "Alinileta kahawa."),
    ("It is Anita's house.", "Ni nyumba ya Anita."),
    ("There are no problems.", "Hakuna matata."),
]


@pytest.fixture
def data_dir(tmp_path):
    """A miniature benchmark folder: LASER Tatoeba files and MSVAMP JSON Lines."""
    tatoeba = tmp_path / "tatoeba"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.swh-eng.swh").write_text(
        "".join(t + "\n" for _, t in SWAHILI), encoding="utf-8"
    )
    (tatoeba / "tatoeba.swh-eng.eng").write_text(
        "".join(e + "\n" for e, _ in SWAHILI), encoding="utf-8"
    )
    msvamp = tmp_path / "msvamp"
    msvamp.mkdir()
    rows = [
        {
            "query": "julia played tag with 18 kids . how many ?",
            "equation": "- number0 number1",
            "response": "8.0",
            "m_query": "Julia alicheza na watoto 18. Wangapi?",
        },
        {
            "query": "a man has 3 apples . how many ?",
            "equation": "number0",
            "response": "3.0",
            "m_query": "Mtu ana tufaha 3. Ngapi?",
        },
    ]
    (msvamp / "test_Swahili.json").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return tmp_path


def test_tatoeba_reader(data_dir):
    pairs = load_pairs("tatoeba", "sw", data_dir)
    assert pairs.english == tuple(e for e, _ in SWAHILI) and pairs.target == tuple(
        t for _, t in SWAHILI
    )


def test_tatoeba_reader_uses_env_var(data_dir, monkeypatch):
    monkeypatch.setenv("MLSTEER_DATA", str(data_dir))
    assert len(load_pairs("tatoeba", "sw")) == 3


def test_msvamp_reader(data_dir):
    rows = read_msvamp_rows(data_dir, "sw")
    assert rows[0].target_question.startswith("Julia") and rows[0].answer == "8.0"
    pairs = load_pairs("msvamp", "sw", data_dir)
    assert pairs.english[1] == "a man has 3 apples . how many ?"


def test_msvamp_malformed_row_names_file_and_line(data_dir):
    path = data_dir / "msvamp" / "test_Swahili.json"
    path.write_text(path.read_text(encoding="utf-8") + '{"query": "x"}\n', encoding="utf-8")
    with pytest.raises(MlsteerError, match=r"test_Swahili.json:3: malformed MSVAMP row"):
        read_msvamp_rows(data_dir, "sw")


def test_language_the_corpus_lacks_is_named(data_dir):
    with pytest.raises(MlsteerError, match="MSVAMP has no 'te' \\(Telugu\\); it has: bn, de, es"):
        load_pairs("msvamp", "te", data_dir)
    with pytest.raises(MlsteerError, match="unknown language code 'xx'"):
        load_pairs("tatoeba", "xx", data_dir)
    with pytest.raises(MlsteerError, match="unknown corpus 'opus'; use one of: tatoeba, msvamp"):
        load_pairs("opus", "sw", data_dir)
    with pytest.raises(MlsteerError, match="missing data file .*tatoeba.fra-eng.fra"):
        load_pairs("tatoeba", "fr", data_dir)


def test_line_aligned_files_of_unequal_length(tmp_path):
    (tmp_path / "a.sw").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("a\n", encoding="utf-8")
    with pytest.raises(MlsteerError, match="has 2 lines but .* has 1"):
        read_line_aligned(tmp_path / "a.sw", tmp_path / "a.en", "sw")
    (tmp_path / "e.sw").write_text("\n\n", encoding="utf-8")
    (tmp_path / "e.en").write_text("\n\n", encoding="utf-8")
    with pytest.raises(EmptyInputError):
        read_line_aligned(tmp_path / "e.sw", tmp_path / "e.en", "sw")


def test_seeded_sampling():
    pairs = ParallelPairs(
        "es", tuple(f"e{i}" for i in range(50)), tuple(f"t{i}" for i in range(50))
    )
    a, b = sample_pairs(pairs, 10, seed=1), sample_pairs(pairs, 10, seed=1)
    assert a == b and len(a) == 10 and sample_pairs(pairs, 10, seed=2) != a
    assert all(e[1:] == t[1:] for e, t in zip(a.english, a.target))  # still aligned


def test_pairs_validation_and_builtin(tmp_path):
    with pytest.raises(MlsteerError, match="3 English texts but 2 sw texts"):
        ParallelPairs("sw", ("a", "b", "c"), ("x", "y"))
    assert len(builtin_pairs("es")) >= 20
    with pytest.raises(MlsteerError, match="no built-in pairs for 'xx'"):
        builtin_pairs("xx")
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\thola\nbroken line\n", encoding="utf-8")
    with pytest.raises(MlsteerError, match="bad.tsv:2"):
        read_tsv_pairs(bad, "es")


def test_preference_builders(data_dir):
    triples = triples_from_parallel(load_pairs("tatoeba", "sw", data_dir))
    assert triples[0].prompt == "Alinileta kahawa.\n"
    assert (triples[0].chosen, triples[0].rejected) == (
        "He brought me coffee.",
        "Alinileta kahawa.",
    )
    rows = read_msvamp_rows(data_dir, "sw")
    math = triples_from_answers([r.target_question for r in rows], [r.answer for r in rows], "sw")
    assert (math[0].chosen, math[0].rejected) == ("The answer is 8.", "Jibu ni 8.")
    assert format_answer("2.5") == "2.5" and format_answer("1000.0") == "1000"
    with pytest.raises(MlsteerError, match="no answer sentence for 'vi'"):
        triples_from_answers(["q"], ["1"], "vi")


def test_language_table():
    assert get_language("sw").iso3 == "swh" and get_language("zh").script == "Han"
    assert TIERS["low"] == ("bn", "sw", "te")
    assert set(TIERS["high"]) == {"de", "es", "fr", "it", "pt", "ru", "zh", "ja"}
