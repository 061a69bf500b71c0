"""The default recipe on seeds nobody chose anything on: fit, then score 1..100 once, per seed.

    python benchmarks/seeds.py                   # seeds 1000-1049, then 0-9: about 15 minutes on 2 cores
    python benchmarks/seeds.py --quick           # 2 seeds, 3 epochs: checks that the study runs (CI)
    python benchmarks/seeds.py --seeds 7000-7029 --config lightning_configs/fizzbuzz_relu.yaml \
        --config lightning_configs/fizzbuzz_10bit.yaml \
        --config "lightning_configs/fizzbuzz_relu.yaml --data.init_args.num_digits 10"

``--config`` (repeatable) is what follows ``fit`` on the command line: a config, then any overrides. With
several, each seed runs every one in turn, and the summary gives each one's median fit time as a ratio to the
first's, measured side by side in the same run.

Each seed runs ``fizzlightning fit`` and ``fizzlightning test`` on ``lightning_configs/fizzbuzz.yaml`` (or each
``--config``) with ``--seed_everything SEED`` in a scratch directory, as a user types them (``launch.run``). The search
(``benchmarks/search.py``) chose the recipe on seeds 200-207 from validation numbers only, and the stopping
study (``benchmarks/stopping.py``) ran on seeds from 3000 on, the 10-bit study (``benchmarks/small_data.py``) on
seeds 5000-5305; the seeds here, 7000-7029 among them, and their 1..100 scores, chose nothing.
"""

import argparse
import re
import shlex
import statistics
import tempfile
from pathlib import Path

import launch

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "lightning_configs/fizzbuzz.yaml"
FRESH = range(1000, 1050)  # 50 seeds no search used
SMALL = range(0, 10)  # the seeds a user tries first


def one_seed(seed: int, config: str, overrides: list[str]) -> dict:
    path, *extra = shlex.split(config)
    args = ["--config", str(ROOT / path), *extra, "--seed_everything", str(seed)]
    args += ["--trainer.enable_progress_bar", "false"]
    with tempfile.TemporaryDirectory() as tmp:
        fit = launch.run(["fit", *args, *overrides], Path(tmp))
        record = launch.fit_record(Path(tmp))
        test = launch.run(["test", *args, *overrides], Path(tmp))
    score = int(re.search(r"Score on 1\.\.100: (\d+)/100", test.stdout)[1])
    return {"seed": seed, "score": score, "epochs": record["epochs"], "val_acc": record["best_score"],
            "fit_s": fit.seconds, "train_s": record["seconds"], "rss_mb": fit.peak_rss_mb}  # fmt: skip


def study(seeds: range, configs: list[str], overrides: list[str], note: str) -> None:
    several = len(configs) > 1
    print(f"| seed |{' config |' * several} 1..100 score | epochs | best val/acc | fit, whole process | training |")
    print(f"|---|{'---|' * several}---|---|---|---|---|")
    rows: dict[str, list[dict]] = {config: [] for config in configs}
    for seed in seeds:
        for config in configs:
            row = one_seed(seed, config, overrides)
            rows[config].append(row)
            print(f"| {seed} |{f' {config} |' * several} {row['score']}/100 | {row['epochs']} | {row['val_acc']:.4f} "
                  f"| {row['fit_s']:.1f} s | {row['train_s']:.2f} s |", flush=True)  # fmt: skip
    first = statistics.median(r["fit_s"] for r in rows[configs[0]])
    print()
    for config, runs in rows.items():
        scores = [row["score"] for row in runs]
        fit = statistics.median(r["fit_s"] for r in runs)
        print(
            f"{config + ', ' if several else ''}seeds {seeds.start}-{seeds.stop - 1}{note}: "
            f"{sum(s == 100 for s in scores)}/{len(runs)} perfect games, worst {min(scores)}/100, "
            f"median epochs {statistics.median(r['epochs'] for r in runs):g}, median fit {fit:.1f} s whole process "
            f"({statistics.median(r['train_s'] for r in runs):.2f} s training)"
            + (f", {fit / first:.2f}x the first's" if several else "")
        )
    print()


def seed_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 seeds of 3 epochs: checks the study runs")
    parser.add_argument("--seeds", type=seed_range, help="FIRST-LAST (default: 1000-1049, then 0-9)")
    parser.add_argument("--config", action="append", help=f"a config and its overrides (default: {CONFIG})")
    args = parser.parse_args()
    configs = args.config or [CONFIG]
    if args.quick:
        seeds = args.seeds or range(FRESH.start, FRESH.start + 2)
        study(seeds, configs, ["--trainer.max_epochs", "3"], " (--quick: tiny settings, not results)")
        return
    for seeds in [args.seeds] if args.seeds else [FRESH, SMALL]:
        study(seeds, configs, [], "")


if __name__ == "__main__":
    main()
