import json

import torch
from typer.testing import CliRunner

from mlsteer.activations import load_activations
from mlsteer.cli import app
from mlsteer.learners import learners
from mlsteer.steering import SteeringVector

runner = CliRunner()


def test_info_lists_offline_models():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    assert "tiny-gemma3" in result.output and "gemma-3-270m" in result.output


def test_cache_writes_activations(tmp_path, tiny_gemma):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\n\nel gato se sienta\n", encoding="utf-8")
    out = tmp_path / "acts.safetensors"
    result = runner.invoke(
        app, ["cache", str(texts), "-o", str(out), "--layers", "1,3", "-m", "tiny-gemma3"]
    )
    assert result.exit_code == 0, result.output
    loaded = load_activations(out)
    assert loaded.acts.shape == (2, 2, 64) and loaded.meta.layers == (1, 3)
    assert loaded.meta.model_fingerprint == tiny_gemma.fingerprint


def test_cache_layer_out_of_range_is_a_clear_error(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["cache", str(texts), "-o", str(tmp_path / "a.st"), "--layers", "9", "-m", "tiny-gemma3"],
    )
    assert result.exit_code == 2
    assert "layer 9 is out of range" in result.output
    assert not (tmp_path / "a.st").exists()


def test_generate_side_by_side(tmp_path, tiny_gemma):
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(0)) * 4,
        1,
        "test",
        tiny_gemma.fingerprint,
    )
    path = vector.save(tmp_path / "v.safetensors")
    result = runner.invoke(
        app,
        [
            "generate",
            "The cat",
            "--vector",
            str(path),
            "--alpha",
            "2",
            "-m",
            "tiny-gemma3",
            "--max-new-tokens",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "unsteered" in result.output and "steered (test, layer 1, alpha 2.0)" in result.output


def test_generate_refuses_vector_of_other_model(tmp_path):
    vector = SteeringVector(torch.ones(64), 1, "test", "tiny-llama@000000000000")
    path = vector.save(tmp_path / "v.safetensors")
    result = runner.invoke(app, ["generate", "The cat", "--vector", str(path), "-m", "tiny-gemma3"])
    assert result.exit_code == 2
    assert "--allow-other-model" in result.output


def test_learn_all_layers_from_builtin_pairs(tmp_path, tiny_gemma):
    from mlsteer.steering import load_steering

    out = tmp_path / "v.safetensors"
    result = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "meandiff",
            "--layers",
            "all",
            "--langs",
            "es",
            "--corpus",
            "builtin",
            "--out",
            str(out),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert result.exit_code == 0, result.output
    entries = load_steering(out)
    assert [e.layer for e in entries] == [0, 1, 2, 3]
    assert entries[0].info["lang"] == "es" and entries[0].info["heldout_cosine_after"] is not None
    assert (tmp_path / "v.safetensors.diagnostics.json").exists()
    shown = runner.invoke(
        app,
        ["generate", "The cat", "--vector", str(out), "-m", "tiny-gemma3", "--max-new-tokens", "3"],
    )
    assert shown.exit_code == 0 and "layer 0,1,2,3" in shown.output


def test_learn_bipo_one_layer_and_errors(tmp_path):
    out = tmp_path / "b.safetensors"
    # the old spellings --layer, --lang and --output still work (hidden aliases of --layers, --langs, --out)
    args = [
        "learn",
        "--method",
        "bipo",
        "--layer",
        "1",
        "--lang",
        "es",
        "--corpus",
        "builtin",
        "--output",
        str(out),
        "-m",
        "tiny-gemma3",
    ]
    result = runner.invoke(app, args + ["--lr", "0.01"])
    assert result.exit_code == 0, result.output
    bad_layers = runner.invoke(app, [*args[:4], "all", *args[5:]])
    assert bad_layers.exit_code == 2 and "bipo trains one layer per run" in bad_layers.output
    bad_method = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "ica",
            "--layer",
            "1",
            "--lang",
            "es",
            "--corpus",
            "builtin",
            "-o",
            str(out),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert bad_method.exit_code == 2 and f"use one of: {', '.join(learners())}" in bad_method.output
    assert "Traceback" not in bad_layers.output and len(bad_layers.output.strip().splitlines()) == 1


def test_eval_and_table_commands(tmp_path):
    from tests.test_evaluation import write_xcopa

    data = write_xcopa(tmp_path / "data", n_test=6, n_val=6)
    run = tmp_path / "run"
    args = [
        "eval",
        "--task",
        "xcopa",
        "--langs",
        "xcopa=sw,it",
        "--langs",
        "xnli=zh",
        "--out",
        str(run),
        "--data-dir",
        str(data),
        "-m",
        "tiny-gemma3",
        "--method",
        "basic",
        "--method",
        "fewshot:2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| basic |" in result.output and "| fewshot2 |" in result.output
    shown = runner.invoke(app, ["table", str(run)])
    assert shown.exit_code == 0 and (run / "table.csv").exists()
    again = runner.invoke(
        app, [*args, "--overwrite"]
    )  # same settings: resumes, nothing to recompute
    assert again.exit_code == 0, again.output
    bad = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "xcopa",
            "--langs",
            "fr",
            "--out",
            str(tmp_path / "r2"),
            "--data-dir",
            str(data),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert bad.exit_code == 2 and "xcopa has no 'fr'" in bad.output
    unknown = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "squad",
            "--langs",
            "sw",
            "--out",
            str(tmp_path / "r3"),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert unknown.exit_code == 2 and "unknown task 'squad'" in unknown.output


def test_sft_then_evaluate_it_as_a_method(tmp_path):
    from tests.test_evaluation import write_xcopa

    folder = tmp_path / "sft_es"
    made = runner.invoke(
        app,
        [
            "sft",
            "--langs",
            "es",
            "--corpus",
            "builtin",
            "-o",
            str(folder),
            "-m",
            "tiny-gemma3",
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--lr",
            "1e-3",
        ],
    )
    assert made.exit_code == 0, made.output
    assert (folder / "config.json").exists() and (folder / "mlsteer-sft.json").exists()
    data = write_xcopa(tmp_path / "data", n_test=4, n_val=4)
    result = runner.invoke(
        app,
        [
            "eval",
            "--task",
            "xcopa",
            "--langs",
            "sw",
            "--out",
            str(tmp_path / "run"),
            "--data-dir",
            str(data),
            "-m",
            "tiny-gemma3",
            "--method",
            "basic",
            "--method",
            f"sft:{folder}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| sft:sft_es |" in result.output


def test_similarity_and_lens_commands_write_data_and_offline_figures(tmp_path, tiny_gemma):
    from tests.test_data import SWAHILI

    data = tmp_path / "data" / "tatoeba"
    data.mkdir(parents=True)
    (data / "tatoeba.swh-eng.swh").write_text(
        "".join(t + "\n" for _, t in SWAHILI), encoding="utf-8"
    )
    (data / "tatoeba.swh-eng.eng").write_text(
        "".join(e + "\n" for e, _ in SWAHILI), encoding="utf-8"
    )
    vector = SteeringVector(
        torch.randn(64, generator=torch.Generator().manual_seed(0)) * 3,
        1,
        "t",
        tiny_gemma.fingerprint,
    )
    path = vector.save(tmp_path / "sw.safetensors")
    common = ["--langs", "sw", "--data-dir", str(tmp_path / "data"), "-m", "tiny-gemma3"]
    result = runner.invoke(app, ["similarity", "--out", str(tmp_path / "run"), *common])
    assert result.exit_code == 0, result.output
    sim = json.loads((tmp_path / "run" / "similarity.json").read_text())
    assert sim["langs"] == ["sw"] and len(sim["values"][0]) == 4
    distances = json.loads((tmp_path / "run" / "distances_L2.json").read_text())
    assert distances["langs"] == ["en", "sw"] and distances["distance"][0][1] > 0
    sft = runner.invoke(
        app,
        [
            "sft",
            "--langs",
            "sw",
            "-o",
            str(tmp_path / "sft"),
            "--steps",
            "1",
            "--batch-size",
            "2",
            "-n",
            "3",
            "--data-dir",
            str(tmp_path / "data"),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert sft.exit_code == 0, sft.output
    result = runner.invoke(
        app,
        [
            "lens",
            "--out",
            str(tmp_path / "run"),
            "--vector",
            f"sw={path}",
            "--sft",
            f"sw={tmp_path / 'sft'}",
            "--k",
            "3",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    lens = json.loads((tmp_path / "run" / "lens_sw.json").read_text())
    assert (
        set(lens["conditions"]) == {"base", "steered (alpha 1)", "SFT"}
        and len(lens["conditions"]["base"]) == 4
    )
    html = (tmp_path / "run" / "lens_sw.html").read_text()
    assert (
        '<script src="http' not in html and len(html) > 1_000_000
    )  # plotly.js inlined: opens offline


def test_eval_refuses_a_changed_vector_in_one_line_and_overwrite_recomputes(tmp_path, tiny_gemma):
    from tests.test_evaluation import write_xcopa

    data = write_xcopa(tmp_path / "data", n_test=4, n_val=4)
    path = tmp_path / "v.safetensors"
    SteeringVector(torch.ones(64), 1, "t", tiny_gemma.fingerprint).save(path)
    args = [
        "eval",
        "--task",
        "xcopa",
        "--langs",
        "sw",
        "--out",
        str(tmp_path / "run"),
        "--data-dir",
        str(data),
        "-m",
        "tiny-gemma3",
        "--method",
        f"steered:{path}@1",
        "--no-controls",
    ]
    assert runner.invoke(app, args).exit_code == 0
    SteeringVector(-torch.ones(64), 1, "t", tiny_gemma.fingerprint).save(
        path
    )  # same name, other vector
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "--overwrite" in refused.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
