"""The ``fizzlightning`` command: what happens before and around LightningCLI, and how every failure ends.

``--version``, ``--help``, ``--print_completion``, ``configs``, ``runs``, ``serve`` and ``export`` are answered here
without building a Trainer (``--version``, ``--help`` and ``runs`` without importing torch; the help and the
completion script come from ``completion``'s light parser). ``fit``, ``validate``, ``test`` and ``predict`` go to
``cli.FizzLightningCLI``.
A known failure ends as one line on stderr: exit 2 for a mistake the user can fix first (config, checkpoint,
missing extra), 1 for a run that had to stop (divergence, a full disk, a lost process). A closed stdout (``| head``)
ends quietly, exit 1.
"""

import gc
import importlib
import os
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import NoReturn

from fizzlightning.commands import checks, completion
from fizzlightning.errors import ConfigError, NothingToDo, RunError
from fizzlightning.runs import slurm

SUBCOMMANDS = completion.LIGHTNING
OWN = completion.OWN


def shipped_configs() -> Path:
    """The configs that ship inside the package (``lightning_configs/`` of the repository)."""
    return Path(str(resources.files("fizzlightning") / "configs"))


def version(verbose: bool) -> str:
    lines = [f"fizzlightning {metadata.version('fizzlightning')}"]
    if verbose:  # from the installed metadata: importing torch would take seconds
        lines += [f"{name} {metadata.version(name)}" for name in ("torch", "lightning", "torchmetrics", "jsonargparse")]
        lines.append(f"python {sys.version.split()[0]}")
    return "\n".join(lines)


def configs(argv: list[str]) -> str:
    """``fizzlightning configs``: the shipped configs; ``--copy DIR`` copies them out for editing."""
    import shutil

    source = shipped_configs()
    options = completion.configs_parser().parse_args(argv)  # --help: its usage, exit 0
    if options.copy is not None:
        target = Path(options.copy)
        if target.exists():
            raise ConfigError(f"{target} already exists: copy the configs into a new directory, never over edits.")
        try:
            shutil.copytree(source, target)
        except OSError as error:  # a parent that is a file, a read-only disk, no permission, a full disk
            shutil.rmtree(target, ignore_errors=True)  # it did not exist: what was copied is not left half done
            raise ConfigError(
                f"configs --copy {target}: cannot create it ({error.strerror or error}). Choose a new directory "
                "in a place you can write to."
            ) from None
        return f"Copied the shipped configs to {target}/: fizzlightning fit --config {target / 'fizzbuzz.yaml'}"
    import textwrap

    width = min(shutil.get_terminal_size().columns, 120)
    lines = ["Shipped configs (use a name as --config NAME, or copy them with fizzlightning configs --copy DIR):"]
    for name, base, about in catalog():
        lines += ["", f"  {name}"]
        indent = " " * 6
        lines += textwrap.wrap(about, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)
        if base is not None:
            layer = f"A layer, not a whole config: put it on top of {base}:"
            lines += textwrap.wrap(layer, width, initial_indent=indent, subsequent_indent=indent)
            lines.append(f"        fizzlightning fit --config {base} --config {name}")
    return "\n".join(lines)


def catalog() -> list[tuple[str, str | None, str]]:
    """The shipped configs as ``fizzlightning configs`` lists them, sorted (a base config before its layers): each
    one's name, the name of the config it is a layer of (``layer_base``) or None, and its description."""
    source = shipped_configs()
    found = []
    for path in source.rglob("*.yaml"):
        base = layer_base(path)
        base_name = None if base is None else base.relative_to(source).with_suffix("").as_posix()
        found.append((path.relative_to(source).with_suffix("").as_posix(), base_name, description(path)))
    return sorted(found)  # by name: optimizers before optimizers/curve_adam


def description(config: Path) -> str:
    """A config's description: the comment lines it starts with, as one paragraph."""
    comments = []
    for line in config.read_text().splitlines():
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("#").strip())
    return " ".join(comments)


def layer_base(config: Path) -> Path | None:
    """The config that ``config`` is a layer of, or None for a whole config: a layer builds no model of its own and
    lies in the folder named after its base (``optimizers/curve_adam.yaml`` on top of ``optimizers.yaml``)."""
    import yaml

    base = config.parent.with_suffix(".yaml")
    settings = yaml.safe_load(config.read_text()) or {}
    return base if base.is_file() and isinstance(settings, dict) and "model" not in settings else None


def resolve_configs(argv: list[str]) -> list[str]:
    """``--config NAME`` with no such file means the shipped config of that name; every config must be YAML."""
    import yaml

    resolved = list(argv)
    for index, arg in enumerate(argv):
        key, _, value = arg.partition("=")
        if key in ("-c", "--config") and (value or index + 1 < len(argv)):
            position = index if value else index + 1
            path = Path(value or argv[index + 1])
            try:  # a name the system cannot look up (too long, a path through a file) raises, not only a miss
                shipped = shipped_configs() / path.with_suffix(".yaml")
                if not path.exists() and path.suffix == "" and shipped.is_file():
                    path = shipped
                    resolved[position] = f"{key}={path}" if value else str(path)
                checks.check_config_file(path)
            except ConfigError:
                raise
            except (OSError, ValueError) as error:  # ValueError: a NUL byte, or a name with_suffix cannot take
                why = getattr(error, "strerror", None) or error
                shown = str(path) if len(str(path)) <= 80 else f"{str(path)[:60]}... ({len(str(path))} characters)"
                raise ConfigError(f"--config {shown}: cannot be read as a file ({why}).") from None
            try:
                checks.check_config_values(path, yaml.safe_load(config_text(path)))
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                problem = getattr(error, "problem", None) or error
                raise ConfigError(f"--config {path} is not valid YAML: {problem}{where}.") from None
            except RecursionError:  # YAML's parser and the count above recurse once per level
                raise ConfigError(f"--config {path} is not allowed: it nests lists or mappings too deeply.") from None
    return resolved


def config_text(path: Path) -> str:
    """A config file's text: UTF-8, as YAML and jsonargparse read it; anything else is one line naming the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"--config {path} is not UTF-8 text: byte 0x{data[error.start]:02x} at line {line} is not UTF-8. "
            "Save the file as UTF-8."
        ) from None


def with_run_config(argv: list[str], subcommand: str) -> list[str]:
    """A command without ``--config`` works on a run: its recorded config goes first (``layout.run_config``), the
    user's arguments after it. ``fit`` needs a config, except to resume (``--ckpt_path last``)."""
    if any(a in ("-c", "--config", "-h", "--help") or a.startswith("--config=") for a in argv):
        return argv
    from fizzlightning.runs import layout

    at = argv.index(subcommand) + 1
    args, fit = argv[at:], "fizzlightning fit --config lightning_configs/fizzbuzz.yaml"
    given = layout.split_option(args)[0]
    if subcommand == "fit" and given != "last":
        if any(a.startswith("--model") for a in args):  # a model on the command line
            return argv
        raise ConfigError(
            "fizzlightning fit needs a config: --config lightning_configs/fizzbuzz.yaml, or a shipped config by name "
            "(--config fizzbuzz; `fizzlightning configs` lists them)."
        )
    try:
        config, run, checkpoint = layout.run_config(subcommand, args, fit)
    except ConfigError:
        if given not in (None, "best", "last"):  # a path that is not a checkpoint says so first
            from fizzlightning.runs.checkpoints import load_checkpoint

            load_checkpoint(given)
        raise
    # The run found is the run used, in every process (sys.argv is what a DDP launcher starts the others with): the
    # checkpoint it resolved (not the one its config records), and for a resume its root and experiment
    pinned = ["--ckpt_path", checkpoint] if checkpoint and given in (None, "best", "last") else []
    if subcommand not in OWN and run.parent.parent.name == layout.LOG_ROOT.name:
        for option, value in (("--trainer.default_root_dir", run.parent.parent.parent), ("--experiment", run.parent)):
            if layout.split_option(args, option)[0] is None:
                pinned += [option, str(value) if option != "--experiment" else value.name]
    return [*argv[:at], "--config", str(config), *args, *pinned]


def _fail(message: str, code: int) -> NoReturn:
    print(f"fizzlightning: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``fizzlightning`` console script and of ``python -m fizzlightning``.

    Output into a pipe that closed early (``fizzlightning configs | head -1``) ends the command quietly, as the
    Python docs' note on SIGPIPE says: stdout goes to devnull, so that the interpreter's own flush at exit
    cannot fail too, and the exit status is 1.
    """
    argv = sys.argv[1:] if args is None else list(args)
    try:
        try:
            _command(argv, sys.argv if args is None else None)
        finally:  # also after SystemExit (--help): what is still buffered fails here, not at interpreter exit
            sys.stdout.flush()
            if args is None:  # the process's own command: the process ends next
                # The interpreter's last garbage collections would walk every object torch and Lightning made,
                # about 1 s at exit, to free memory the process is giving back anyway. Frozen, they are skipped;
                # whatever holds a file closes it in the command (every file is written whole, files.py).
                gc.freeze()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def _command(argv: list[str], process_argv: list[str] | None = None) -> None:
    """``process_argv``: ``sys.argv`` when the command is the process's own, rewritten to the run's resolved
    command (``with_run_config``) for the processes a launcher starts with it."""
    if argv[:1] in (["--version"], ["-V"]):
        print(version(verbose="--verbose" in argv or "-v" in argv))
        return
    subcommand = next((a for a in argv if a in (*SUBCOMMANDS, *OWN, "configs", "runs")), None)
    try:
        checks.check_text_arguments(argv)
        if any(arg.startswith("--print_completion") for arg in argv):  # SHELL or =SHELL, anywhere on the line
            from fizzlightning import extras

            extras.need("--print_completion")
            index = next(i for i, arg in enumerate(argv) if arg.startswith("--print_completion"))
            _, equals, shell = argv[index].partition("=")
            shell = shell if equals else argv[index + 1] if index + 1 < len(argv) else None
            print(completion.script(shell))
            return
        if subcommand is None:
            if "-h" in argv or "--help" in argv:
                print(completion.help_text(), end="")
                return
            raise ConfigError(completion.no_command(argv))
        if subcommand == "configs":
            print(configs(argv[argv.index("configs") + 1 :]))
            return
        if subcommand == "runs":
            from fizzlightning.commands import runs

            print(runs.main(argv[argv.index("runs") + 1 :]))
            return
        caught = None
        if subcommand == "fit" and slurm.JOB_VARIABLE in os.environ:
            # SLURM's requeue signal must not end a fit in a job: not while it finds its run (a resume reads the
            # runs' checkpoints), nor in the seconds of importing torch
            caught = slurm.RequeueSignal()
        try:
            if subcommand in (*SUBCOMMANDS, *OWN):
                pinned = with_run_config(argv, subcommand)
                if process_argv is not None:
                    process_argv[1:] = pinned
            resolved = resolve_configs(pinned if subcommand in (*SUBCOMMANDS, *OWN) else argv)
            if subcommand in OWN:  # serve and export: commands of their own, outside LightningCLI
                module = importlib.import_module(OWN[subcommand])
                from fizzlightning.commands.cli import fit_config  # how they read a config: as fit does

                module.main(resolved[resolved.index(subcommand) + 1 :], argv[argv.index(subcommand) + 1 :], fit_config)
                return
            _run_cli(resolved, argv, caught)
        finally:
            if caught is not None and process_argv is None:  # run inside another program: its handler again
                caught.release()
    except NothingToDo as done:
        print(f"fizzlightning: {done}", flush=True)
    except ConfigError as error:
        _fail(str(error), 2)
    except RunError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:  # Ctrl-C outside training, where RunCheckpoint is not listening
        _fail("interrupted.", 130)


def _run_cli(argv: list[str], typed: list[str], caught: slurm.RequeueSignal | None = None) -> None:
    """LightningCLI, with its errors turned into ``ConfigError``/``RunError`` lines (see ``failures``).
    ``caught``: SLURM's requeue signal, caught for a ``fit`` in a job."""
    import torch

    from fizzlightning.commands import failures
    from fizzlightning.commands.cli import FizzLightningCLI
    from fizzlightning.runs import layout, ranks

    ranks.forget_decisions()
    failures.quiet_lightning()
    if "OMP_NUM_THREADS" not in os.environ:
        # The lessons' networks are so small that splitting an op over CPU threads costs more than the op:
        # on a busy 2-core machine a FizzBuzz step took 10x longer with 2 threads than with 1.
        torch.set_num_threads(1)
    try:
        with failures.as_one_line(argv):
            FizzLightningCLI(args=argv, typed=typed, requeue_signal=caught)
    finally:
        layout.release()  # the run this command trained is free for the next
    if torch.distributed.is_initialized():
        # Lightning leaves the process group up; one torn down at interpreter exit instead sometimes aborted
        # a torchrun worker (SIGABRT, "terminate called without an active exception"), seen 1 run in 12.
        torch.distributed.destroy_process_group()
