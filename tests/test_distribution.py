"""Train/test distribution PCA (Figure 8): planted clouds, determinism, validation, pipeline."""

import json

import pytest
import torch

from mlsteer.analysis.distribution import pca_2d
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.distribution import run_train_test_pca
from mlsteer.plots.distribution import distribution_figure

from .tolerances import DECOMPOSITION, approx_scaled, assert_close_scaled


def clouds(shift: float = 10.0, n: int = 200, d: int = 8, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    train = torch.randn(n, d, generator=generator)
    test = torch.randn(n, d, generator=generator)
    test[:, 3] += shift
    return {"train": train, "eval": test}


def test_planted_clouds_separate_along_pc1():
    projection = pca_2d(clouds())
    axis = projection.components[0]
    assert axis.abs().argmax() == 3 and abs(float(axis[3])) > 0.99
    train_x, eval_x = projection.coords["train"][:, 0], projection.coords["eval"][:, 0]
    assert (train_x.max() < eval_x.min()) or (eval_x.max() < train_x.min())
    assert projection.explained[0] > 0.7 and projection.explained.sum() <= 1
    # centroids 10 apart, each cloud's RMS radius ~sqrt(8): separation ~ 10 / sqrt(8 + 25) in full space
    assert projection.distance("train", "eval") > 1.5
    assert projection.distance("train", "eval", plane=True) > 1.5
    assert projection.distance("eval", "train") == projection.distance("train", "eval")
    assert projection.coords["train"].shape == (200, 2)


def test_groups_from_one_distribution_are_not_separated():
    same = clouds(shift=0.0)
    assert pca_2d(same).distance("train", "eval") < 0.2
    twin = pca_2d({"a": same["train"], "b": same["train"].clone()})
    # identical rows: zero distance and equal coordinates up to the solver's rounding at the data's scale
    scale = float(same["train"].abs().max())
    assert twin.distance("a", "b") == approx_scaled(0.0, DECOMPOSITION, scale=scale)
    assert_close_scaled(twin.coords["a"], twin.coords["b"], ulps=DECOMPOSITION)


def test_sign_is_deterministic_whatever_the_row_order_or_overall_sign():
    groups = clouds()
    first = pca_2d(groups)
    permuted = pca_2d(
        {
            name: rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(1))]
            for name, rows in groups.items()
        }
    )
    assert_close_scaled(
        first.components, permuted.components, ulps=DECOMPOSITION
    )  # unit rows, other order
    flipped = pca_2d({name: -rows for name, rows in groups.items()})
    for component in (first.components, flipped.components):
        assert (component.gather(1, component.abs().argmax(1, keepdim=True)) > 0).all()
    # the axes are fixed in activation space, so negated data lands on negated coordinates
    assert_close_scaled(flipped.components, first.components, ulps=DECOMPOSITION)
    assert_close_scaled(flipped.coords["eval"], -first.coords["eval"], ulps=DECOMPOSITION)


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_shape_and_validation_errors():
    good = torch.randn(5, 4)
    with pytest.raises(EmptyInputError, match="no groups"):
        pca_2d({})
    with pytest.raises(EmptyInputError, match="group 'b' has no rows"):
        pca_2d({"a": good, "b": torch.empty(0, 4)})
    with pytest.raises(MlsteerError, match="group 'b' has d=3 but 'a' has d=4"):
        pca_2d({"a": good, "b": torch.randn(5, 3)})
    with pytest.raises(
        MlsteerError, match=r"group 'a' has shape \(5, 2, 4\); expected \[n, d_model\]"
    ):
        pca_2d({"a": torch.randn(5, 2, 4)})
    with pytest.raises(MlsteerError, match="NaN/inf"):
        pca_2d({"a": torch.full((3, 4), float("nan"))})
    with pytest.raises(MlsteerError, match="no variance"):
        pca_2d({"a": torch.ones(3, 4), "b": torch.ones(2, 4)})
    with pytest.raises(MlsteerError, match="no group 'c'"):
        pca_2d({"a": good, "b": good + 1}).distance("a", "c")


def test_figure_has_one_panel_per_language_with_explained_variance():
    projection = pca_2d(clouds(n=20))
    figure = distribution_figure({"sw": projection, "id": projection})
    assert len(figure.data) == 4 and [trace.showlegend for trace in figure.data] == [
        True,
        True,
        False,
        False,
    ]
    assert figure.layout.xaxis.title.text.startswith(
        "PC1 ("
    ) and figure.layout.yaxis2.title.text.startswith("PC2 (")
    assert "Swahili (separation" in figure.layout.annotations[0].text


def test_pipeline_writes_json_and_figure(tiny_gemma, tmp_path):
    from tests.test_data import SWAHILI
    from tests.test_evaluation import write_xcopa

    data = write_xcopa(tmp_path / "data", n_test=6, n_val=2)
    tatoeba = data / "tatoeba"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.swh-eng.swh").write_text(
        "".join(t + "\n" for _, t in SWAHILI), encoding="utf-8"
    )
    (tatoeba / "tatoeba.swh-eng.eng").write_text(
        "".join(e + "\n" for e, _ in SWAHILI), encoding="utf-8"
    )
    context = RunContext(tiny_gemma, tmp_path / "run", data_dir=data, n_pairs=5, progress=False)
    html = run_train_test_pca(context, ["sw"], layer=2)
    assert html == tmp_path / "run" / "pca.html" and html.is_file()
    assert (tmp_path / "run" / "figures" / "pca.json").is_file()
    saved = json.loads((tmp_path / "run" / "pca.json").read_text())
    assert saved["layer"] == 2 and saved["task"] == "xcopa"
    sw = saved["langs"]["sw"]
    assert sw["groups"] == ["tatoeba (train)", "xcopa (eval)"]
    assert len(sw["coords"]["tatoeba (train)"]) == 3 and len(sw["coords"]["xcopa (eval)"]) == 5
    with pytest.raises(MlsteerError, match="xcopa has no 'fr'"):
        run_train_test_pca(context.with_out(tmp_path / "run2"), ["fr"], layer=2)
