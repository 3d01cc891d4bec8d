"""The config and the command that made a run, from the ``config.json`` the run folder keeps:
shown as TOML (loadable by ``mlsteer run FILE``) so a reader can rerun it.

``config.json`` is the config as it ran minus ``out`` and ``device`` (where it ran is not what
it computed), plus ``data_in_force``: the data table used (``with_data`` when a benchmark
folder was given).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from mlsteer.layout import RunLayout

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def load_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's stored config, or ``None`` (no ``config.json``, or not a JSON object)."""
    try:
        record = json.loads(RunLayout(run_dir).config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def config_toml(record: dict[str, Any]) -> str:
    """The stored config as a TOML config file: unset (null) keys left out, each learner's
    options written as its own keys (as config files give them)."""
    config = {k: v for k, v in record.items() if k != "data_in_force"}
    learners = [
        {**{k: v for k, v in entry.items() if k != "options"}, **entry.get("options", {})}
        for entry in config.pop("learners", [])
    ]
    return toml_text({**config, "learners": learners})


def toml_text(table: dict[str, Any], prefix: str = "") -> str:
    """``table`` as TOML: plain keys first, then sub-tables, then arrays of tables (named
    ``prefix.key`` below the top)."""
    plain = {k: v for k, v in table.items() if v is not None and not _is_table(v)}
    lines = [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            name = prefix + _key(key)
            lines += ["", f"[{name}]", toml_text(value, name + ".").strip("\n")]
    for key, value in table.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            name = prefix + _key(key)
            for entry in value:
                lines += ["", f"[[{name}]]", toml_text(entry, name + ".").strip("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}" if items else "{}"
    return json.dumps(str(value), ensure_ascii=False)


def commands(record: dict[str, Any], run_dir: Path) -> list[str]:
    """Commands that reproduce the run: a built-in config by name when the stored config is it
    (up to ``--model`` / ``--dtype``), else the TOML above saved as ``config.toml``."""
    flags = [f"--out {run_dir}"]
    data = record.get("data_in_force")
    if data is not None and data == record.get("with_data") and data != record.get("data"):
        flags.append("--data-dir $MLSTEER_DATA")  # the benchmark folder (not recorded)
    source = "config.toml"
    builtin = _builtin(record.get("name"))
    if builtin is not None:
        differs = {
            k
            for k in set(builtin) | set(record)
            if k not in ("data_in_force", "out", "device") and builtin.get(k) != record.get(k)
        }
        if differs <= {"model", "dtype"}:
            source = record["name"]
            flags += [f"--{k} {record[k]}" for k in sorted(differs)]
    return [f"mlsteer run {source} {' '.join(flags)}", f"mlsteer report {run_dir}"]


def _builtin(name: Any) -> dict[str, Any] | None:
    """A built-in config's record (as ``config.json`` would hold it), or ``None``."""
    from mlsteer.experiment.config import BUILTIN_CONFIGS, load_config

    if name not in BUILTIN_CONFIGS:
        return None
    return json.loads(json.dumps(load_config(name, out=Path(".")).to_dict()))
