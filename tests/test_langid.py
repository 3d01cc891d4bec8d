import pytest

from mlsteer.data.words import concept_words, parse_words
from mlsteer.errors import MlsteerError
from mlsteer.langid import DEFAULT_TOKEN_DETECTOR, TOKEN_DETECTORS, detect_language, get_detector

LATIN = ("en", "es", "fr", "de", "it", "pt", "id", "tr", "vi", "sw")
HEADER_LANGS = [
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "id",
    "tr",
    "vi",
    "sw",
    "zh",
    "ja",
    "ru",
    "th",
    "bn",
    "te",
    "ar",
    "hi",
    "el",
]


def test_detect_language_keeps_its_behaviour():
    assert detect_language("The cat sits on the mat and the dog sleeps in the sun.") == "en"
    assert detect_language("El perro duerme en la casa de mi madre.") == "es"
    assert detect_language("1234 !!") == "unknown"


@pytest.mark.parametrize("name", TOKEN_DETECTORS)
def test_obvious_words(name):
    detect = get_detector(name)
    assert detect("the") == "en"
    assert detect("house") == "en"
    assert get_detector(name, ["en", "es", "fr", "de"])("perro") == "es"
    assert get_detector(name, LATIN)("schreiben") == "de"


@pytest.mark.parametrize("name", TOKEN_DETECTORS)
@pytest.mark.parametrize("text", ["", "   ", "1234", "...", "▁", "3.14 %!", "—"])
def test_no_letters_gives_none(name, text):
    assert get_detector(name)(text) is None
    assert get_detector(name, ["en", "de"])(text) is None


@pytest.mark.parametrize("name", TOKEN_DETECTORS)
def test_candidates_are_respected(name):
    candidates = ["de", "it"]
    detect = get_detector(name, candidates)
    # words of other languages, and of other scripts, must still map into the candidates or None
    for word in [
        "the",
        "house",
        "perro",
        "maison",
        "rumah",
        "köpek",
        "nước",
        "水",
        "собака",
        "xyz",
    ]:
        assert detect(word) in {"de", "it", None}, word
    assert detect("the") is not None  # restricted, not refusing: English words get a candidate


@pytest.mark.parametrize("name", TOKEN_DETECTORS)
def test_unsupported_candidates(name):
    # neither detector knows Haitian Creole or Quechua: they are skipped ...
    assert get_detector(name, ["ht", "en", "de"])("the") == "en"
    # ... and with only them there is nothing to detect with
    with pytest.raises(MlsteerError, match="none of the candidates"):
        get_detector(name, ["ht", "qu"])
    assert get_detector(name, ["sw", "ht"])("habari") == "sw"  # a single known candidate


def test_unknown_detector_name_lists_the_choices():
    with pytest.raises(MlsteerError) as err:
        get_detector("fasttext")
    message = str(err.value)
    assert "fasttext" in message and "lingua" in message and "langdetect" in message


def test_bad_candidates():
    with pytest.raises(MlsteerError, match="ISO 639-1"):
        get_detector("lingua", ["English"])
    with pytest.raises(MlsteerError, match="not the string"):
        get_detector("lingua", "en")
    with pytest.raises(MlsteerError, match="empty"):
        get_detector("langdetect", [])


def test_detectors_are_cached_and_deterministic():
    for name in TOKEN_DETECTORS:
        assert get_detector(name, ["en", "fr"]) is get_detector(name, ("fr", "en"))
        detect = get_detector(name, LATIN)
        assert [detect(w) for w in ("sol", "ay", "mti")] == [
            detect(w) for w in ("sol", "ay", "mti")
        ]


def test_chinese_maps_to_zh():
    assert get_detector("langdetect", ["zh", "en"])("我们今天去学校学习中文") == "zh"
    assert get_detector("lingua", ["zh", "en"])("我们今天去学校学习中文") == "zh"


def test_concept_words_table():
    words = concept_words()
    assert words.langs == tuple(HEADER_LANGS)
    assert len(words) >= 60 and len(words.concepts) == len(words)
    for row in words.rows:
        assert set(row) == set(HEADER_LANGS)
        assert all(cell.strip() == cell and cell for cell in row.values())
    assert words.words("en")[:3] == ["water", "fire", "house"]
    assert words.words("es")[words.concepts.index("dog")] == "perro"
    with pytest.raises(MlsteerError, match="no 'ko' column"):
        words.words("ko")


def test_labelled_drops_cross_language_duplicates():
    words = concept_words()
    labelled = words.labelled(LATIN)
    strings = [w for w, _ in labelled]
    assert ("casa", "es") not in labelled and "casa" not in strings  # es, it, pt
    assert "hand" not in strings  # en and de
    assert ("perro", "es") in labelled and ("house", "en") in labelled
    assert len(set(strings)) == len(strings)
    # a duplicate under a language outside the requested ones still makes a word ambiguous
    assert "mano" not in [w for w, _ in words.labelled(["es"])]
    assert "水" not in [w for w, _ in words.labelled(["zh", "ja"])]

    table = parse_words(
        "concept\ten\tde\tfr\nhotel\thotel\thotel\thôtel\nhouse\thouse\thaus\tmaison\n"
    )
    assert table.labelled() == [("house", "en"), ("haus", "de"), ("hôtel", "fr"), ("maison", "fr")]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("concept\ten\tde\nwater\twater\n", r"x:2: expected 3 tab-separated cells"),
        ("concept\ten\tde\nwater\twater\t\n", r"x:2: empty cell"),
        (
            "# c\nconcept\ten\tde\n\nwater\twater\tdas wasser\n",
            r"x:4: de cell 'das wasser' has several",
        ),
        ("concept\ten\tde\nwater\twater\tWasser\n", r"x:2: .*lowercase"),
        ("concept\ten\txx\n", r"x:1: unknown language code 'xx'"),
        ("en\tde\nwater\twasser\n", r"x:1: expected a header"),
        (
            "concept\ten\tde\nwater\twater\twasser\nwater\twater\twasser\n",
            r"x:3: concept 'water' appears twice",
        ),
        ("# only a comment\n", r"x: no header or no rows"),
    ],
)
def test_malformed_words_file(text, match):
    with pytest.raises(MlsteerError, match=match):
        parse_words(text, source="x")


def test_vietnamese_words_may_have_spaces():
    table = parse_words("concept\ten\tvi\nsun\tsun\tmặt trời\n")
    assert table.rows[0]["vi"] == "mặt trời"


def _accuracy(name: str, labelled: list[tuple[str, str]]) -> float:
    detect = get_detector(name, LATIN)
    return sum(detect(word) == lang for word, lang in labelled) / len(labelled)


def test_default_detector_is_the_more_accurate_on_latin_words():
    labelled = concept_words().labelled(LATIN)
    assert len(labelled) >= 500
    scores = {name: _accuracy(name, labelled) for name in TOKEN_DETECTORS}
    others = [scores[name] for name in TOKEN_DETECTORS if name != DEFAULT_TOKEN_DETECTOR]
    assert scores[DEFAULT_TOKEN_DETECTOR] >= max(others), scores
    assert scores[DEFAULT_TOKEN_DETECTOR] >= 0.75, scores  # measured 0.814 (bench/token_langid.py)


def test_script_restricted_detector_never_leaves_the_script():
    from mlsteer.analysis.lens_languages import script_restricted_detector
    from mlsteer.analysis.scripts import script_languages

    for name in ("lingua", "langdetect"):
        detect = script_restricted_detector(name)
        assert detect("ภาษา") == "th" and detect("123") is None
        assert detect("perro") in script_languages("perro")
        assert detect("猫") in ("zh", "ja")
    assert script_restricted_detector("lingua")("casa") != "en"
