"""``bench/bench_peers.py --small`` runs end to end where the peers are installed (``.[bench]``):
every peer agrees with raw HF and the table and JSON come out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration  # the embedded Gemma


def test_bench_peers_small_runs(tmp_path):
    pytest.importorskip("steering_vectors")
    pytest.importorskip("nnsight")
    out = tmp_path / "peers.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_peers.py"), "--small", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "agreement:" in result.stdout and "smoke test" in result.stdout
    for workload in ("forward", "generation", "caching"):
        assert f"| {workload} |" in result.stdout
    record = json.loads(out.read_text())
    assert set(record["results"]["forward"]) >= {"mlsteer", "raw HF", "steering-vectors", "nnsight"}
    assert record["machine"]["versions"]["nnsight"] != "?" and record["machine"]["cpu"]
