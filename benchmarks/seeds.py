"""The default recipe on seeds the recipe search never used: fit, then score 1..100 once, per seed.

    python benchmarks/seeds.py                   # seeds 1000-1019: about 10 minutes on 2 busy cores
    python benchmarks/seeds.py --quick           # 2 seeds, 3 epochs: checks that the study runs (CI)

Each seed runs ``fizzlightning fit`` and ``fizzlightning test`` on ``lightning_configs/fizzbuzz.yaml`` with
``--seed_everything SEED`` in a scratch directory, as a user types them. The search (``benchmarks/search.py``)
chose the recipe on seeds 0, 1, 2 from validation numbers only; these seeds and their 1..100 scores chose
nothing.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "lightning_configs" / "fizzbuzz.yaml"
FIRST_SEED = 1000  # far from the search seeds 0, 1, 2


def fizzlightning(cwd: Path, *args: str) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fizzlightning", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"fizzlightning {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout, time.perf_counter() - start


def one_seed(seed: int, overrides: list[str]) -> dict:
    args = ["--config", str(CONFIG), "--seed_everything", str(seed), "--trainer.enable_progress_bar", "false"]
    with tempfile.TemporaryDirectory() as tmp:
        _, fit_seconds = fizzlightning(Path(tmp), "fit", *args, *overrides)
        (summary,) = Path(tmp).glob("lightning_logs/*/*/fit.json")
        fit = json.loads(summary.read_text())
        out, _ = fizzlightning(Path(tmp), "test", *args, *overrides)
    score = int(re.search(r"Score on 1\.\.100: (\d+)/100", out)[1])
    return {"seed": seed, "score": score, "epochs": fit["epochs"], "val_acc": fit["best_score"], "fit_s": fit_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help=f"how many seeds, from {FIRST_SEED} on")
    parser.add_argument("--quick", action="store_true", help="2 seeds of 3 epochs: checks the study runs")
    args = parser.parse_args()
    seeds, overrides = (2, ["--trainer.max_epochs", "3"]) if args.quick else (args.seeds, [])
    rows = []
    print("| seed | 1..100 score | epochs | best val/acc | fit, whole process |")
    print("|---|---|---|---|---|")
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        row = one_seed(seed, overrides)
        rows.append(row)
        print(f"| {seed} | {row['score']}/100 | {row['epochs']} | {row['val_acc']:.4f} | {row['fit_s']:.1f} s |")
    scores = [row["score"] for row in rows]
    note = " (--quick: tiny settings, not results)" if args.quick else ""
    print(
        f"\nseeds {FIRST_SEED}-{FIRST_SEED + seeds - 1}{note}: "
        f"{sum(s == 100 for s in scores)}/{seeds} perfect games, worst {min(scores)}/100, "
        f"median epochs {statistics.median(r['epochs'] for r in rows):g}, "
        f"median fit {statistics.median(r['fit_s'] for r in rows):.1f} s whole process"
    )


if __name__ == "__main__":
    main()
