"""Seed 003 §2.4: the x**2 net trained with SGD, Momentum, RMSprop and Adam, the four loss curves on one chart.

    python scripts/compare_optimizers.py [--epochs N] [--root DIR] [--figure PNG]

Runs the real CLI four times in this process,

    fizzlightning fit --config lightning_configs/optimizers.yaml --config lightning_configs/optimizers/curve_NAME.yaml

so that DIR/lightning_logs/curve_{sgd,momentum,rmsprop,adam}/ hold four TensorBoard runs whose
``train/loss_step`` curves overlay on one chart (``tensorboard --logdir DIR/lightning_logs``). It then reads
those per-step losses back from the event files, prints the ranking and draws the seed's figure: four
loss-per-step curves, one legend, y limited to [0, 0.2], by default to docs/optimizers.png. The figure
needs matplotlib, the optional ``plots`` extra (``pip install -e '.[plots]'``); without it the runs and
the ranking still happen.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fizzlightning.commands.main import main as fizzlightning
from fizzlightning.runs import layout

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "lightning_configs"
OPTIMIZERS = {"sgd": "SGD", "momentum": "Momentum", "rmsprop": "RMSprop", "adam": "Adam"}  # config -> seed's label


def fit(name: str, root: Path, epochs: int | None) -> Path:
    """Train the curve net with optimizer ``name``; return its run directory."""
    configs = [CONFIGS / "optimizers.yaml", CONFIGS / f"optimizers/curve_{name}.yaml"]
    args = ["fit", *(arg for config in configs for arg in ("--config", str(config)))]
    # the four runs' summaries say enough; four progress bars would bury them
    args += ["--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false"]
    if epochs is not None:
        args += ["--trainer.max_epochs", str(epochs)]
    fizzlightning(args)
    return layout.newest_finished_run(root / layout.LOG_ROOT / f"curve_{name}")


def scalars(run: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars(tag)]


def plot(step_losses: dict[str, list[float]], figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, losses in step_losses.items():
        ax.plot(losses, label=label)
    ax.legend(loc="best")
    ax.set_xlabel("Steps")
    ax.set_ylabel("Loss")
    ax.set_ylim((0, 0.2))  # as the seed
    ax.set_title("y = x² + 0.1·N(0, 1), net 1→20→1, batch 32")
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, help="override the config's 12 epochs (e.g. 1 for a smoke test)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="where lightning_logs/ goes (default: here)")
    parser.add_argument(
        "--figure", type=Path, default=REPO / "docs/optimizers.png", help="the PNG to write (default: the README's)"
    )
    args = parser.parse_args(argv)
    can_plot = importlib.util.find_spec("matplotlib") is not None
    if not can_plot:
        print(
            "compare_optimizers: matplotlib is not installed, so no figure will be drawn; the four runs and "
            "the ranking still happen. For the figure: pip install -e '.[plots]'",
            file=sys.stderr,
        )

    step_losses, final, last_epoch = {}, {}, {}
    for name, label in OPTIMIZERS.items():
        run = fit(name, args.root, args.epochs)
        step_losses[label] = scalars(run, "train/loss_step")
        val_losses = scalars(run, "val/loss")  # one per epoch, on all points
        final[label] = val_losses[-1]
        steps = step_losses[label][-len(step_losses[label]) // len(val_losses) :]
        last_epoch[label] = sum(steps) / len(steps)

    print("\nMSE on all points after the last epoch (the noise variance, 0.01, is the floor), best first:")
    for rank, label in enumerate(sorted(final, key=final.get), 1):
        print(f"  {rank}. {label:<9} {final[label]:.4f}   (last epoch's mean training loss {last_epoch[label]:.4f})")
    print(f"Dashboards: tensorboard --logdir {args.root / layout.LOG_ROOT}  (the four curve_* runs overlay)")
    if can_plot:
        plot(step_losses, args.figure)
        print(f"Figure: {args.figure}")


if __name__ == "__main__":
    main()
