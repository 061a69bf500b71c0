"""fizzlightning against the seeds' own loops and a bare Lightning Trainer, side by side in one run.

    python benchmarks/benchmark.py           # the full table (585 s in the README's run on a 2-core machine)
    python benchmarks/benchmark.py --quick   # every row with tiny settings, to check the script runs (CI)

In-process loops run with one CPU thread, as ``fizzlightning`` does on CPU (see ``TrainingModule.setup``),
so that both sides of every ratio do the same arithmetic. Whole-process timings run ``python -m
fizzlightning`` in subprocesses, in a scratch directory, exactly as a user types the command.
Epoch times are the median over epochs after the first and over ``--reps`` alternating repetitions.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from fizzlightning.data import FizzBuzzDataModule, RegressionDataModule
from fizzlightning.nets import FizzBuzzMLP, TwoLayerNet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from epoch_timer import OUT_ENV, EpochTimer  # noqa: E402
from reference import SeedFizzBuzz, regressor_seconds  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
CONFIGS = BENCH_DIR.parent / "lightning_configs"
SEED_RECIPE = CONFIGS / "fizzbuzz_seed15.yaml"  # seed 000: 15 digits, [100, 60], SGD 0.05, batch 128
DEFAULT = CONFIGS / "fizzbuzz.yaml"
REGRESSOR = CONFIGS / "regressor_nn_bias.yaml"  # seed 000's nn + optim loop, the one reference.py times
HEADER = ("Comparison", "Reference", "fizzlightning", "Ratio", "Target")
FIRST_FIT_SEED = 1000  # fizzlightning's seeds in row (c): never used by the recipe search (benchmarks/search.py)


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str, float]:
    """Run ``fizzlightning ARGS`` in ``cwd``: (wall seconds, output, peak RSS in MB); raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fizzlightning", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # wait4, not wait: the child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"fizzlightning {' '.join(args)} exited {proc.returncode}:\n{output[-3000:]}")
    return wall, output, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def fit_summary(cwd: Path) -> dict:
    """The fit.json of the only run under ``cwd``."""
    (path,) = cwd.glob("lightning_logs/*/*/fit.json")
    return json.loads(path.read_text())


class BareModule(L.LightningModule):
    """The seed recipe's network with nothing but the loss: the floor Lightning itself sets."""

    def __init__(self, num_digits: int, hidden: list[int], lr: float) -> None:
        super().__init__()
        self.net, self.lr = FizzBuzzMLP(num_digits, hidden), lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class BareRegressor(L.LightningModule):
    """The regressor of ``REGRESSOR`` with nothing but the loss, for Lightning's floor on 500 tiny steps."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TwoLayerNet(1000, 100, 10, bias=True, init="normal")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x), y, reduction="sum")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1e-6)


def bare_trainer(epochs: int, callbacks: list[L.Callback]) -> L.Trainer:
    """A Trainer with no logger, progress bar or checkpoints."""
    return L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )


def bare_regressor_seconds(steps_per_epoch: int, epochs: int) -> float:
    L.seed_everything(0, verbose=False)
    data, model = RegressionDataModule(steps_per_epoch=steps_per_epoch, seed=0), BareRegressor()
    start = time.perf_counter()
    bare_trainer(epochs, []).fit(model, datamodule=data)
    return time.perf_counter() - start


def bare_epoch_seconds(epochs: int) -> list[float]:
    """A bare Trainer on fizzlightning's batches of the seed recipe."""
    L.seed_everything(0, verbose=False)
    timer = EpochTimer()
    data = FizzBuzzDataModule(num_digits=15, batch_size=128, seed=0)
    bare_trainer(epochs, [timer]).fit(BareModule(15, [100, 60], 0.05), datamodule=data)
    return timer.epoch_seconds


def fizzlightning_epoch_seconds(epochs: int) -> list[float]:
    """``fizzlightning fit`` on the seed recipe as a user runs it: progress bar, TensorBoard, checkpoints."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "epochs.json"
        env = {
            OUT_ENV: str(out),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.getenv("PYTHONPATH")])),
        }
        args = ["fit", "--config", str(SEED_RECIPE), "--trainer.max_epochs", str(epochs)]
        run_cli([*args, "--trainer.callbacks+=epoch_timer.EpochTimer"], Path(tmp), env)
        return json.loads(out.read_text())


def seed_loop_epoch_seconds(epochs: int) -> list[float]:
    seed_loop, times = SeedFizzBuzz(0), []
    for _ in range(epochs):
        start = time.perf_counter()
        seed_loop.epoch()
        times.append(time.perf_counter() - start)
    return times


def epoch_rows(epochs: int, reps: int) -> list[tuple[str, ...]]:
    """Rows (a) and (b): seconds per epoch of the three loops, measured alternately."""
    raw, bare, fizz = [], [], []
    for rep in range(reps):
        log(f"epoch times, repetition {rep + 1}/{reps}")
        raw += seed_loop_epoch_seconds(epochs)[1:]
        bare += bare_epoch_seconds(epochs)[1:]
        fizz += fizzlightning_epoch_seconds(epochs)[1:]
    raw_s, bare_s, fizz_s = map(statistics.median, (raw, bare, fizz))
    return [
        ("(a) seed recipe, s/epoch", f"seeds' loop {raw_s:.3f}", f"{fizz_s:.3f}", f"{fizz_s / raw_s:.2f}x", "-"),
        (
            "(b) loop overhead, s/epoch",
            f"bare Trainer {bare_s:.3f}",
            f"{fizz_s:.3f}",
            f"{fizz_s / bare_s:.2f}x",
            "<= 1.15x",
        ),
    ]


def scores(values: list[int]) -> str:
    return ", ".join(f"{score}/100 x{count}" for score, count in sorted(Counter(values).items(), reverse=True))


def perfect_game_rows(seeds: int, cap_epochs: int, fit_args: list[str]) -> list[tuple[str, ...]]:
    """Rows (c) and (e): time to a perfect 1..100 game per random seed, and fit's peak memory.

    The seeds' loop here stops at its first perfect 1..100 score: selection on the test set, so an
    optimistic bound for the lessons, not their protocol (row (f)). fizzlightning runs on seeds from
    FIRST_FIT_SEED on, which the recipe search never used, and stops on validation numbers.
    """
    raw_times, raw_scores, walls, trains, fit_scores, rss = [], [], [], [], [], []
    for index in range(seeds):
        seconds, epochs, score = SeedFizzBuzz(index).time_to_perfect(cap_epochs)
        raw_scores.append(score)
        if score == 100:
            raw_times.append(seconds)
        seed = FIRST_FIT_SEED + index
        with tempfile.TemporaryDirectory() as tmp:
            wall, _, peak = run_cli(
                ["fit", "--config", str(DEFAULT), "--seed_everything", str(seed), *fit_args], Path(tmp)
            )
            summary = fit_summary(Path(tmp))
            _, output, _ = run_cli(["test", "--config", str(DEFAULT), "--seed_everything", str(seed)], Path(tmp))
        fit_score = int(re.search(r"Score on 1\.\.100: (\d+)/", output).group(1))
        walls.append(wall), trains.append(summary["seconds"]), fit_scores.append(fit_score), rss.append(peak)
        log(
            f"seed {seed}: seeds' loop {seconds:.1f} s, {epochs} epochs, {score}/100 | fizzlightning fit "
            f"{wall:.1f} s (training {summary['seconds']:.1f} s, {summary['epochs']} epochs), test {fit_score}/100, "
            f"peak RSS {peak:.0f} MB"
        )
    raw_median = f"{statistics.median(raw_times):.1f} s" if raw_times else "never"
    perfect = sum(score == 100 for score in fit_scores)
    return [
        (
            f"(c) time to 100/100, {seeds} seeds, median",
            f"seeds' loop stopped on the 1..100 score (optimistic bound) {raw_median} "
            f"({len(raw_times)}/{seeds} within {cap_epochs} epochs)",
            f"fit {statistics.median(walls):.1f} s whole process, {statistics.median(trains):.1f} s training "
            f"(seeds {FIRST_FIT_SEED}-{FIRST_FIT_SEED + seeds - 1})",
            "-",
            "<= 8 s",
        ),
        (
            "(c) final 1..100 scores",
            scores(raw_scores),
            scores(fit_scores),
            "-",
            f">= 9/10 perfect ({perfect}/{seeds})",
        ),
        ("(e) peak RSS of fit, MB", "-", f"median {statistics.median(rss):.0f}, max {max(rss):.0f}", "-", "<= 450"),
    ]


def protocol_rows(seeds: int, epochs: int) -> list[tuple[str, ...]]:
    """Row (f): lesson 000's own protocol: train ``epochs`` epochs (878 in the lesson, stopped by hand), score once."""
    times, scores_ = [], []
    for seed in range(seeds):
        log(f"lesson 000's protocol, seed {seed}: {epochs} epochs, then one score")
        net = SeedFizzBuzz(seed)
        start = time.perf_counter()
        for _ in range(epochs):
            net.epoch()
        times.append(time.perf_counter() - start)
        scores_.append(net.score())
    return [
        (
            f"(f) lesson 000's protocol: {epochs} epochs, one score",
            f"seeds' loop {statistics.median(times):.1f} s median; {scores(scores_)}",
            "-",
            "-",
            "-",
        )
    ]


def regressor_rows(steps_per_epoch: int, epochs: int, reps: int) -> list[tuple[str, ...]]:
    """Row (d): the regressor's full-batch steps, the seeds' loop against ``fizzlightning fit``'s training time."""
    raw, bare, fizz = [], [], []
    overrides = ["--trainer.max_epochs", str(epochs), "--data.init_args.steps_per_epoch", str(steps_per_epoch)]
    for rep in range(reps):
        log(f"regressor, repetition {rep + 1}/{reps}")
        raw.append(regressor_seconds(steps_per_epoch * epochs)[0])
        bare.append(bare_regressor_seconds(steps_per_epoch, epochs))
        with tempfile.TemporaryDirectory() as tmp:
            run_cli(["fit", "--config", str(REGRESSOR), *overrides], Path(tmp))
            fizz.append(fit_summary(Path(tmp))["seconds"])
    raw_s, bare_s, fizz_s = statistics.median(raw), statistics.median(bare), statistics.median(fizz)
    label = f"(d) regressor {steps_per_epoch * epochs} steps, s"
    return [
        (label, f"seeds' loop {raw_s:.2f}", f"{fizz_s:.2f} (fit.json training)", f"{fizz_s / raw_s:.2f}x", "<= 1.5x"),
        (
            "(d) same, Lightning's floor",
            f"bare Trainer {bare_s:.2f}",
            f"{fizz_s:.2f} (fit.json training)",
            f"{fizz_s / bare_s:.2f}x",
            "-",
        ),
    ]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda row: "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"  # noqa: E731
    print("\n".join([line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks that every row runs")
    parser.add_argument("--seeds", type=int, default=10, help="random seeds for the time to 100/100")
    parser.add_argument("--cap-epochs", type=int, default=400, help="the seeds' loop gives up after this many epochs")
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions of each epoch timing")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per epoch timing run")
    parser.add_argument("--protocol-seeds", type=int, default=2, help="seeds for lesson 000's own protocol, row (f)")
    parser.add_argument("--protocol-epochs", type=int, default=878, help="lesson 000 was stopped after 878 epochs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.cap_epochs, args.reps, args.epochs = 1, 1, 1, 3
        args.protocol_seeds, args.protocol_epochs = 1, 1
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*(does not have many workers|smaller than the logging interval).*")
    start = time.perf_counter()
    rows = epoch_rows(args.epochs, args.reps)
    rows += perfect_game_rows(args.seeds, args.cap_epochs, ["--trainer.max_epochs", "1"] if args.quick else [])
    rows += regressor_rows(*((5, 1) if args.quick else (100, 5)), args.reps)
    rows += protocol_rows(args.protocol_seeds, args.protocol_epochs)
    print(
        f"\nfizzlightning benchmark{' (--quick: tiny settings, not results)' if args.quick else ''}, torch "
        f"{torch.__version__}, lightning {L.__version__}, {os.cpu_count()} CPUs, {time.perf_counter() - start:.0f} s"
    )
    print_table(sorted(rows, key=lambda row: row[0][:3]))  # (a) .. (f)


if __name__ == "__main__":
    main()
