"""Every Lightning logger writes into the run directory, and the summary says where to look: TensorBoard's events
in the run directory itself, any other logger a config names (several at once, too) in a folder of the run
(``csv/``, ``mlruns/``, ``wandb/``). A tracking server the user names (MLflow's ``tracking_uri``) is kept."""

import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from fizzlightning.runs.layout import local_root

TENSORBOARD = "lightning.pytorch.loggers.TensorBoardLogger"
# LightningCLI's default logger; CSVLogger, which requires a save_dir, inherits it when a config switches to it
DEFAULT = {"class_path": TENSORBOARD, "init_args": {"save_dir": "lightning_logs"}}


def place(logger_config: Any, run_dir: Path) -> Any:
    """``trainer.logger`` as configured (a class_path namespace, a list of them, True, False or None), with each
    logger's directory inside ``run_dir``."""
    if logger_config in (None, True):
        logger_config = {"class_path": TENSORBOARD, "init_args": {}}
    if isinstance(logger_config, list):
        return [place(one, run_dir) for one in logger_config]
    if logger_config is False or not hasattr(logger_config, "get"):
        return logger_config
    name = logger_config["class_path"].rsplit(".", 1)[-1]
    args = logger_config.get("init_args") or {}
    placed = _placement(name, args, run_dir)
    given = args.get("save_dir")
    if "save_dir" in placed and given is not None:
        local_root(given, "--trainer.logger.save_dir")  # a bucket's URL is refused, never made a local folder
        inside = Path(given).resolve().is_relative_to(run_dir.parent.parent.resolve())
        moved = _placed_elsewhere(args, placed, run_dir)
        if given not in (DEFAULT["init_args"]["save_dir"], placed["save_dir"]) and not inside and not moved:
            print(
                f"fizzlightning: {name} writes into the run directory {run_dir}, not {given}: every file of a "
                "run lives in one place (--trainer.default_root_dir moves all runs).",
                file=sys.stderr,
            )
    for key, value in placed.items():
        args[key] = value
    logger_config["init_args"] = args
    return logger_config


def _placed_elsewhere(args: Any, placed: dict[str, Any], run_dir: Path) -> bool:
    """Whether ``args`` are this run's own placement where the run was before it was copied or moved (``cp -r``):
    a run's recorded config (``fit-config.yaml``, which later commands replay) holds where its logs went then, the
    same folders under another root. That is no setting of the user's to warn about."""
    root = run_dir.parent.parent.parent
    tail = Path(placed["save_dir"]).relative_to(root).parts  # ("lightning_logs",) or ("lightning_logs", exp, run)
    names = {key: placed[key] for key in ("name", "version") if key in placed and placed[key] is not None}
    return Path(str(args.get("save_dir"))).parts[-len(tail) :] == tail and all(
        str(args.get(key)) == str(value) for key, value in names.items()
    )


def _placement(name: str, args: Any, run_dir: Path) -> dict[str, Any]:
    experiment, run = run_dir.parent, run_dir.name
    if name == "TensorBoardLogger":  # its events in the run directory itself, as TensorBoard's --logdir expects
        return {"save_dir": str(experiment.parent), "name": experiment.name, "version": run, "default_hp_metric": False}
    if name == "CSVLogger":  # csv/version_0/ for the first command, version_1/ for the next: none replaces another
        return {"save_dir": str(run_dir), "name": "csv", "version": None}
    if name == "MLFlowLogger":
        uri = args.get("tracking_uri")
        if uri and not str(uri).startswith("file:"):
            return {"run_name": run, "experiment_name": experiment.name}  # a server: nothing of it is in the run
        # MLflow 3 refuses a new file store unless asked: a folder of the run is what a local run wants
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return {"tracking_uri": f"file:{run_dir / 'mlruns'}", "experiment_name": experiment.name, "run_name": run}
    if name == "WandbLogger":
        return {"save_dir": str(run_dir), "name": run, "project": args.get("project") or experiment.name}
    return {"save_dir": str(run_dir)} if "save_dir" in args else {}


def where_to_look(loggers: list[Logger], run_dir: Path) -> list[str]:
    """Where to look at this run's metrics, one line per logger."""
    return [_where(logger, run_dir) for logger in loggers] or [
        "No logger: the metrics of this run were not saved (--trainer.logger false)."
    ]


def _where(logger: Logger, run_dir: Path) -> str:
    if isinstance(logger, TensorBoardLogger):
        return f"Dashboards: tensorboard --logdir {run_dir.parent.parent}"
    if isinstance(logger, CSVLogger):
        return f"Metrics as CSV: {Path(logger.log_dir) / 'metrics.csv'}"
    if isinstance(logger, MLFlowLogger):  # save_dir: the local store's folder, None for a server
        store = f"mlflow ui --backend-store-uri file:{logger.save_dir}" if logger.save_dir else None
        return f"MLflow: {store or logger.experiment.tracking_uri}"
    if isinstance(logger, WandbLogger):
        run = logger.experiment
        return f"W&B: wandb sync {Path(run.dir).parent}" if run.offline else f"W&B: {run.url}"
    return f"{type(logger).__name__}: {getattr(logger, 'log_dir', None) or getattr(logger, 'save_dir', '')}"
