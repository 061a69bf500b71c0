"""``fizzlightning --help``, the error for a missing command, and ``--print_completion``: all eight commands.

They come from a light argparse parser, never from LightningCLI's, which takes seconds to build (it walks every class a
config may name, W&B's settings included) and made a 1.2 MB completion script. The completion script (the
``completion`` extra, shtab) knows each command's top-level options: for LightningCLI's, ``--config``, ``--ckpt_path``,
``--trainer.NAME`` for each parameter of ``lightning.Trainer`` and the groups (their ``.init_args`` are left to
``--help``); for the others, their own parsers' options (``deploy/serve.py``, ``deploy/export.py``, configs, runs).
"""

import argparse
import importlib
import inspect

from fizzlightning.errors import ConfigError, OneLineParser

PROG = "fizzlightning"
COMMANDS = {
    "fit": "train a network from a config; --ckpt_path resumes a run",
    "validate": "score a run's checkpoint on the validation set",
    "test": "score the checkpoint fit chose on the test set, list its mistakes",
    "predict": "run a checkpoint on the predict set (FizzBuzz: play the game)",
    "serve": "serve a trained checkpoint at POST /predict (the serve extra)",
    "export": "write a run's network as model.onnx, model.pt2 or model.pt",
    "configs": "list the shipped configs; --copy DIR copies them out to edit",
    "runs": "list the runs and their scores, newest first; runs A B side by side",
}
LIGHTNING = ("fit", "validate", "test", "predict")  # LightningCLI's; the others are fizzlightning's own
OWN = {"serve": "fizzlightning.deploy.serve", "export": "fizzlightning.deploy.export"}
GROUPS = ("model", "data", "optimizer", "lr_scheduler")  # a class name, a config file or .init_args.NAME VALUE


def configs_parser() -> argparse.ArgumentParser:
    """``fizzlightning configs [--copy DIR]``: a mistake is one line, exit 2; ``--help`` its usage, exit 0."""
    about = COMMANDS["configs"]
    parser = OneLineParser(prog=f"{PROG} configs", description=f"{about[0].upper()}{about[1:]}.", allow_abbrev=False)
    parser.add_argument("--copy", metavar="DIR", help="a new directory to copy the shipped configs into")
    return parser


def runs_parser() -> argparse.ArgumentParser:
    """``fizzlightning runs [RUN ...] [--experiment NAME] [--root DIR] [--json]``."""
    parser = OneLineParser(
        prog=f"{PROG} runs",
        description="The runs under lightning_logs, newest first: when, seed, epochs, training seconds, the best "
        "validation, the last test, and the settings that differ. Name runs to put them side by side.",
        allow_abbrev=False,
    )
    parser.add_argument("run", nargs="*", help="runs to compare: a run's name, EXPERIMENT/RUN or its directory")
    parser.add_argument("-e", "--experiment", action="append", metavar="NAME", help="only this experiment's runs")
    parser.add_argument("--root", default=".", metavar="DIR", help="the folder holding lightning_logs (default: .)")
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    about = "also draw the listed runs' validation curves into FILE, a PNG (the plots extra)"
    parser.add_argument("--plot", metavar="FILE", help=about)
    return parser


def top_parser(
    own: dict[str, argparse.ArgumentParser] | None = None, shells: list[str] | None = None
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``fizzlightning`` parser with a subparser per command, and the subparsers: ``own`` gives a command
    the options of its own parser (``parents``), ``shells`` the choices of ``--print_completion``."""
    own = own or {}
    listing = "\n".join(f"  {name:<10}{about}" for name, about in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s [-h] [-V [-v]] [--print_completion SHELL] COMMAND ...",
        description="Train, test, play and serve the PyTorch lessons' networks: see README.md."
        f"\n\ncommands:\n{listing}\n\n`{PROG} COMMAND --help` lists the options of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the version (--verbose: its packages')")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --version: torch's, Lightning's, ...")
    about = "print the shell completion script: shtab-bash or shtab-zsh (the completion extra)"
    parser.add_argument("--print_completion", metavar="SHELL", choices=shells, help=about)
    # --help lists the commands in the description, one line each; shtab would leave out a suppressed subparsers
    # action, so the completion parser's (the one given shells) is not suppressed
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", help=None if shells else argparse.SUPPRESS)
    subparsers = {}
    for name, about in COMMANDS.items():
        parents = [own[name]] if name in own else []
        description = own[name].description if name in own else about
        subparsers[name] = commands.add_parser(
            name, help=about, description=description, parents=parents, add_help=not parents
        )
    return parser, subparsers


def help_text() -> str:
    """``fizzlightning --help``: the eight commands, a line each."""
    return top_parser()[0].format_help()


def no_command(argv: list[str]) -> str:
    """The one-line error for ``fizzlightning`` without a command (or with an unknown one)."""
    names = ", ".join(COMMANDS)
    given = f"{argv[0]!r} is not a command" if argv and not argv[0].startswith("-") else "expected a command"
    return f"{given}: {names}. `{PROG} --help` says what each does, `{PROG} COMMAND --help` lists its options."


def completion_parser() -> argparse.ArgumentParser:
    """``top_parser`` with each command's options, file and directory completion marked for shtab."""
    import lightning
    import shtab

    from fizzlightning.internals import parser_actions  # Lightning's import: only for the completion script

    own = {name: importlib.import_module(module).build_parser() for name, module in OWN.items()}
    own.update(configs=configs_parser(), runs=runs_parser())
    for action in (action for command in own.values() for action in parser_actions(command)):
        if {"--config", "--ckpt_path", "--plot"} & set(action.option_strings):
            action.complete = shtab.FILE
        elif {"--copy", "--root"} & set(action.option_strings):
            action.complete = shtab.DIRECTORY
    parser, subparsers = top_parser(own, shells())
    trainer = list(inspect.signature(lightning.Trainer.__init__).parameters)[1:]  # after self
    for name in LIGHTNING:
        sub = subparsers[name]
        sub.add_argument("-c", "--config", metavar="CONFIG").complete = shtab.FILE
        sub.add_argument("--ckpt_path", metavar="PATH").complete = shtab.FILE
        sub.add_argument("--print_config", nargs="?", const=True, metavar="FLAGS")
        for option in ("seed_everything", "experiment", *(f"trainer.{parameter}" for parameter in trainer), *GROUPS):
            sub.add_argument(f"--{option}")
    return parser


def shells() -> list[str]:
    import shtab

    return [f"shtab-{shell}" for shell in shtab.SUPPORTED_SHELLS]


def script(shell: str | None) -> str:
    """``fizzlightning --print_completion SHELL``: the completion script; a wrong SHELL is a ``ConfigError``."""
    import shtab

    if shell not in shells():
        given = f"= {shell!r} is not allowed" if shell else "needs a shell"
        raise ConfigError(f"--print_completion {given}: expected one of {', '.join(shells())}.")
    return shtab.complete(completion_parser(), shell=shell.removeprefix("shtab-"))
