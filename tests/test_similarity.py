"""Known-answer tests for mlsteer.analysis.similarity and its figures (no model needed)."""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
import pytest
import torch

from mlsteer.analysis.similarity import (
    SimilarityResult,
    language_distance_matrix,
    similarity_by_language,
    similarity_to_english,
)
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.plots.similarity import distance_matrix_figure, similarity_heatmap

from .tolerances import SHORT_SUM, assert_close_scaled


def planted_pairs(cosines: list[float], n_pairs: int = 4, d: int = 32, offset: float = 0.0):
    """Pairs whose centered cosine at layer l is exactly ``cosines[l]``: rows come as (a, b)
    and (-a, -b), so the mean over both sets is exactly the shared ``offset * e_0``."""
    eye = torch.eye(d)
    target = torch.zeros(2 * n_pairs, len(cosines), d)
    english = torch.zeros_like(target)
    for layer, c in enumerate(cosines):
        for i in range(n_pairs):
            a = eye[1 + i]
            b = c * a + math.sqrt(1 - c**2) * eye[1 + n_pairs + i]
            target[2 * i, layer], english[2 * i, layer] = a, b
            target[2 * i + 1, layer], english[2 * i + 1, layer] = -a, -b
    shared = offset * eye[0]
    return target + shared, english + shared


def test_identical_pairs_are_exactly_one():
    acts = torch.randn(5, 3, 16)
    assert torch.equal(similarity_to_english(acts, acts.clone()), torch.ones(3))


def test_orthogonal_pairs_are_zero():
    eye = torch.eye(8)
    target = eye[0::2].unsqueeze(1).repeat(1, 2, 1)  # rows e0, e2, e4, e6 at 2 layers
    english = eye[1::2].unsqueeze(1).repeat(1, 2, 1)  # rows e1, e3, e5, e7
    assert_close_scaled(
        similarity_to_english(target, english), torch.zeros(2), ulps=SHORT_SUM, scale=1.0
    )  # cosines


def test_centering_removes_a_shared_offset():
    target, english = planted_pairs([0.2, 0.6], offset=100.0)
    raw = similarity_to_english(target, english)
    centered = similarity_to_english(target, english, center=True)
    assert (raw > 0.99).all()
    # centring subtracts an offset of 100: cancellation costs ~100x the ulps of a cosine of scale 1
    assert_close_scaled(centered, torch.tensor([0.2, 0.6]), ulps=100 * SHORT_SUM, scale=1.0)


def test_centering_without_offset_keeps_the_planted_value():
    target, english = planted_pairs([0.3])
    assert_close_scaled(
        similarity_to_english(target, english), torch.tensor([0.3]), ulps=SHORT_SUM, scale=1.0
    )
    centered = similarity_to_english(target, english, center=True)
    assert_close_scaled(centered, torch.tensor([0.3]), ulps=SHORT_SUM, scale=1.0)


@pytest.mark.parametrize(
    ("target", "english", "error"),
    [
        (torch.zeros(3, 2, 4), torch.zeros(3, 2, 5), MlsteerError),
        (torch.zeros(3, 2, 4), torch.zeros(2, 2, 4), MlsteerError),
        (torch.zeros(3, 4), torch.zeros(3, 4), MlsteerError),
        (torch.zeros(0, 2, 4), torch.zeros(0, 2, 4), EmptyInputError),
        (torch.full((3, 2, 4), float("nan")), torch.ones(3, 2, 4), MlsteerError),
        (torch.ones(3, 2, 4), torch.full((3, 2, 4), float("inf")), MlsteerError),
    ],
)
@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_bad_input_raises(target, english, error):
    with pytest.raises(error):
        similarity_to_english(target, english)


def test_distance_matrix_is_symmetric_with_zero_diagonal():
    torch.manual_seed(0)
    means = {lang: torch.randn(64) for lang in ("en", "fr", "th", "te")}
    langs, matrix = language_distance_matrix(means)
    assert langs == ("en", "fr", "th", "te")
    assert torch.equal(matrix, matrix.T)
    assert torch.equal(matrix.diagonal(), torch.zeros(4))
    expected = 1 - torch.cosine_similarity(means["fr"], means["th"], dim=0)
    assert_close_scaled(matrix[1, 2], expected, ulps=SHORT_SUM, scale=1.0)  # a cosine distance


def test_distance_matrix_known_values_and_errors():
    means = {
        "a": torch.tensor([1.0, 0.0]),
        "b": torch.tensor([0.0, 2.0]),
        "c": torch.tensor([-3.0, 0.0]),
    }
    _, matrix = language_distance_matrix(means)
    expected = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    assert_close_scaled(matrix, expected, ulps=SHORT_SUM)
    with pytest.raises(EmptyInputError):
        language_distance_matrix({})
    with pytest.raises(MlsteerError, match="all zeros"):
        language_distance_matrix({"a": torch.zeros(2), "b": torch.ones(2)})


def make_result() -> SimilarityResult:
    values = torch.tensor([[0.2, 0.55, 0.8], [0.1, 0.3, 0.45]])
    return SimilarityResult(langs=("fr", "te"), layers=(0, 4, 8), values=values)


def test_first_layer_above():
    result = make_result()
    assert result.first_layer_above("fr") == 4
    assert result.first_layer_above("te") is None
    with pytest.raises(MlsteerError, match="fr, te"):
        result.first_layer_above("de")


def test_result_json_round_trip(tmp_path):
    result = make_result()
    path = tmp_path / "similarity.json"
    path.write_text(json.dumps(result.to_dict()))
    loaded = SimilarityResult.from_dict(json.loads(path.read_text()))
    assert loaded.langs == result.langs and loaded.layers == result.layers
    assert loaded.threshold == result.threshold
    assert torch.equal(loaded.values, result.values)
    with pytest.raises(MlsteerError, match="missing values"):
        SimilarityResult.from_dict({"langs": ["fr"], "layers": [0]})


def test_result_shape_is_checked():
    with pytest.raises(MlsteerError):
        SimilarityResult(langs=("fr",), layers=(0, 1), values=torch.zeros(2, 2))


def test_similarity_by_language_stacks_rows():
    same = torch.randn(3, 2, 8)
    target, english = planted_pairs([0.0, 0.4], d=16)
    result = similarity_by_language({"fr": (same, same), "te": (target, english)}, layers=[3, 7])
    assert result.langs == ("fr", "te") and result.layers == (3, 7)
    assert_close_scaled(
        result.values, torch.tensor([[1.0, 1.0], [0.0, 0.4]]), ulps=SHORT_SUM, scale=1.0
    )
    with pytest.raises(MlsteerError, match="layer indices"):
        similarity_by_language({"fr": (same, same)}, layers=[3])


def test_similarity_heatmap_shape_and_threshold():
    result = make_result()
    fig = similarity_heatmap(result)
    heatmaps = [trace for trace in fig.data if isinstance(trace, go.Heatmap)]
    assert len(heatmaps) == 1
    z = heatmaps[0].z
    assert (len(z), len(z[0])) == (2, 3)
    assert heatmaps[0].zmin == pytest.approx(0.1) and heatmaps[0].zmax == pytest.approx(0.8)
    marks = fig.data[1]
    assert list(zip(marks.x, marks.y)) == [("4", "fr"), ("8", "fr")]  # the cells >= 0.5
    assert "0.5" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "layer" and fig.layout.yaxis.title.text == "language"


def test_similarity_heatmap_colour_scale_includes_negatives():
    result = SimilarityResult(langs=("th",), layers=(0, 1), values=torch.tensor([[-0.3, 0.1]]))
    fig = similarity_heatmap(result)
    assert fig.data[0].zmin == pytest.approx(-0.3)
    assert len(fig.data[1].x) == 0


def test_distance_matrix_figure():
    means = {"en": torch.tensor([1.0, 0.0]), "fr": torch.tensor([1.0, 1.0])}
    langs, matrix = language_distance_matrix(means)
    fig = distance_matrix_figure(langs, matrix)
    assert len(fig.data) == 1
    assert (len(fig.data[0].z), len(fig.data[0].z[0])) == (2, 2)
    assert tuple(fig.data[0].x) == langs
    with pytest.raises(MlsteerError):
        distance_matrix_figure(("en",), matrix)


def test_result_from_dict_with_wrong_shape_raises():
    with pytest.raises(MlsteerError, match="expected"):
        SimilarityResult.from_dict({"langs": ["fr"], "layers": [0, 1], "values": [[0.1, 0.2, 0.3]]})
