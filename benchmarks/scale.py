"""How fit's time and memory grow with num_digits: one epoch of the default recipe at 12 .. 22 bits, as users run it.

    python benchmarks/scale.py           # 12, 14, .., 22 bits; 2 DDP processes, test and predict at 22; docs/scale.png
    python benchmarks/scale.py --quick   # 12 and 14 bits, one process: checks that the script runs (CI)

Each row is ``python -m fizzlightning fit --config lightning_configs/fizzbuzz_relu.yaml --data.init_args.num_digits N
--trainer.max_epochs 1`` in a subprocess of its own (``launch.run``), in a scratch directory, with ``PhaseTimer``
added to its callbacks: it times the epoch's training steps and its validation. "Outside the steps" is the whole
process less the steps: imports, encoding, validation, checkpoints, exports. Peak memory is the child's peak
resident set (``wait4``); under DDP, that of the largest process.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import launch  # noqa: E402

CONFIG = BENCH_DIR.parent / "lightning_configs" / "fizzbuzz_relu.yaml"  # docs/scale.md's figures: the ReLU net
PICTURE = BENCH_DIR.parent / "docs" / "scale.png"
OUT_ENV = "FIZZLIGHTNING_SCALE_TIMES"  # where a fit subprocess writes its PhaseTimer times
FULL, QUICK = (12, 14, 16, 18, 20, 22), (12, 14)
PREDICT_RANGE = "[1, 2000000]"


class PhaseTimer(L.Callback):
    """The first training epoch's steps (its start to its last batch's end) and its validation, in seconds,
    written as JSON to ``$FIZZLIGHTNING_SCALE_TIMES`` by rank 0 when fit ends."""

    def __init__(self) -> None:
        self.times = {"steps": 0.0, "validation": 0.0}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        self.times["steps"] = time.perf_counter() - self._epoch_start  # up to the latest batch

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.times["validation"] += time.perf_counter() - self._validation_start

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and OUT_ENV in os.environ:
            Path(os.environ[OUT_ENV]).write_text(json.dumps(self.times))


@dataclass(frozen=True)
class Row:
    bits: int
    processes: int
    steps: int
    steps_seconds: float
    validation_seconds: float
    training_seconds: float  # fit.json: trainer.fit from start to end
    whole_seconds: float
    peak_gb: float

    @property
    def numbers(self) -> int:
        return 2**self.bits - 1

    @property
    def outside(self) -> float:
        return self.whole_seconds - self.steps_seconds


def fit_row(bits: int, processes: int, root: Path) -> Row:
    args = ["fit", "--config", str(CONFIG), "--data.init_args.num_digits", str(bits), "--trainer.max_epochs", "1"]
    if processes > 1:
        args += ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.devices", str(processes)]
    times_file = root / "times.json"
    env = launch.environment([BENCH_DIR], **{OUT_ENV: str(times_file)})
    finished = launch.run([*args, "--trainer.callbacks+=scale.PhaseTimer"], root, env, timeout=3600)
    record, times = launch.fit_record(root), json.loads(times_file.read_text())
    return Row(
        bits,
        processes,
        record["global_step"],
        times["steps"],
        times["validation"],
        record["seconds"],
        finished.seconds,
        finished.peak_rss_mb / 1024,
    )


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| bits | numbers | processes | steps | epoch's steps, s | validation, s | fit.json training, s "
        "| whole fit, s | outside the steps, s (share) | peak memory, GiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.bits} | {r.numbers:,} | {r.processes} | {r.steps:,} | {r.steps_seconds:.1f} "
            f"| {r.validation_seconds:.2f} | {r.training_seconds:.1f} | {r.whole_seconds:.1f} "
            f"| {r.outside:.1f} ({r.outside / r.whole_seconds:.0%}) | {r.peak_gb:.2f} |"
        )
    return lines


def draw(rows: list[Row], picture: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print(f"No picture: matplotlib is not installed (pip install -e '.[plots]'), so {picture} was not drawn.")
        return
    matplotlib.use("Agg")  # a file, not a window
    import matplotlib.pyplot as plt

    single = [r for r in rows if r.processes == 1]
    numbers = [r.numbers for r in single]
    fig, (times, memory) = plt.subplots(1, 2, figsize=(10, 4))
    times.plot(numbers, [r.whole_seconds for r in single], "o-", label="whole fit")
    times.plot(numbers, [r.steps_seconds for r in single], "s-", label="the epoch's training steps")
    times.plot(numbers, [r.outside for r in single], "^-", label="outside the steps")
    times.set(xscale="log", yscale="log", xlabel="numbers (2**bits - 1)", ylabel="seconds", title="time, one epoch")
    times.legend()
    memory.plot(numbers, [r.peak_gb for r in single], "o-", label="peak resident memory")
    memory.set(xscale="log", yscale="log", xlabel="numbers (2**bits - 1)", ylabel="GiB", title="memory")
    memory.legend()
    for axes in (times, memory):
        axes.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(picture, dpi=100)
    print(f"Drawn: {picture}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 and 14 bits, one process, no picture by default")
    parser.add_argument("--picture", type=Path, help=f"where to draw the plot (default: {PICTURE}; none with --quick)")
    options = parser.parse_args()
    sizes = QUICK if options.quick else FULL
    began = time.perf_counter()
    cpus, memory = os.cpu_count(), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    note = " (--quick: 12 and 14 bits only)" if options.quick else ""
    print(f"fizzlightning scale{note}: {CONFIG.name}, one epoch; {cpus} CPUs, {memory:.0f} GiB", flush=True)
    rows, others = [], []
    for bits in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(fit_row(bits, 1, Path(tmp)))
            if not options.quick and bits == sizes[-1]:
                same = ["--config", str(CONFIG), "--data.init_args.num_digits", str(bits)]
                test = launch.run(["test", *same], Path(tmp))
                predict = launch.run(["predict", *same, "--data.init_args.predict_range", PREDICT_RANGE], Path(tmp))
                others += [(f"test, {bits} bits", test), (f"predict {PREDICT_RANGE}, {bits} bits", predict)]
        print(table(rows)[-1], file=sys.stderr, flush=True)
    if not options.quick:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(fit_row(sizes[-1], 2, Path(tmp)))
    print("\n".join(table(rows)))
    for name, finished in others:
        print(f"{name}: {finished.seconds:.1f} s whole process, peak memory {finished.peak_rss_mb / 1024:.2f} GiB")
    picture = options.picture or (None if options.quick else PICTURE)
    if picture is not None:
        draw(rows, picture)
    print(f"Took {time.perf_counter() - began:.0f} s.")


if __name__ == "__main__":
    main()
