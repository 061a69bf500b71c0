"""``fizzlightning runs``: the runs under ``lightning_logs`` (``layout.fit_runs``), newest first, what each scored and
the settings that differ; ``runs A B`` side by side; ``--json`` for scripts. It imports no torch and reads only what a
run records: ``fit.json`` (``commands/finish.py``), the newest ``fit-config*.yaml``, and the logs (TensorBoard's event
files, or the CSV logger's ``csv/version_N/metrics.csv``, one a command) for the last ``test`` and, for a run whose fit
did not finish (no ``fit.json``), its validations: its score is then the last of them, marked ``(last)``.
"""

import csv
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fizzlightning.commands.completion import runs_parser
from fizzlightning.errors import ConfigError
from fizzlightning.runs import layout

# Settings that say where a run lives or which run it is, not how it trains: its seed is a column of its own.
IDENTITY = ("seed_everything", "experiment", "ckpt_path")


@dataclass
class Run:
    """One run, as its files record it."""

    experiment: str
    run: str
    path: str
    started: str  # local time, from the run's name (or its saved config's time)
    state: str  # finished, running, interrupted (its fit's process is gone), unfinished (a resume not finished)
    fits: int  # 1, plus one per resume
    seed: int | None
    epochs: int | None
    seconds: float | None  # training, of the run's last fit
    monitor: str | None
    best: float | None  # finished: the best validation score; otherwise the last one logged
    test: dict[str, float] = field(default_factory=dict)  # the last test command's scores
    settings: dict[str, str] = field(default_factory=dict)


def main(argv: list[str]) -> str:
    """``fizzlightning runs ARGV``: the text to print; a mistake is a ``ConfigError``."""
    options = runs_parser().parse_args(argv)  # --help: its usage, exit 0
    root = Path(options.root)
    logs = root / layout.LOG_ROOT
    if not logs.is_dir():
        raise ConfigError(
            f"No runs: {logs} does not exist. Train one first (fizzlightning fit --config fizzbuzz), or pass --root "
            "the folder fit ran in (its trainer.default_root_dir)."
        )
    runs = [read(path) for path in layout.fit_runs(root)]
    if options.experiment:
        known = sorted({run.experiment for run in runs})
        unknown = [name for name in options.experiment if name not in known]
        if unknown:
            raise ConfigError(
                f"--experiment {unknown[0]}: no runs of that experiment under {logs}/ "
                f"(experiments: {', '.join(known) or 'none'})."
            )
        runs = [run for run in runs if run.experiment in options.experiment]
    runs.sort(key=lambda run: (run.started, run.run), reverse=True)
    if options.run:
        runs = [pick(runs, name, logs) for name in options.run]
    drawn = "" if options.plot is None else "\n" + plot(runs, Path(options.plot))
    if options.json:
        listed = [asdict(run) for run in runs]
        return json.dumps({"runs": listed, "differing": differences(runs)} if options.run else listed, indent=2)
    if options.run:
        return side_by_side(runs) + drawn
    if not runs:
        return f"No runs under {logs}/: fizzlightning fit --config fizzbuzz starts one."
    return table(runs) + drawn


def pick(runs: list[Run], name: str, logs: Path) -> Run:
    """A run by its name, ``experiment/name`` or its directory."""
    given = Path(name)
    found = [
        run
        for run in runs
        if name in (run.run, f"{run.experiment}/{run.run}")
        or (given.is_dir() and given.resolve() == Path(run.path).resolve())
    ]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(f"{run.experiment}/{run.run}" for run in found)
        raise ConfigError(f"{name} names {len(found)} runs ({names}): name one as EXPERIMENT/RUN.")
    raise ConfigError(f"{name} is not a run under {logs}/: `fizzlightning runs` lists them.")


def read(path: Path) -> Run:
    """What the files of one run (``layout.fit_runs``) record."""
    configs = layout.fit_configs(path)
    config = _mapping(configs[-1], yaml.safe_load, yaml.YAMLError)
    finished = layout.is_finished(path)
    record = _mapping(path / layout.FINISHED, json.loads, ValueError) if finished else {}
    start = layout.run_start(path.name)
    started = start[0] if start else time.localtime(configs[0].stat().st_mtime)
    if finished:
        state = "finished"
    elif layout.running(path):  # its lock is held: a first fit or a resume, in any terminal
        state = "running"
    else:
        state = "unfinished" if len(configs) > 1 else "interrupted"
    logged = scalars(path)
    monitor, best, epochs = record.get("monitor"), record.get("best_score"), record.get("epochs")
    if not finished:
        monitor, best, epochs = last_validation(logged)
    seed = record.get("seed", config.get("seed_everything"))
    tests = [entry for entry in logged if entry[1].startswith("test/")]  # the last test command's: the last file's
    last = tests[-1][0] if tests else None  # an event file, or a CSV row: a test logs its scores in one row
    return Run(
        experiment=path.parent.name,
        run=path.name,
        path=str(path.absolute()),
        started=time.strftime("%Y-%m-%d %H:%M:%S", started),
        state=state,
        fits=len(configs),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        epochs=epochs,
        seconds=record.get("seconds"),
        monitor=monitor,
        best=best,
        test={tag: value for file, tag, _, value in tests if file == last},
        settings=settings(config, path),
    )


def _mapping(path: Path, parse, error: type[Exception]) -> dict[str, Any]:
    """A run's record as a mapping; a file edited by hand into something else reads as empty, so that the other
    runs are still listed."""
    try:
        found = parse(path.read_text())
    except (error, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


Scalar = tuple[str, str, int, float]  # (file, tag, step, value), in the order written


def scalars(run_dir: Path) -> list[Scalar]:
    """The scalars the run's commands logged: TensorBoard's event files in the run, else the CSV logger's files."""
    events = sorted(run_dir.glob("events.out.tfevents.*"), key=lambda p: (p.stat().st_mtime, p.name))
    found: list[Scalar] = []
    if events:
        from tensorboard.compat.proto.event_pb2 import Event

        for file in events:
            for record in _records(file):
                event = Event.FromString(record)
                for value in event.summary.value:
                    if value.WhichOneof("value") == "simple_value":  # what Lightning's TensorBoardLogger writes
                        found.append((file.name, value.tag, event.step, value.simple_value))
                    elif value.metadata.plugin_data.plugin_name == "scalars" and value.tensor.float_val:
                        found.append((file.name, value.tag, event.step, value.tensor.float_val[0]))
        return found
    # one CSV version per command (csv/version_0/, version_1/, ...), after 0.2.0's single csv/metrics.csv
    versions = sorted(run_dir.glob("csv/version_*/metrics.csv"), key=lambda p: (len(p.parent.name), p.parent.name))
    for metrics in [p for p in [run_dir / "csv" / "metrics.csv"] if p.is_file()] + versions:
        with metrics.open(newline="") as file:
            for index, row in enumerate(csv.DictReader(file)):
                step = int(float(row.get("step") or 0))
                where = f"{metrics.parent.name}/row{index}"
                found.extend((where, tag, step, float(v)) for tag, v in row.items() if v and tag != "step")
    return found


def _records(path: Path) -> Iterator[bytes]:
    """The records of a TensorBoard event file (TFRecord: a little-endian uint64 length, its CRC, the bytes, their CRC),
    up to a record that a killed writer left cut short. TensorBoard's own readers import numpy and convert every
    record, images included: seconds on a busy machine, for the few scalars this command shows."""
    with path.open("rb") as file:
        while len(head := file.read(12)) == 12:
            (length,) = struct.unpack("<Q", head[:8])
            data = file.read(length)
            if len(data) < length or len(file.read(4)) < 4:
                return
            yield data


def last_validation(logged: list[Scalar]) -> tuple[str | None, float | None, int | None]:
    """For a run without ``fit.json``: the monitored metric (the one HPARAMS mirrors, ``hp/val_X`` for
    ``val/X``), its last logged value, and how many validations fit logged."""
    mirrors = [tag for _, tag, _, _ in logged if tag.startswith("hp/val_")]
    vals = [tag for _, tag, _, _ in logged if tag.startswith("val/")]
    monitor = f"val/{mirrors[0].removeprefix('hp/val_')}" if mirrors else (vals[0] if vals else None)
    fit_files = {file for file, tag, _, _ in logged if tag.startswith("train/")}
    fits = [entry for entry in logged if entry[0] in fit_files or not fit_files]  # not a validate command's
    seen = [(step, value) for _, tag, step, value in fits if tag == monitor]
    if not seen:
        return monitor, None, 0 if fit_files else None
    return monitor, seen[-1][1], len({step for step, _ in seen})


def curve(run: Run) -> list[tuple[float, float]]:
    """(epoch, score) of each validation of the run's monitored metric that its fits logged, in order."""
    logged = scalars(Path(run.path))
    fit_files = {file for file, tag, _, _ in logged if tag.startswith("train/")}
    epochs = {(file, step): value for file, tag, step, value in logged if tag == "epoch"}
    points = {
        step: (epochs.get((file, step), -1.0) + 1, value)
        for file, tag, step, value in logged
        if tag == run.monitor and file in fit_files
    }
    return [points[step] for step in sorted(points)]


def plot(runs: list[Run], target: Path) -> str:
    """Draw each run's validation curve into ``target`` (PNG, written whole or not at all); the line to print."""
    from fizzlightning import extras

    extras.need("runs --plot")
    from matplotlib.figure import Figure  # no pyplot: no backend chosen for the process

    from fizzlightning.files import atomic_write

    drawn = [(run, points) for run in runs if (points := curve(run))]
    metrics = sorted({str(run.monitor) for run, _ in drawn}) or ["no validation logged"]
    figure = Figure(figsize=(7 * len(metrics), 5), layout="constrained")
    for metric, axes in zip(metrics, figure.subplots(1, len(metrics), squeeze=False)[0]):  # a panel per metric
        for run, points in drawn:
            if run.monitor == metric:
                axes.plot(*zip(*points), marker=".", label=f"{run.experiment}/{run.run}")
        axes.set(xlabel="epoch", ylabel=metric)
        if drawn:
            axes.legend(fontsize="small")
    atomic_write(target, lambda tmp: figure.savefig(tmp, format="png"))
    counts = ", ".join(str(len(points)) for _, points in drawn)
    return f"Validation curves of {len(drawn)} of {len(runs)} runs ({counts} validations): {target}"


def settings(config: dict[str, Any], run_dir: Path) -> dict[str, str]:
    """A saved config's settings as the command line names them (``optimizer.lr``, ``model.hidden``, a class by
    its name: ``optimizer=AdamW``), less those that only say which run it is or where it lives."""
    flat: dict[str, str] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict) and "class_path" in value:
            flat[key] = str(value["class_path"]).rsplit(".", 1)[-1]
            for name, inner in (value.get("init_args") or {}).items():
                walk(f"{key}.{name}", inner)
        elif isinstance(value, dict):
            for name, inner in value.items():
                walk(f"{key}.{name}" if key else str(name), inner)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                walk(f"{key}[{index}]", item)
        else:
            flat[key] = value if isinstance(value, str) else json.dumps(value)

    walk("", {key: value for key, value in config.items() if key not in IDENTITY})
    return {key: value for key, value in flat.items() if not _where(value, run_dir)}


def _where(value: str, run_dir: Path) -> bool:
    """A value naming the run, its experiment or a folder that holds it (a logger's version, name, save_dir)."""
    if value in (run_dir.name, run_dir.parent.name):
        return True
    path, run_dir = Path(value), run_dir.absolute()
    # a folder of the runs where they were made (a copied run keeps its first place in its config)
    placed = {run_dir.name, layout.LOG_ROOT.name} & set(path.parts)
    return path.is_absolute() and (run_dir.is_relative_to(path) or bool(placed))


def differences(runs: list[Run]) -> list[str]:
    """The settings whose values are not the same in every one of these runs (a setting one lacks differs)."""
    keys = sorted({key for run in runs for key in run.settings})
    return [key for key in keys if len({run.settings.get(key) for run in runs}) > 1]


def cells(run: Run) -> dict[str, str]:
    """What the table and the side-by-side view show of a run, by column."""
    resumes = f", {run.fits - 1} resume{'s' * (run.fits > 2)}" if run.fits > 1 else ""
    best = "-" if run.best is None else f"{run.monitor} {run.best:.4f}" + ("" if run.state == "finished" else " (last)")
    return {
        "started": run.started,
        "state": run.state + resumes,
        "seed": "-" if run.seed is None else str(run.seed),
        "epochs": "-" if run.epochs is None else str(run.epochs),
        "seconds": "-" if run.seconds is None else f"{run.seconds:.1f}",
        "best val": best,
        "test": ", ".join(f"{tag} {value:.4f}" for tag, value in run.test.items()) or "-",
    }


def table(runs: list[Run]) -> str:
    """One line per run, newest first; the settings column holds those that differ between the listed runs of its
    experiment (comparing one experiment's learning rate with another's network says little)."""
    by_experiment: dict[str, list[Run]] = {}
    for run in runs:
        by_experiment.setdefault(run.experiment, []).append(run)
    differing = {name: differences(group) for name, group in by_experiment.items()}
    rows = [
        (
            run.experiment,
            run.run,
            *cells(run).values(),
            " ".join(f"{key}={run.settings.get(key, '-')}" for key in differing[run.experiment]),
        )
        for run in runs
    ]
    return _columns([("experiment", "run", *cells(runs[0]), "settings"), *rows])


def side_by_side(runs: list[Run]) -> str:
    """A column per run: what it scored, then each setting that differs between them."""
    differing = differences(runs)
    shown = [cells(run) for run in runs]
    lines = [("run", *(f"{run.experiment}/{run.run}" for run in runs))]
    lines += [(name, *(cell[name] for cell in shown)) for name in shown[0]]
    lines += [(key, *(run.settings.get(key, "-") for run in runs)) for key in differing]
    return _columns(lines if differing else [*lines, ("settings", *("the same" for _ in runs))])


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
