"""The default recipe on seeds nobody chose anything on: fit, then score 1..100 once, per seed.

    python benchmarks/seeds.py                   # seeds 1000-1049, then 0-9: about 15 minutes on 2 cores
    python benchmarks/seeds.py --quick           # 2 seeds, 3 epochs: checks that the study runs (CI)

Each seed runs ``fizzlightning fit`` and ``fizzlightning test`` on ``lightning_configs/fizzbuzz.yaml`` with
``--seed_everything SEED`` in a scratch directory, as a user types them (``launch.run``). The search
(``benchmarks/search.py``) chose the recipe on seeds 200-207 from validation numbers only, and the stopping
study (``benchmarks/stopping.py``) ran on seeds from 3000 on; the seeds here, and their 1..100 scores,
chose nothing.
"""

import argparse
import re
import statistics
import tempfile
from pathlib import Path

import launch

CONFIG = Path(__file__).resolve().parent.parent / "lightning_configs" / "fizzbuzz.yaml"
FRESH = range(1000, 1050)  # 50 seeds no search used
SMALL = range(0, 10)  # the seeds a user tries first


def one_seed(seed: int, overrides: list[str]) -> dict:
    args = ["--config", str(CONFIG), "--seed_everything", str(seed), "--trainer.enable_progress_bar", "false"]
    with tempfile.TemporaryDirectory() as tmp:
        fit = launch.run(["fit", *args, *overrides], Path(tmp))
        record = launch.fit_record(Path(tmp))
        test = launch.run(["test", *args, *overrides], Path(tmp))
    score = int(re.search(r"Score on 1\.\.100: (\d+)/100", test.stdout)[1])
    return {"seed": seed, "score": score, "epochs": record["epochs"], "val_acc": record["best_score"],
            "fit_s": fit.seconds, "train_s": record["seconds"]}  # fmt: skip


def study(seeds: range, overrides: list[str], note: str) -> None:
    print("| seed | 1..100 score | epochs | best val/acc | fit, whole process | training |")
    print("|---|---|---|---|---|---|")
    rows = []
    for seed in seeds:
        row = one_seed(seed, overrides)
        rows.append(row)
        print(f"| {seed} | {row['score']}/100 | {row['epochs']} | {row['val_acc']:.4f} | {row['fit_s']:.1f} s | "
              f"{row['train_s']:.2f} s |", flush=True)  # fmt: skip
    scores = [row["score"] for row in rows]
    print(
        f"\nseeds {seeds.start}-{seeds.stop - 1}{note}: {sum(s == 100 for s in scores)}/{len(rows)} perfect games, "
        f"worst {min(scores)}/100, median epochs {statistics.median(r['epochs'] for r in rows):g}, "
        f"median fit {statistics.median(r['fit_s'] for r in rows):.1f} s whole process "
        f"({statistics.median(r['train_s'] for r in rows):.2f} s training)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 seeds of 3 epochs: checks the study runs")
    args = parser.parse_args()
    if args.quick:
        study(
            range(FRESH.start, FRESH.start + 2), ["--trainer.max_epochs", "3"], " (--quick: tiny settings, not results)"
        )
        return
    study(FRESH, [], "")
    study(SMALL, [], "")


if __name__ == "__main__":
    main()
