"""Every field of a run config is read by the run (issue 15): a field nothing reads is a silent
no-op, which the config's strict-key rule exists to prevent (``sweep_test_grid`` once was one).

The run gets config objects that record which fields are read, outside the bookkeeping that
reads every field (``to_dict``, ``dataclasses.asdict``/``replace``, generated ``__eq__``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from mlsteer.experiment.config import DataConfig, ExperimentConfig, LearnerConfig, parse_config
from mlsteer.experiment.runner import run_experiment
from tests.test_sweep_transfer import SENTENCES, data_dir  # noqa: F401  (fixture)

CONFIG_MODULE = Path(sys.modules[ExperimentConfig.__module__].__file__).resolve()
BOOKKEEPING = {"to_dict", "_plain"}  # config.py's serialisers: they read every field by design


def _bookkeeping(frame) -> bool:
    filename = frame.f_code.co_filename
    if filename == dataclasses.__file__ or not filename.endswith(".py"):
        return True  # asdict/replace/fields, and the generated __init__/__eq__/__repr__
    return Path(filename).resolve() == CONFIG_MODULE and frame.f_code.co_name in BOOKKEEPING


def _recording(cls: type, reads: set[str]) -> type:
    names = {f.name for f in dataclasses.fields(cls)}

    def __getattribute__(self, name):
        if name in names and not _bookkeeping(sys._getframe(1)):
            reads.add(f"{cls.__name__}.{name}")
        return object.__getattribute__(self, name)

    return type(f"Recording{cls.__name__}", (cls,), {"__getattribute__": __getattribute__})


def _rebuild(value, classes: dict[type, type]):
    """``value`` with every config dataclass inside it replaced by its recording twin."""
    if isinstance(value, list):
        return [_rebuild(v, classes) for v in value]
    if dataclasses.is_dataclass(value) and type(value) in classes:
        kwargs = {
            f.name: _rebuild(getattr(value, f.name), classes) for f in dataclasses.fields(value)
        }
        return classes[type(value)](**kwargs)
    return value


def test_every_config_field_is_read_by_the_run(tiny_gemma, data_dir, tmp_path):
    tatoeba = data_dir / "tatoeba"
    (tatoeba / "tatoeba.spa-eng.spa").write_text(
        "".join(f"es {s}\n" for s in SENTENCES), encoding="utf-8"
    )
    (tatoeba / "tatoeba.spa-eng.eng").write_text("".join(s + "\n" for s in SENTENCES), "utf-8")
    raw = {
        "name": "fields",
        "out": str(tmp_path / "run"),
        "model": "tiny-gemma3",
        "languages": ["sw", "es"],
        "layers": [1, 2],
        "alphas": [0.5],
        "sweep_limit": 4,
        "sweep_test_grid": True,
        "limit": 4,
        "max_new_tokens": 4,
        "methods": ["basic"],
        "similarity": ["sw"],
        "lens": ["sw"],
        "wendler": ["sw"],
        "pca_layer": 1,
        "transfer": ["xcopa"],
        "analysis_texts": 4,
        "learners": [
            {"name": "mse", "label": "mse_rel", "scale": "relative", "positions": "prompt"},
            {"name": "lstsq", "layers": [1, 2], "all_layers": True, "pairs": 8},
            {"name": "meandiff", "languages": ["sw"], "corpus": "builtin"},
        ],
        "data": {"corpus": "builtin", "sweep_task": "xcopa", "tasks": ["xcopa"]},
        "with_data": {
            "corpus": "tatoeba",
            "pairs": 12,
            "sweep_task": "xcopa",
            "tasks": ["xcopa"],
            "task_languages": {"xcopa": ["sw"]},
            "task_limits": {"xcopa": 3},
        },
    }
    reads: set[str] = set()
    classes = {cls: _recording(cls, reads) for cls in (ExperimentConfig, DataConfig, LearnerConfig)}
    config = _rebuild(parse_config(raw), classes)
    run_experiment(config, data_dir, progress=False, exports=False)

    # ``data`` is the section not in force (a data folder was given); its class's fields are
    # read through ``with_data``, and ``resolved(has_data=False)`` picking it is tested in
    # test_experiment.py::test_builtin_configs_parse.
    expected = {f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)} - {
        "ExperimentConfig.data"
    }
    assert expected - reads == set(), "config fields no step reads: " + ", ".join(
        sorted(expected - reads)
    )
