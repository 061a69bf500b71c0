"""fizzlightning against the seeds' own loops, a plain torch loop and a bare Lightning Trainer, side by side in one run.

    python benchmarks/benchmark.py           # the full table: about 12 minutes on a 2-core machine
    python benchmarks/benchmark.py --quick   # every row with tiny settings, to check the script runs (CI)
    python benchmarks/benchmark.py --gpu     # the same rows on the first CUDA device (scripts/gpu_check.sh)

In-process loops run with one CPU thread, as ``fizzlightning`` does on CPU, so that both sides of every ratio
do the same arithmetic. Whole-process timings run ``python -m fizzlightning`` in subprocesses (``launch.run``),
in a scratch directory, exactly as a user types the command. Lightning's own import, timed here in the same
run, is the framework's floor of every whole process: row (c) also says what fizzlightning takes on top of it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import launch
import lightning as L
import torch
import yaml

from fizzlightning.data import FizzBuzzDataModule, RegressionDataModule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare import BareFizzBuzz, BareRegressor, bare_trainer  # noqa: E402
from epoch_timer import OUT_ENV, EpochTimer  # noqa: E402
from reference import SeedFizzBuzz, plain_fit_seconds, regressor_seconds  # noqa: E402
from seeds import one_seed  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
CONFIGS = BENCH_DIR.parent / "lightning_configs"
SEED_RECIPE = CONFIGS / "fizzbuzz_seed15.yaml"  # seed 000: 15 digits, [100, 60], SGD 0.05, batch 128
DEFAULT = CONFIGS / "fizzbuzz.yaml"
RELU = CONFIGS / "fizzbuzz_relu.yaml"  # the default before: ReLU [2048], stopped by a streak of perfect validations
REGRESSOR = CONFIGS / "regressor_nn_bias.yaml"  # seed 000's nn + optim loop, the one reference.py times
HEADER = ("Comparison", "Reference", "fizzlightning", "Ratio", "Target")
FIRST_FIT_SEED = 1000  # fizzlightning's seeds in row (c): never used by the recipe search (benchmarks/search.py)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def import_seconds(module: str, reps: int) -> float:
    """Median wall time of ``python -c "import MODULE"``: a fresh interpreter each time. Its objects are frozen
    before it exits, as ``fizzlightning``'s own commands do: the interpreter's last garbage collections would
    otherwise walk them (about 1 s after Lightning's import), which a fit no longer spends."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}; import gc; gc.freeze()"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def default_recipe() -> dict:
    config = yaml.safe_load(DEFAULT.read_text())
    data, opt = config["data"]["init_args"], config["optimizer"]["init_args"]
    model = config["model"]["init_args"]
    activation = model.get("activation", "relu")
    net = {"width": model["hidden"][0], "activation": activation}
    return {"num_digits": data["num_digits"], "batch_size": data["batch_size"], **net, **opt}


def bare_epoch_seconds(epochs: int) -> list[float]:
    """A bare Trainer on fizzlightning's batches of the seed recipe."""
    L.seed_everything(0, verbose=False)
    timer = EpochTimer()
    data = FizzBuzzDataModule(num_digits=15, batch_size=128, seed=0)
    bare_trainer(epochs, [timer]).fit(BareFizzBuzz(15, [100, 60], 0.05), datamodule=data)
    return timer.epoch_seconds


def bare_recipe_seconds(recipe: dict, seed: int, epochs: int) -> float:
    """A bare Trainer on the default recipe for ``epochs`` epochs, one validation per epoch: Lightning's floor."""
    L.seed_everything(seed, verbose=False)
    data = FizzBuzzDataModule(num_digits=recipe["num_digits"], batch_size=recipe["batch_size"], seed=seed)
    model = BareFizzBuzz(
        recipe["num_digits"], [recipe["width"]], recipe["lr"], recipe["weight_decay"], recipe["activation"]
    )
    start = time.perf_counter()
    bare_trainer(epochs, []).fit(model, datamodule=data)
    return time.perf_counter() - start


def fizzlightning_epoch_seconds(epochs: int, device: list[str]) -> list[float]:
    """``fizzlightning fit`` on the seed recipe as a user runs it: progress bar, TensorBoard, checkpoints."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "epochs.json"
        env = launch.environment([BENCH_DIR], **{OUT_ENV: str(out)})
        args = ["fit", "--config", str(SEED_RECIPE), "--trainer.max_epochs", str(epochs), *device]
        launch.run([*args, "--trainer.callbacks+=epoch_timer.EpochTimer"], Path(tmp), env)
        return EpochTimer.read(out)


def epoch_rows(epochs: int, reps: int, device: list[str]) -> list[tuple[str, ...]]:
    """Rows (a) and (b): seconds per epoch of the three loops, measured alternately."""
    raw, bare, fizz = [], [], []
    for rep in range(reps):
        log(f"epoch times, repetition {rep + 1}/{reps}")
        seed_loop = SeedFizzBuzz(0)
        raw += [seed_loop.timed_epoch() for _ in range(epochs)][1:]
        bare += bare_epoch_seconds(epochs)[1:]
        fizz += fizzlightning_epoch_seconds(epochs, device)[1:]
    raw_s, bare_s, fizz_s = map(statistics.median, (raw, bare, fizz))
    return [
        ("(a) seed recipe, s/epoch", f"seeds' loop {raw_s:.3f}", f"{fizz_s:.3f}", f"{fizz_s / raw_s:.2f}x", "-"),
        ("(b) loop overhead, s/epoch", f"bare Trainer {bare_s:.3f}", f"{fizz_s:.3f}", f"{fizz_s / bare_s:.2f}x", "-"),
    ]


def scores(values: list[int]) -> str:
    return ", ".join(f"{score}/100 x{count}" for score, count in sorted(Counter(values).items(), reverse=True))


def perfect_game_rows(seeds: int, cap: int, fit_args: list[str], lightning_s: float) -> list[tuple[str, ...]]:
    """Rows (c), (e) and (g): time to a perfect game per seed, fit's peak memory, training against a plain loop.

    The seeds' loop stops at its first perfect 1..100 score: selection on the test set, so an optimistic bound
    for the lessons, not their protocol (row (f)). fizzlightning runs on seeds from FIRST_FIT_SEED on, which
    no recipe search used, and stops where its config says (the default: a fixed 14 epochs), never on 1..100.
    """
    raw_times, raw_scores, plains, bares, fits, relus = [], [], [], [], [], []
    recipe = default_recipe()
    for index in range(seeds):
        seconds, epochs, score = SeedFizzBuzz(index).time_to_perfect(cap)
        raw_scores.append(score)
        raw_times += [seconds] if score == 100 else []
        seed = FIRST_FIT_SEED + index
        fit, relu = (one_seed(seed, f"lightning_configs/{config.name}", fit_args) for config in (DEFAULT, RELU))
        fits.append(fit), relus.append(relu)
        plains.append(plain_fit_seconds(recipe, seed, fit["epochs"]))
        bares.append(bare_recipe_seconds(recipe, seed, fit["epochs"]))
        log(
            f"seed {seed}: seeds' loop {seconds:.1f} s, {epochs} epochs, {score}/100 | fizzlightning fit "
            f"{fit['fit_s']:.1f} s (training {fit['train_s']:.2f} s, {fit['epochs']} epochs; "
            f"plain loop {plains[-1]:.2f} s, bare Trainer {bares[-1]:.2f} s), test {fit['score']}/100, "
            f"peak RSS {fit['rss_mb']:.0f} MB | fizzbuzz_relu.yaml fit {relu['fit_s']:.1f} s (training "
            f"{relu['train_s']:.2f} s, {relu['epochs']} epochs), test {relu['score']}/100"
        )
    raw_s = statistics.median(raw_times) if raw_times else float("nan")
    wall, train = (statistics.median(fit[key] for fit in fits) for key in ("fit_s", "train_s"))
    relu_wall, relu_train = (statistics.median(relu[key] for relu in relus) for key in ("fit_s", "train_s"))
    plain, bare = statistics.median(plains), statistics.median(bares)
    rss = [fit["rss_mb"] for fit in fits]
    app = wall - lightning_s
    label = f"seeds {FIRST_FIT_SEED}-{FIRST_FIT_SEED + seeds - 1}"
    return [
        (
            f"(c) time to 100/100, {seeds} seeds, median",
            f"seeds' loop stopped on the 1..100 score (optimistic bound) {raw_s:.1f} s ({len(raw_times)}/{seeds} "
            f"within {cap} epochs)",
            f"fit {wall:.1f} s whole process, of which Lightning's import {lightning_s:.1f} s ({label})",
            f"{raw_s / wall:.1f}x whole, {raw_s / app:.1f}x less the import",
            ">= 10x less the import",
        ),
        (
            "(c) final 1..100 scores",
            scores(raw_scores),
            scores([f["score"] for f in fits]),
            "-",
            f"{seeds}/{seeds} perfect",
        ),
        (
            "(c) the ReLU recipe before it, same seeds",
            f"fizzbuzz_relu.yaml: fit {relu_wall:.1f} s whole, training {relu_train:.2f} s; "
            f"{scores([r['score'] for r in relus])}",
            f"fit {wall:.1f} s whole, training {train:.2f} s",
            f"{relu_wall / wall:.2f}x whole, {relu_train / train:.2f}x training (the ReLU recipe over the default)",
            "-",
        ),
        ("(e) peak RSS of fit, MB", "-", f"median {statistics.median(rss):.0f}, max {max(rss):.0f}", "-", "-"),
        (
            "(g) training of the default recipe, s",
            f"plain torch loop {plain:.2f} (same data, net, optimizer, epochs)",
            f"{train:.2f} (fit.json training)",
            f"{train / plain:.2f}x",
            "<= 1.3x",
        ),
        ("(g) same, Lightning's floor", f"bare Trainer {bare:.2f}", f"{train:.2f}", f"{train / bare:.2f}x", "-"),
        (
            "(g) the floor itself",
            f"plain torch loop {plain:.2f}",
            f"bare Trainer {bare:.2f}",
            f"{bare / plain:.2f}x",
            "-",
        ),
    ]


def protocol_rows(seeds: int, epochs: int) -> list[tuple[str, ...]]:
    """Row (f): lesson 000's own protocol: train ``epochs`` epochs (878 in the lesson, stopped by hand), score once."""
    times, scores_ = [], []
    for seed in range(seeds):
        log(f"lesson 000's protocol, seed {seed}: {epochs} epochs, then one score")
        net = SeedFizzBuzz(seed)
        times.append(sum(net.timed_epoch() for _ in range(epochs)))
        scores_.append(net.score())
    text = f"seeds' loop {statistics.median(times):.1f} s median; {scores(scores_)}"
    return [(f"(f) lesson 000's protocol: {epochs} epochs, one score", text, "-", "-", "-")]


def regressor_rows(steps_per_epoch: int, epochs: int, reps: int) -> list[tuple[str, ...]]:
    """Row (d): the regressor's full-batch steps, the seeds' loop against ``fizzlightning fit``'s training time."""
    raw, bare, fizz = [], [], []
    overrides = ["--trainer.max_epochs", str(epochs), "--data.init_args.steps_per_epoch", str(steps_per_epoch)]
    for rep in range(reps):
        log(f"regressor, repetition {rep + 1}/{reps}")
        raw.append(regressor_seconds(steps_per_epoch * epochs)[0])
        L.seed_everything(0, verbose=False)
        start = time.perf_counter()
        bare_trainer(epochs, []).fit(BareRegressor(), datamodule=RegressionDataModule(steps_per_epoch=steps_per_epoch))
        bare.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            launch.run(["fit", "--config", str(REGRESSOR), *overrides], Path(tmp))
            fizz.append(launch.fit_record(Path(tmp))["seconds"])
    raw_s, bare_s, fizz_s = map(statistics.median, (raw, bare, fizz))
    label = f"(d) regressor {steps_per_epoch * epochs} steps, s"
    return [
        (label, f"seeds' loop {raw_s:.2f}", f"{fizz_s:.2f} (fit.json training)", f"{fizz_s / raw_s:.2f}x", "-"),
        ("(d) same, Lightning's floor", f"bare Trainer {bare_s:.2f}", f"{fizz_s:.2f}", f"{fizz_s / bare_s:.2f}x", "-"),
    ]


def gpu_rows(seeds: int) -> list[tuple[str, ...]]:
    """Rows (h): the default recipe on the GPU, fizzlightning's training against a plain loop on the same GPU."""
    recipe, rows = default_recipe(), []
    for index in range(seeds):
        seed = FIRST_FIT_SEED + index
        args = ["fit", "--config", str(DEFAULT), "--seed_everything", str(seed), "--trainer.accelerator", "gpu"]
        with tempfile.TemporaryDirectory() as tmp:
            fit = launch.run([*args, "--trainer.devices", "1", "--trainer.enable_progress_bar", "false"], Path(tmp))
            record = launch.fit_record(Path(tmp))
        plain = plain_fit_seconds(recipe, seed, record["epochs"], device="cuda")
        rows.append((fit.seconds, record["seconds"] / record["epochs"], plain / record["epochs"]))
        log(f"GPU seed {seed}: fit {fit.seconds:.1f} s, {record['epochs']} epochs, plain loop {plain:.2f} s")
    wall, fizz, plain = (statistics.median(column) for column in zip(*rows))
    name = torch.cuda.get_device_name(0)
    return [
        (f"(h) GPU {name}, s/epoch", f"plain loop {plain:.4f}", f"{fizz:.4f}", f"{fizz / plain:.2f}x", "<= 1.5x"),
        ("(h) GPU, fit whole process, s", "-", f"{wall:.1f} (median of {seeds} seeds)", "-", "-"),
    ]


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda row: "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"  # noqa: E731
    print("\n".join([line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks that every row runs")
    parser.add_argument("--gpu", action="store_true", help="add the GPU rows (h) on the first CUDA device")
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
    lightning_s = import_seconds("lightning.pytorch", 1 if args.quick else 5)
    torch_s = import_seconds("torch", 1 if args.quick else 5)
    rows = epoch_rows(args.epochs, args.reps, ["--trainer.accelerator", "cpu"])
    fit_args = ["--trainer.max_epochs", "1"] if args.quick else []
    rows += perfect_game_rows(args.seeds, args.cap_epochs, fit_args, lightning_s)
    rows += regressor_rows(*((5, 1) if args.quick else (100, 5)), args.reps)
    rows += protocol_rows(args.protocol_seeds, args.protocol_epochs)
    if args.gpu:
        rows += gpu_rows(1 if args.quick else 3)
    print(
        f"\nfizzlightning benchmark{' (--quick: tiny settings, not results)' if args.quick else ''}, torch "
        f"{torch.__version__}, lightning {L.__version__}, {os.cpu_count()} CPUs, {time.perf_counter() - start:.0f} s; "
        f"import lightning.pytorch {lightning_s:.2f} s, import torch {torch_s:.2f} s (medians)"
    )
    print_table(sorted(rows, key=lambda row: row[0][:3]))  # (a) .. (h)


if __name__ == "__main__":
    main()
