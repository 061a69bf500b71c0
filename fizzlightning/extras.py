"""Optional features are pip extras of the package; a missing one is one line that names the extra, exit 2.

Checked before anything is built, from the class names a config uses and the commands a user runs.
"""

import importlib.util
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


def check_config(config: Any) -> None:
    """Every class in ``config`` (loggers, callbacks, anywhere) whose package is an extra must have it installed."""
    pairs = (
        config.items() if hasattr(config, "items") else enumerate(config) if isinstance(config, list | tuple) else ()
    )
    for key, value in pairs:
        if str(key).rsplit(".", 1)[-1] == "class_path" and isinstance(value, str):
            if (name := value.rsplit(".", 1)[-1]) in NEEDS:
                need(name)
        else:
            check_config(value)
