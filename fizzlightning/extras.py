"""Optional features are pip extras of the package; a missing one is one line that names the extra, exit 2.

Checked before anything is built, from the class names a config uses and the commands a user runs.
"""

import importlib.util
from collections.abc import Iterator
from typing import Any

from fizzlightning.errors import MissingExtra

# what needs it -> (the module it imports, the extra that installs it)
NEEDS = {
    "MLFlowLogger": ("mlflow", "mlflow"),
    "WandbLogger": ("wandb", "wandb"),
    "RichProgressBar": ("rich", "rich"),
    "RichModelSummary": ("rich", "rich"),
    "serve": ("litserve", "serve"),
    "export --format onnx": ("onnxruntime", "onnx"),
    "--print_completion": ("shtab", "completion"),
    "runs --plot": ("matplotlib", "plots"),
    "benchmarks/search.py": ("optuna", "search"),
    "benchmarks/small_data.py --search": ("optuna", "search"),
    "benchmarks/serve.py": ("httpx", "serve"),
}


def need(what: str) -> None:
    """Raise ``MissingExtra`` unless the package that ``what`` (a key of ``NEEDS``) needs is importable."""
    module, extra = NEEDS[what]
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{what} needs {module}, which is not installed: pip install 'fizzlightning[{extra}]'")


def _class_names(config: Any) -> Iterator[str]:
    if isinstance(config, dict) or hasattr(config, "items"):
        for key, value in config.items():
            if str(key).rsplit(".", 1)[-1] == "class_path" and isinstance(value, str):
                yield value.rsplit(".", 1)[-1]
            else:
                yield from _class_names(value)
    elif isinstance(config, (list, tuple)):
        for item in config:
            yield from _class_names(item)


def check_config(config: Any) -> None:
    """Every class in ``config`` (loggers, callbacks, anywhere) whose package is an extra must have it installed."""
    for name in _class_names(config):
        if name in NEEDS:
            need(name)
