"""Which run a command works in: one rule for every command (docs/runs.md), as pure functions of the files on disk.

``<root>/lightning_logs/<experiment>/<run>/`` holds one run: its logs, ``checkpoints/best.ckpt`` and
``checkpoints/last.ckpt``, the exported network, ``fit-config.yaml``, ``fit.lock`` (held while a fit trains it) and,
once ``fit`` has finished, ``fit.json``. The experiment is the ``experiment`` setting, else the last ``--config``
file's name; a run is named by its start time and process id. ``find_start`` is the rule; ``run_config`` finds the
run of a command without ``--config``. Every command that starts from a run's checkpoint uses that run's seed.
"""

import errno
import fcntl
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fizzlightning.errors import CheckpointError, ConfigError, require

LOG_ROOT = Path("lightning_logs")
EXPERIMENT_HELP = (
    "The folder under lightning_logs/ that holds this config's runs (default: the --config file's name). A run's "
    "saved fit-config.yaml records it, so passing that file back works on the same runs."
)
SEED_HELP = (
    "The run's seed: an integer from 0 to 2**32 - 1, or true for a random one (recorded in the run's saved config). "
    "A command that starts from a run's checkpoint uses that run's seed."
)
FINISHED = "fit.json"
FIT_CONFIG = "fit-config.yaml"
NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}  # a file system that does not lock
LOCK = "fit.lock"  # locked (flock) by rank 0 of the fit training the run: the lock dies with its process
SLURM_JOB = "slurm-job"  # the id of the SLURM job that last ran fit in the run, which its requeue resumes
UNSUPPORTED = ("hpc", "registry")  # Lightning's other special --ckpt_path names: fizzlightning writes neither


@dataclass(frozen=True)
class Start:
    """Where a command starts: the checkpoint it loads, the existing run it writes into, that run's seed."""

    ckpt_path: str | None = None
    run: Path | None = None  # None: a new run directory
    seed: int | None = None  # the seed the checkpoint's run was fit with, when known
    note: str | None = None  # a line to tell the user about this choice


@dataclass(frozen=True)
class Plan:
    """What a command needs to know before anything is built: where it writes and what it loads."""

    experiment: Path
    run_dir: Path
    ckpt_path: str | None
    seed: int


def experiment_name(explicit: str | None, config_files: list[str], model_class_path: str) -> str:
    """The ``experiment`` setting (a run's saved config records it), else the last config file's name, else the
    model's class name. An experiment is a name, one folder under ``lightning_logs``, never a path."""
    if explicit:
        check_experiment(explicit)
        return explicit
    return Path(config_files[-1]).stem if config_files else model_class_path.rsplit(".", 1)[-1].lower()


NAME_MAX = 255  # bytes in one file name, on every file system Linux, macOS and Windows use


def check_experiment(name: Any) -> None:
    """``experiment`` names one folder under ``lightning_logs``: no path separator, no ``.``/``..``, not too long."""
    require(
        isinstance(name, str)
        and name not in (".", "..")
        and not any(c in name for c in "/\\\0")
        and len(name.encode()) <= NAME_MAX,
        "experiment",
        name
        if not isinstance(name, str) or len(name) <= 60
        else f"{name[:30]}...{name[-10:]} ({len(name)} characters)",
        f"a folder name under {LOG_ROOT}/: no '/', '\\' or NUL, not '.' or '..', at most {NAME_MAX} bytes",
    )


def local_root(root: str | os.PathLike | None, option: str = "--trainer.default_root_dir") -> Path:
    """``root`` as an absolute local path (the working directory if None); a URL (``s3://``, ``gs://``,
    ``hdfs://``) is refused: every file of a run is written with local file operations."""
    match = re.match(r"([A-Za-z][\w+.-]*)://", str(root or ""))
    if match:
        raise ConfigError(
            f"{option} {root}: fizzlightning writes a run's files to a local or mounted filesystem, not to "
            f"{match[1]}:// storage. Mount the bucket (s3fs, gcsfuse, an HDFS mount) and pass its path, or copy "
            "the run directory there after fit."
        )
    return Path(os.path.abspath(root or os.getcwd()))


def experiment_dir(root: Path, name: str) -> Path:
    return root / LOG_ROOT / name


def new_run_name(experiment: Path) -> str:
    """A sortable name no run of this experiment has yet: start time and process id.

    The process id keeps commands started at once apart; the counter keeps apart commands that one
    process (a notebook, a test) runs within the same second.
    """
    base = name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    count = 0
    while (experiment / name).exists():
        count += 1
        name = f"{base}-{count}"
    return name


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def run_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/x.ckpt``), or None for a loose file."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def command_config(run_dir: Path, subcommand: str) -> Path:
    """Where a command saves its config: ``fit-config.yaml`` for the run's first fit, ``fit-config-2.yaml`` for
    its resume, ``test-config.yaml`` then ``test-config-2.yaml``: no command's record replaces another's."""
    path, count = run_dir / f"{subcommand}-config.yaml", 1
    while path.exists():
        count += 1
        path = run_dir / f"{subcommand}-config-{count}.yaml"
    return path


def _runs(experiment: Path) -> list[Path]:
    return [p for p in experiment.iterdir() if p.is_dir()] if experiment.is_dir() else []


def newest_finished_run(*experiments: Path) -> Path | None:
    """The run of these experiments whose ``fit`` finished last (``finish_record``), or None."""
    finished = [run for experiment in experiments for run in _runs(experiment) if (run / FINISHED).is_file()]
    return max(
        finished,
        key=lambda run: (_recorded(run, "finished_at") or (run / FINISHED).stat().st_mtime, run.name),
        default=None,
    )


def fit_runs(root: Path) -> list[Path]:
    """Every run that ``fit`` started under ``root``'s ``lightning_logs``, finished or not, of every experiment: the
    run directories holding ``fit-config.yaml`` (saved before the first epoch), by experiment and name."""
    experiments = sorted((root / LOG_ROOT).iterdir()) if (root / LOG_ROOT).is_dir() else []
    return [run for experiment in experiments for run in sorted(_runs(experiment)) if (run / FIT_CONFIG).is_file()]


def fit_configs(run_dir: Path) -> list[Path]:
    """The configs the run's fits saved (``command_config``), in order: its first fit's, then each resume's."""
    configs, count = [], 1
    path = run_dir / FIT_CONFIG
    while path.is_file():
        configs.append(path)
        count += 1
        path = run_dir / f"fit-config-{count}.yaml"
    return configs


def run_start(run_name: str) -> tuple[time.struct_time, int] | None:
    """When a run started and the id of the process that started it, from its name (``new_run_name``), or None
    for a name of another form."""
    parts = run_name.split("-")
    if len(parts) < 3 or not parts[2].isdigit():
        return None
    try:
        return time.strptime(f"{parts[0]}-{parts[1]}", "%Y%m%d-%H%M%S"), int(parts[2])
    except ValueError:
        return None


def finished_runs(root: Path) -> list[Path]:
    """Every finished run under ``root``'s ``lightning_logs``, of every experiment, oldest first."""
    return sorted(path.parent for path in (root / LOG_ROOT).glob(f"*/*/{FINISHED}"))


def _lasts(experiments: list[Path]) -> list[Path]:
    lasts = [checkpoint_dir(run) / "last.ckpt" for experiment in experiments for run in _runs(experiment)]
    return [p for p in lasts if p.is_file()]


def saved_at(checkpoint: Path) -> float:
    """When a checkpoint was saved, as fizzlightning records it inside (``checkpoints.run_record``): a copy keeps it
    (``cp -r`` gives every file the copy's time). A checkpoint of an earlier version (0.2.0's), or one that cannot be
    read (the command that loads it says why), falls back to its file's time."""
    import torch  # here: ``fizzlightning runs`` reads runs without importing torch

    try:  # mmap: only the small record is read, not the weights
        record = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True).get("fizzlightning")
        return float(record["saved_at"])
    except Exception:  # no record, an earlier format, or a damaged file
        return checkpoint.stat().st_mtime


def newest_last(lasts: list[Path]) -> Path | None:
    """The newest of these ``last.ckpt`` files by when each was saved (``saved_at``), the run's name breaking ties."""
    return max(lasts, key=lambda last: (saved_at(last), str(last)), default=None)


def read_fit(run_dir: Path) -> dict[str, Any]:
    """What ``fit`` recorded when it finished (see ``commands/finish.py``)."""
    return json.loads((run_dir / FINISHED).read_text())


def _recorded(run: Path, key: str) -> Any:
    """A value ``finish_record`` gave into ``fit.json``; None when it holds none (an earlier version's, or spoiled)."""
    try:
        return read_fit(run).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def finish_record(run_dir: Path) -> dict[str, Any]:
    """What ``fit.json`` records for the run rule to order and judge runs by, which a copy keeps and its files' times
    do not (``cp -r``): when ``fit`` finished, and how many fits the run has had (``is_finished``)."""
    return {"finished_at": time.time(), "fits": len(fit_configs(run_dir))}


def best_checkpoint(run_dir: Path) -> Path:
    """The checkpoint ``fit`` chose (``read_fit``); one of the run's own in this run's directory: a run copied
    elsewhere (``cp -r``) records the path it had where it was fit."""
    best = Path(read_fit(run_dir)["best_checkpoint"])
    return checkpoint_dir(run_dir) / best.name if best.parent.parent.name == run_dir.name else best


def is_seed(value: Any) -> bool:
    """A seed given, not ``true``/``false``/None: jsonargparse hands an ``int`` subclass (its ``Seed`` type)."""
    return isinstance(value, int) and not isinstance(value, bool)


def seed_of_run(run: Path | None) -> int | None:
    """The seed a run (``run_of`` a checkpoint, None for a loose one) was fit with, from its saved fit config."""
    if run is None or not (run / FIT_CONFIG).is_file():
        return None
    seed = yaml.safe_load((run / FIT_CONFIG).read_text()).get("seed_everything")
    return seed if is_seed(seed) else None


def job_run(experiment: Path, job: str) -> Path | None:
    """The run whose ``fit`` the SLURM job ``job`` ran last, if any: the newest of its runs (names sort by time)."""
    runs = [run for run in _runs(experiment) if (run / SLURM_JOB).is_file()]
    return max(
        (run for run in runs if (run / SLURM_JOB).read_text().strip() == job), key=lambda run: run.name, default=None
    )


def find_start(
    subcommand: str, experiment: Path, ckpt_path: str | None, fit_command: str, job: str | None = None
) -> Start:
    """``--ckpt_path`` (or its absence) as the checkpoint and run ``subcommand`` uses: ``last`` is the newest
    ``last.ckpt`` of the experiment, in its run; ``best`` (and nothing, but for ``fit``) the newest finished run's
    chosen checkpoint. ``job``: the SLURM job this command runs in, whose own run ``fit`` resumes."""
    if subcommand == "fit" and ckpt_path is None and job is not None and (run := job_run(experiment, job)):
        last = checkpoint_dir(run) / "last.ckpt"
        resumed = str(last) if last.is_file() else None  # requeued before its first epoch ended: start it over
        note = f"SLURM job {job} was requeued: {'resuming' if resumed else 'starting over'} its run {run}."
        return Start(resumed, run, seed_of_run(run), note)
    if ckpt_path in UNSUPPORTED or (ckpt_path or "").startswith("registry:"):
        raise CheckpointError(
            f"--ckpt_path {ckpt_path}: fizzlightning does not keep Lightning's {ckpt_path.split(':')[0]} checkpoints. "
            "Pass best, last or the path of a .ckpt file."
        )
    if ckpt_path == "last":
        lasts = _lasts([experiment])
        if subcommand == "fit":  # an interrupted run first; never one a process is training now
            lasts = [p for p in lasts if resumable(run_of(p))] or [p for p in lasts if not running(run_of(p))]
        last = newest_last(lasts)
        if last is None and subcommand == "fit":  # Lightning's rule for "last" with nothing to resume
            return Start(note=f"--ckpt_path last: no last.ckpt under {experiment}/*/checkpoints/ yet: a new run.")
        if last is None:
            raise CheckpointError(
                f"--ckpt_path last: no last.ckpt under {experiment}/*/checkpoints/. Train first: `{fit_command}`."
            )
        return Start(str(last), run_of(last), seed_of_run(run_of(last)))
    if subcommand == "fit" and ckpt_path == "best":
        raise CheckpointError(
            "fit --ckpt_path best: fit resumes a run from its last.ckpt (--ckpt_path last), or starts a new run from "
            "a checkpoint you name by path (--ckpt_path PATH)."
        )
    if subcommand != "fit" and ckpt_path in (None, "best"):
        run = newest_finished_run(experiment)
        if run is None:
            raise CheckpointError(
                f"No trained checkpoint to {subcommand}: found no finished run under {experiment}/ "
                f"(looked for */{FINISHED}). Train one first with `{fit_command}`, or pass --ckpt_path PATH."
            )
        best = best_checkpoint(run)
        return Start(str(best), run, seed_of_run(run))
    if ckpt_path is None:
        return Start()
    run = run_of(Path(os.path.abspath(ckpt_path))) if subcommand != "fit" else None  # fit from a checkpoint: a new run
    return Start(ckpt_path, run if run and (run / FIT_CONFIG).is_file() else None, seed_of_run(run_of(Path(ckpt_path))))


def add_run_options(parser: Any) -> None:
    """``--experiment`` and ``--trainer.default_root_dir`` on an argparse parser (``serve``, ``export``): where the
    run is, as the Lightning commands take them (``start_of_config``)."""
    parser.add_argument("--experiment", metavar="NAME", help=EXPERIMENT_HELP)
    parser.add_argument("--trainer.default_root_dir", metavar="DIR", dest="root", help="default: the config's")


def start_of_config(command: str, config_path: Path, options: Any, typed_config: str) -> tuple[str, str | None]:
    """For commands that take a config without building it (``serve``, ``export``): the checkpoint by the same
    rule (``find_start``), in ``options``' root and experiment (``add_run_options``) else the config's, and the
    config's model class, if it names one."""
    config = yaml.safe_load(config_path.read_text()) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"--config {config_path} must be a mapping of settings, not a YAML {type(config).__name__}.")
    trainer, model = config.get("trainer") or {}, config.get("model") or {}
    model_class = model.get("class_path") if isinstance(model, dict) else model
    model_class = model_class if isinstance(model_class, str) else None
    if options.experiment:
        check_experiment(options.experiment)
    root = local_root(options.root or (trainer.get("default_root_dir") if isinstance(trainer, dict) else None))
    name = experiment_name(options.experiment or config.get("experiment"), [str(config_path)], str(model_class or ""))
    fit = f"fizzlightning fit --config {typed_config}"
    try:
        return find_start(command, experiment_dir(root, name), options.ckpt_path, fit).ckpt_path, model_class
    except CheckpointError as error:  # where it looked is the user's choice: name it
        given = [f"{option} {value}" for option, value in (("--experiment", options.experiment), (
            "--trainer.default_root_dir", options.root)) if value]  # fmt: skip
        raise CheckpointError(f"{', '.join(given)}: {error}" if given else str(error)) from None


def plan(
    subcommand: str,
    experiment: Path,
    ckpt_path: str | None,
    seed: int | bool | None,
    fit_command: str,
    name_run: Callable[[Path], str] = new_run_name,
    draw_seed: Callable[[], int] | None = None,
    job: str | None = None,
) -> Plan:
    """The run a command works in and the seed it uses: a checkpoint's run keeps its own seed; otherwise the
    configured one, or ``draw_seed()`` for an unseeded run (``seed_everything: false``, ``true`` or null)."""
    start = find_start(subcommand, experiment, ckpt_path, fit_command, job)
    if start.note:
        print(f"fizzlightning: {start.note}", file=sys.stderr, flush=True)
    if start.seed is not None:
        seed = start.seed
    elif seed is None or isinstance(seed, bool):
        seed = draw_seed()
    return Plan(experiment, start.run or experiment / name_run(experiment), start.ckpt_path, seed)


def split_option(args: list[str], option: str = "--ckpt_path") -> tuple[str | None, list[str]]:
    """``option X`` (or ``option=X``) as typed, if any (the last one given), and the other arguments."""
    given, kept = None, []
    for previous, arg in zip([None, *args], args):
        if previous == option:
            given = arg
        elif arg.startswith(f"{option}="):
            given = arg.split("=", 1)[1]
        elif arg != option:
            kept.append(arg)
    return (given if given is not None or option not in args else ""), kept


# What a command after fit may change of a run's data: how it runs and scores, never the network or its inputs
# (``checkpoints.judge``): the batches, what predict plays (the GAN's predict_paintings), how long a training epoch
# is, and how many paintings score the GAN (a larger sample of the same network's)
HOW_IT_SCORES = ("batch_size", "predict_range", "predict_paintings", "steps_per_epoch", "eval_paintings")


def network_options(args: list[str]) -> tuple[list[str], list[str]]:
    """The ``--config`` and ``--model``/``--data`` options in ``args`` (``--KEY VALUE`` or ``--KEY=VALUE``), in the
    order given, as ``--KEY=VALUE``, and the other arguments with the configs: what ``serve`` and ``export`` hand to
    fit's own parser to judge as the Lightning commands do (``checkpoints.check_config_network``)."""
    settings, kept, index = [], [], 0
    while index < len(args):
        key, equals, value = args[index].partition("=")
        if re.fullmatch(r"--(model|data)(\.[\w.]+)?|--config|-c", key):
            if not equals and index + 1 < len(args):
                index += 1
                value = args[index]
            key = "--config" if key == "-c" else key  # -c=X is "=X" to argparse
            settings.append(f"{key}={value}")
            if key == "--config":
                kept.append(f"{key}={value}")
        else:
            kept.append(args[index])
        index += 1
    return settings, kept


def run_config(subcommand: str, args: list[str], fit_command: str) -> tuple[Path, Path, str | None]:
    """The run a command without ``--config`` works on (``find_start``'s rule, in every experiment under
    ``--trainer.default_root_dir`` or the one ``--experiment`` names), its newest fit config (``fit_configs``) and the
    checkpoint it resolved (None for ``fit --ckpt_path last``, whose run ``find_start`` resumes). A ``--model``/
    ``--data`` option goes on top of that config, and is judged by value as one given with ``--config``
    (``checkpoints.judge``): the network and its data are the run's."""
    given = split_option(args)[0]
    root = local_root(split_option(args, "--trainer.default_root_dir")[0])
    if experiment := split_option(args, "--experiment")[0]:
        check_experiment(experiment)
    experiments = [experiment_dir(root, experiment)] if experiment else sorted((root / LOG_ROOT).glob("*"))
    checkpoint: Path | None = None
    if given not in (None, "best", "last"):
        checkpoint = Path(os.path.abspath(given))
        run = run_of(checkpoint)
    elif given == "last":
        keep = resumable if subcommand == "fit" else lambda run: True
        lasts = [last for last in _lasts(experiments) if keep(run_of(last))]
        names = sorted({last.parent.parent.parent.name for last in lasts})
        if subcommand == "fit" and len(names) > 1:
            raise ConfigError(
                f"fit --ckpt_path last: interrupted runs of {len(names)} experiments could resume ({', '.join(names)}):"
                " name one with --experiment."
            )
        checkpoint = newest_last(lasts)
        run = run_of(checkpoint) if checkpoint else None
    else:
        run = newest_finished_run(*experiments)
    if run is None and given in (None, "best", "last"):
        looked = f"{experiment or '*'}/*/{FINISHED if given != 'last' else 'checkpoints/last.ckpt'}"
        which = "an interrupted run to resume (finished and running ones excluded)" if subcommand == "fit" else ""
        raise CheckpointError(
            f"No trained run to {subcommand}: found none under {root / LOG_ROOT}/ (looked for {looked}"
            f"{f'; {which}' if which else ''}). Train one first with `{fit_command}`, or pass --config and "
            "--ckpt_path PATH."
        )
    if run is None or not (run / FIT_CONFIG).is_file():
        raise ConfigError(
            f"{subcommand}: {f'the run {run}' if run else f'the loose checkpoint {given}'} has no recorded "
            f"{FIT_CONFIG}: pass the config it was trained with (--config)."
        )
    if checkpoint is None and given != "last":
        checkpoint = best_checkpoint(run)
    if subcommand == "fit":
        checkpoint = None
    return fit_configs(run)[-1], run, str(checkpoint.absolute()) if checkpoint else None


def is_finished(run: Path) -> bool:
    """Whether the run's latest ``fit`` finished: a resume that did not finish leaves the earlier fit's ``fit.json``
    behind, which counts fewer fits than the run's configs (``fit_configs``); an earlier version's ``fit.json``
    counts none: there, it is older than the resume's config."""
    configs, finished = fit_configs(run), run / FINISHED
    if not finished.is_file():
        return False
    fits = _recorded(run, "fits")
    if isinstance(fits, int):
        return fits >= len(configs)
    return not configs or finished.stat().st_mtime >= configs[-1].stat().st_mtime


_HELD: dict[Path, int] = {}  # the runs this process trains (``hold``): their lock files' descriptors


def hold(run_dir: Path) -> None:
    """Lock the run for this process while it trains (rank 0 of every fit, first or resumed): a run another
    process holds is refused in one line, instead of two fits writing one run. The OS drops the lock when the
    process ends, however it ends (``kill -9`` too); ``release`` drops it when the command ends. On a file system
    without locks (Lustre mounted without ``flock``, some FUSE or SMB mounts) the run is trained unlocked, and
    ``running`` reads the process named in the run's name, as for runs of earlier versions."""
    if run_dir.absolute() in _HELD:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"{run_dir} is being trained by another fit right now: one fit writes a run at a time. Wait for it "
            "to end (or stop it), then resume with fit --ckpt_path last."
        ) from None
    except OSError as error:
        os.close(fd)
        if error.errno not in NO_LOCKS:
            raise
        return
    _HELD[run_dir.absolute()] = fd


def release() -> None:
    """Drop this process's locks (``hold``): its command has ended."""
    while _HELD:
        os.close(_HELD.popitem()[1])


def running(run: Path) -> bool:
    """Whether another process trains the run now: it holds the run's lock (``hold``). A run of an earlier version
    has no lock file: there, whether the process that started it (``run_start``) lives and it has not finished."""
    if run.absolute() in _HELD:
        return False
    try:
        fd = os.open(run / LOCK, os.O_RDONLY)
    except OSError:  # none (an earlier version's run), or not ours to read
        return _started_by_a_live_process(run)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # free: dropped again at once by the close below
        return False
    except BlockingIOError:
        return True
    except OSError as error:
        if error.errno not in NO_LOCKS:
            raise
        return _started_by_a_live_process(run)
    finally:
        os.close(fd)


def _started_by_a_live_process(run: Path) -> bool:
    """Without a lock to read: whether the process that started the run (``run_start``) lives and it has not
    finished."""
    start = run_start(run.name)
    return not is_finished(run) and bool(start) and start[1] != os.getpid() and alive(start[1])


def resumable(run: Path) -> bool:
    """Whether a bare ``fit --ckpt_path last`` resumes this run: it did not finish, and no process runs it."""
    return not is_finished(run) and not running(run)


def command_args(argv: list[str], subcommand: str) -> str:
    """A command's arguments less ``--ckpt_path``: what a resume, or ``test`` after ``fit``, must repeat."""
    return shlex.join(split_option(argv[argv.index(subcommand) + 1 :] if subcommand in argv else argv)[1])


def resume_command(args: str) -> str:
    """The command that continues a fit run with ``args`` (``command_args``) from its ``last.ckpt``."""
    return f"fizzlightning fit {args} --ckpt_path last"


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of writes that a killed process never finished (see ``files.atomic_write``)."""
    for tmp in run_dir.rglob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not alive(int(pid)):
            tmp.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a killed run's id may in time be given to another)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
