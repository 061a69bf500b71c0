"""What ``fit`` prints when it finishes: short, plain, and saying what to run next.

``test`` and ``predict`` print what the model says of itself (``test_report``, ``format_predictions``).
"""

from pathlib import Path


def print_fit_summary(cli, chosen: Path | None, finished: bool, seconds: float) -> None:
    """``chosen``: the checkpoint test and predict will use; ``finished``: fit.json and model.pt were written."""
    trainer, config_args, checkpoint = cli.trainer, cli._config_args(), cli.checkpoint
    lines = [f"\nTrained {trainer.current_epoch} epochs ({trainer.global_step} steps) in {seconds:.1f} s."]
    if chosen is None:
        lines.append("No epoch finished, so no checkpoint was written.")
    elif checkpoint.best_model_path and checkpoint.best_model_score is not None:
        lines.append(f"Best {checkpoint.monitor} = {float(checkpoint.best_model_score):.4f}: {chosen}")
    else:
        lines.append(f"No validation ran, so the last epoch is the run's checkpoint: {chosen}")
    if checkpoint.signal_received is not None:
        lines.append(f"Interrupted. Resume with: fizzlightning fit {config_args} --ckpt_path last")
    elif finished:
        lines.append(f"Weights for plain torch: {cli.run_dir / 'model.pt'}")
        lines.append(f"Dashboards: tensorboard --logdir {cli.run_dir.parent.parent}")
        lines.append(f"Next: fizzlightning test {config_args}")
    print("\n".join(lines), flush=True)
