"""--device / --dtype: names checked with errors that name the fix, and bfloat16 end to end on
the tiny models (learn, steer, evaluate, lens) with vectors stored in fp32."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch
from typer.testing import CliRunner

from mlsteer.activations import cache_activations
from mlsteer.cli import app
from mlsteer.errors import InvalidOptionError, MlsteerError
from mlsteer.experiment.config import parse_config
from mlsteer.models import load_model
from mlsteer.models.devices import parse_dtype, resolve_device
from mlsteer.steering import SteeringVector, load_steering, steer
from tests.conftest import capture_resid
from tests.tolerances import EXACT_OPS, assert_close_scaled

runner = CliRunner()
# bf16 keeps 8 significant bits: one of its ulps is 2^16 fp32 ulps (the tolerances' unit)
BF16_ULP = torch.finfo(torch.bfloat16).eps / torch.finfo(torch.float32).eps
TEXTS = [
    "The cat sits on the mat.",
    "El gato se sienta.",
    "Paka anakaa kwenye mkeka na mbwa analala juani.",
]


@pytest.fixture(scope="module")
def bf16_gemma():
    return load_model("tiny-gemma3", dtype="bfloat16")


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(
        InvalidOptionError, match="unknown device 'tpu'; use one of: auto, cpu, cuda, cuda:N"
    ):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidOptionError, match="torch sees none .*use --device cpu"):
            resolve_device("cuda:0")


def test_dtype_names():
    assert parse_dtype("bfloat16") is torch.bfloat16 and parse_dtype(torch.float16) is torch.float16
    with pytest.raises(
        InvalidOptionError, match="unknown dtype 'fp8'; use one of: float32, bfloat16, float16"
    ):
        parse_dtype("fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where no GPU is")
def test_cuda_without_a_gpu_is_a_one_line_cli_error(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "cache",
            str(texts),
            "-o",
            str(tmp_path / "a.st"),
            "-m",
            "tiny-gemma3",
            "--device",
            "cuda",
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) <= 2 and "use --device cpu" in " ".join(
        lines
    )  # one message (rich wraps it at 80 columns)


def test_config_device_and_dtype_are_checked():
    base = {"name": "x", "out": "runs/x", "languages": ["es"]}
    config = parse_config({**base, "device": "auto", "dtype": "bfloat16"})
    assert (config.device, config.dtype) == ("auto", "bfloat16")
    with pytest.raises(MlsteerError, match="unknown device 'gpu'"):
        parse_config({**base, "device": "gpu"})
    with pytest.raises(MlsteerError, match="unknown dtype"):
        parse_config({**base, "dtype": "half"})


def test_bf16_weights_and_fp32_activations(bf16_gemma, tiny_gemma):
    assert bf16_gemma.dtype == torch.bfloat16 and bf16_gemma.fingerprint == tiny_gemma.fingerprint
    half = cache_activations(bf16_gemma, TEXTS, [1, 3], pooling="mean", progress=False)
    full = cache_activations(tiny_gemma, TEXTS, [1, 3], pooling="mean", progress=False)
    assert half.dtype == torch.float32
    # 4 bf16 layers vs fp32: a few bf16 ulps of the activations' scale (observed ~1)
    assert_close_scaled(half, full, ulps=EXACT_OPS * BF16_ULP)


def test_fp32_vector_is_added_in_bf16_at_its_layer(bf16_gemma):
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(1)),
        2,
        "test",
        bf16_gemma.fingerprint,
    )
    ids = bf16_gemma.tokenizer(TEXTS[:1], return_tensors="pt")["input_ids"]
    plain = capture_resid(bf16_gemma, ids)
    with steer(bf16_gemma, vector, alpha=3.0, include_bos=True):
        steered = capture_resid(bf16_gemma, ids)
    assert steered[2].dtype == torch.bfloat16 and torch.equal(steered[1], plain[1])
    expected = plain[2].float() + 3.0 * vector.vector.to(torch.bfloat16).float()
    # one bf16 rounding of the sum, of the residual's scale
    assert_close_scaled(steered[2].float(), expected, ulps=BF16_ULP)


def test_bf16_end_to_end_learn_steer_eval_lens(tmp_path, bf16_gemma):
    from mlsteer.pipeline.analyses import run_lens
    from mlsteer.pipeline.context import RunContext

    common = ["-m", "tiny-gemma3", "--dtype", "bfloat16"]
    mse, bipo = tmp_path / "es_mse.safetensors", tmp_path / "es_bipo.safetensors"
    learned = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "mse",
            "--layer",
            "1,2",
            "--lang",
            "es",
            "--corpus",
            "builtin",
            "-n",
            "30",
            "-o",
            str(mse),
            *common,
        ],
    )
    assert learned.exit_code == 0, learned.output
    learned = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "bipo",
            "--layer",
            "2",
            "--lang",
            "es",
            "--corpus",
            "builtin",
            "-n",
            "12",
            "--epochs",
            "1",
            "--lr",
            "0.05",
            "-o",
            str(bipo),
            *common,
        ],
    )
    assert learned.exit_code == 0, learned.output
    for path in (mse, bipo):
        entries = load_steering(path)
        assert all(e.vector.dtype == torch.float32 and e.norm > 0 for e in entries)  # stored fp32
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "cloze",
            "--langs",
            "es",
            "--limit",
            "6",
            "--method",
            "basic",
            "--method",
            f"steered:{bipo}@1",
            "--out",
            str(run),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(run / "results.sqlite") as connection:
        methods = dict(
            connection.execute("SELECT method, COUNT(*) FROM results GROUP BY method").fetchall()
        )
        scores = [json.loads(s) for (s,) in connection.execute("SELECT scores FROM results")]
    assert set(methods.values()) == {6} and len(methods) == 4  # basic, vector, negated, random
    assert all(
        all(v < 0 for v in s) for s in scores
    )  # log-probabilities, computed in fp32 from bf16 logits
    run_lens(
        RunContext(bf16_gemma, tmp_path / "lens", corpus="builtin", n_pairs=4, progress=False),
        ["es"],
        vectors={"es": str(mse)},
        k=3,
    )
    lens = json.loads((tmp_path / "lens" / "lens_es.json").read_text())
    assert (
        set(lens["conditions"]) == {"base", "steered (alpha 1)"}
        and len(lens["conditions"]["base"]) == 4
    )
