"""The seed study runs end to end: fit and test per seed, a row each and the summary."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "seeds.py"


def test_quick_seed_study_prints_a_row_per_seed_and_the_summary():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.findall(
        r"^\| (\d+) \| (\d+)/100 \| (\d+) \| ([\d.]+) \| [\d.]+ s \| [\d.]+ s \|$", done.stdout, re.MULTILINE
    )
    assert [int(seed) for seed, *_ in rows] == [1000, 1001]  # never the search seeds 200-207
    for _, score, epochs, val_acc in rows:
        assert 0 <= int(score) <= 100 and 1 <= int(epochs) <= 3 and 0 <= float(val_acc) <= 1
    perfect = sum(int(score) == 100 for _, score, _, _ in rows)
    worst = min(int(score) for _, score, _, _ in rows)
    assert f"{perfect}/2 perfect games, worst {worst}/100" in done.stdout
