"""``bench/bench_gpu.py --small`` runs end to end on the CPU (a smoke test of the GPU benchmark)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_gpu_small_runs():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gpu.py"), "--small"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in (
        "bridge_vs_hf_forward",
        "steered_vs_unsteered",
        "cache_middle_vs_full_forward",
        "generation_vs_hf_generate",
        "mc_scoring",
        "bipo_epoch",
        "peak_memory_vs_hf",
    ):
        assert f"| {name} |" in result.stdout
    assert "smoke test" in result.stdout
