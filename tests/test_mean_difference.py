import pytest
import torch

from mlsteer.data import builtin_pairs, read_tsv_pairs
from mlsteer.data.pairs import ParallelPairs
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.learners import mean_difference


def test_recovers_planted_offset():
    generator = torch.Generator().manual_seed(0)
    offset = torch.randn(32, generator=generator)
    english = torch.randn(500, 32, generator=generator) * 0.5
    target = english - offset + 0.1 * torch.randn(500, 32, generator=generator)
    vector = mean_difference(target, english, layer=3, model_fingerprint="m@1")
    assert float(torch.cosine_similarity(vector.vector, offset, dim=0)) > 0.99
    assert vector.layer == 3 and vector.method == "meandiff" and vector.info["n_pairs"] == 500


def test_unequal_and_empty_pairs_are_errors():
    with pytest.raises(MlsteerError, match="10 'away' activations .* vs 9 'toward'"):
        mean_difference(torch.ones(10, 4), torch.ones(9, 4), layer=0, model_fingerprint="m")
    with pytest.raises(EmptyInputError):
        mean_difference(torch.ones(0, 4), torch.ones(0, 4), layer=0, model_fingerprint="m")
    with pytest.raises(MlsteerError, match="3 English texts but 2 sw texts"):
        ParallelPairs("sw", ("a", "b", "c"), ("x", "y"))


def test_builtin_pairs_and_tsv_reader(tmp_path):
    pairs = builtin_pairs("es")
    assert len(pairs) >= 20 and all(pairs.english) and all(pairs.target)
    with pytest.raises(MlsteerError, match="no built-in pairs for 'xx'; built-in languages: es"):
        builtin_pairs("xx")
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\thola\nbroken line\n", encoding="utf-8")
    with pytest.raises(MlsteerError, match="bad.tsv:2"):
        read_tsv_pairs(bad, "es")
