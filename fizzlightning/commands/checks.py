"""Config mistakes found in what the user typed, and the one line a parse error becomes."""

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fizzlightning.errors import ConfigError, require

MAX_CONFIG_BYTES = 2**20  # the shipped configs are under 2 KB; YAML is parsed at about 1 MB a second


def check_config_file(path: Path) -> None:
    """``--config`` names a regular file of at most ``MAX_CONFIG_BYTES`` (not a directory, a device, a pipe)."""
    if not path.is_file():
        what = "it is a directory" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
        raise ConfigError(f"--config = {str(path)!r} is not allowed: expected an existing YAML file ({what}).")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"--config = {str(path)!r} is not allowed: it is {size / 2**20:.1f} MiB, and a config is at most "
            f"{MAX_CONFIG_BYTES // 2**20} MiB (a few KB of settings). Is it the right file?"
        )


MAX_VALUES = 100_000  # a config holds tens of values; jsonargparse copies every one of them, aliases expanded


def check_config_values(path: Path, config: Any) -> None:
    """A config's YAML, once its aliases are expanded as jsonargparse expands them, holds at most ``MAX_VALUES``
    values and does not contain itself: nine lines of nested aliases can stand for a billion values (an "alias
    bomb"), which would fill the memory before any message. Counted without expanding: each object once."""
    sizes: dict[int, int] = {}

    def count(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise ConfigError(f"--config {path} is not allowed: an alias in it refers to itself.")
            return sizes[id(node)]
        sizes[id(node)] = -1
        items = [value for pair in node.items() for value in pair] if isinstance(node, dict) else node
        sizes[id(node)] = 1 + sum(count(item) for item in items)
        return sizes[id(node)]

    total = count(config)
    if total > MAX_VALUES:
        raise ConfigError(
            f"--config {path} is not allowed: with its aliases expanded it holds {total:,} values (at most "
            f"{MAX_VALUES:,}). Write the values out, or use fewer nested aliases."
        )


SURROGATE = re.compile("[\ud800-\udfff]")  # what Python makes of bytes that are not UTF-8 (PEP 383)


def check_text_arguments(argv: list[str]) -> None:
    """Every argument is text: the system hands Python bytes that are not UTF-8 as surrogates (``b"caf\\xe9"`` as
    ``"caf\\udce9"``), which no config, file name or log can hold. The option they were given to is named."""
    for index, arg in enumerate(argv):
        if not SURROGATE.search(arg):
            continue
        key, equals, value = arg.partition("=")
        if not (equals and key.startswith("-")):
            key, value = (argv[index - 1] if index and argv[index - 1].startswith("-") else "an argument"), arg
        if SURROGATE.search(key) or (arg.startswith("-") and not equals):  # the bytes are in an option's name
            key, value = "an option's name", arg
        shown = value.encode("utf-8", "surrogateescape")
        bad = next(byte for byte in shown if byte > 0x7F)  # a surrogate escapes to a byte of 0x80 or more
        raise ConfigError(
            f"{key} = {shown!r} is not allowed: expected UTF-8 text (byte 0x{bad:02x} is not UTF-8 here). Type the "
            "value in a UTF-8 terminal, or set it in a UTF-8 config file."
        ) from None


def check_learning_rate(optimizer: Any) -> None:
    """The config's optimizer (``class_path``, ``init_args``), if any, has a finite learning rate > 0."""
    if optimizer is not None and "lr" in optimizer.init_args:
        lr = optimizer.init_args.lr
        ok = isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0
        require(ok, "optimizer.init_args.lr", lr, "a finite learning rate > 0")


def check_top_level_optimizer(argv: list[str], config_files: list[str]) -> None:
    """No ``model.init_args.optimizer`` or ``lr_scheduler``, as Lightning's docs write dependency injection: the CLI
    links the top-level ``optimizer``/``lr_scheduler`` into those arguments, and would replace them without a word."""
    import yaml

    models = [(yaml.safe_load(Path(path).read_text()) or {}).get("model") for path in config_files]
    for key in ("optimizer", "lr_scheduler"):
        typed = any(re.match(rf"--model\.(init_args\.)?{key}([.=]|$)", arg) for arg in argv)
        written = any(isinstance(m, dict) and key in (m.get("init_args") or {}) for m in models)
        if typed or written:
            raise ConfigError(
                f"model.init_args.{key} is not allowed: the {key} is set at the top level (`{key}:` in a config, "
                f"--{key} NAME --{key}.ARG VALUE on the command line), and the CLI hands it to the model."
            )


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def config_error_in(error: BaseException) -> ConfigError | None:
    """The ``ConfigError`` behind ``error``: jsonargparse wraps what a class's ``__init__`` raises in its own errors."""
    return next((link for link in _chain(error) if isinstance(link, ConfigError)), None)


def _union_detail(text: str) -> str:
    """The complaint of the union member the value was meant for: jsonargparse tries each member in turn and the
    innermost error is the first one's (``bool`` of ``bool | int``), which says nothing about the value."""
    complaints = re.findall(r"^\s*- (.+)$", text, flags=re.MULTILINE)
    value = re.search(r"^Given value: (.*)$", text, flags=re.MULTILINE)
    kept = [c for c in complaints if "'NoneType'>" not in c] or complaints
    specific = [c for c in kept if c != "Expected a <class 'bool'>"] or kept
    detail = "; or ".join(specific)
    detail = re.sub(
        r"Not of type \w+: does not conform to restriction v>=(-?\d+) and v<=(-?\d+)",
        r"expected an integer from \1 to \2",
        detail,
    )
    detail = re.sub(r"Not of type \w+: invalid literal for int\(\).*", "expected int", detail)
    if len(specific) < len(kept):
        detail += " (or true/false)"
    return f"{detail}. Got value: {value[1] if value else '?'}"


def argument_message(error: BaseException, command: str) -> str:
    """One paragraph from jsonargparse's nested parse error: the setting's dotted name, then the innermost complaint.

    jsonargparse nests one error per level (``Parser key "data"`` -> the class it tried -> ``Parser key
    "num_digits"`` -> ``Expected a <class 'int'>``) and adds usage and the union's type list around it.
    """
    keys: list[str] = []
    class_path = None
    for link in _chain(error):
        text = str(link)
        key = re.match(r'Parser key "([^"]+)"', text)
        if key and key[1] not in keys:
            keys.append(key[1])
        class_path = class_path or re.search(r"given class_path '([\w.]+)'", text)
        innermost = text
    # the innermost error is one member's of a union (bool of bool | int): the union's own list says more
    unions = [str(link) for link in _chain(error) if str(link).startswith("Does not validate against any of the Union")]
    member = unions and re.match(r"Expected a <class '(bool|NoneType)'>", innermost)
    detail = re.sub(r"^Parser key \"[^\"]+\":\s*", "", _union_detail(unions[-1]) if member else innermost)
    detail = re.sub(r"Expected an? <class '([\w.]+)'>", r"expected \1", detail)
    detail = re.sub(r"expected float\. Got value: (-?(nan|inf))", r"expected a finite number. Got value: \1", detail)
    detail = " ".join(detail.replace('"<unicode string>", ', "").split())  # one paragraph
    message = f"{'.'.join(keys)}: {detail}" if keys else detail
    if class_path and "not accepted" in detail:
        group = keys[0] if keys else "model"
        message += f" (`{command} --{group}.help {class_path[1]}` lists the accepted options)"
    return f"{message.rstrip('.')}. See `{command} --help`."


def trainer_message(error: BaseException, settings: dict[str, Any]) -> str:
    """One line for Lightning's refusal of the Trainer's settings (its ``MisconfigurationException``), naming them.

    Lightning's messages name the argument (```max_epochs` must be ...``, ``Trainer(devices='0')``) or only its
    value (``No supported gpu backend found!``, ``Timer(duration='1:2')``): the settings named are those whose name
    the message holds, else those whose value it quotes, else those whose value it holds.
    """
    text = " ".join(str(error).split())
    named = [key for key in settings if re.search(rf"[`(]{re.escape(key)}[`=]", text)]
    if not named:
        named = [key for key in settings if re.search(rf"\b{re.escape(key)}\b", text)]
    # a value quoted or given (``Timer(duration='1:2')``: max_time's), else standing alone (``gpu backend``)
    # (as typed, or as repr shows it: Lightning quotes a value with !r)
    values = {
        key: "|".join(re.escape(form) for form in {str(v), repr(v)[1:-1] if isinstance(v, str) else str(v)})
        for key, v in settings.items()
        if isinstance(v, (str, int)) and v is not True and str(v)
    }
    for pattern in (r"""(?<=['"=])(?:{})(?=['")])""", r"(?<![\w.])(?:{})(?![\w.])"):
        named = named or [key for key, value in values.items() if re.search(pattern.format(value), text)]
    where = ", ".join(f"trainer.{key} = {settings[key]!r}" for key in named) or "trainer"
    hint = ""
    if "accelerator" in named and settings["accelerator"] not in ("cpu", "auto"):
        import torch

        if not torch.cuda.is_available():
            hint = " This machine has no GPU that torch can use: --trainer.accelerator cpu (or auto)."
    return f"{where} is not allowed: {text.rstrip('.!')}.{hint}"
