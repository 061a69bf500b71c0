"""The benchmark script still runs: its quick mode, as a user would start it, prints the whole table."""

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark.py"


def test_quick_benchmark_prints_the_table(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| Comparison" in result.stdout and "| Reference" in result.stdout
    for row in ("(a) seed recipe", "(b) loop overhead", "(c) time to 100/100", "(c) final 1..100 scores"):
        assert row in result.stdout
    for row in ("(d) regressor", "(e) peak RSS", "(f) lesson 000's protocol", "(g) training of the default recipe"):
        assert row in result.stdout
    assert "x less the import" in result.stdout and "import lightning.pytorch" in result.stdout
    # the lessons' loop stopped on the test score is labelled for what it is
    assert "seeds' loop stopped on the 1..100 score (optimistic bound)" in result.stdout
    assert not list(tmp_path.iterdir())  # every run happened in a scratch directory that is gone
