"""What the commands print when they finish: short, plain, and saying what to run next."""

from pathlib import Path


def print_fit_summary(cli, best: Path | None, seconds: float) -> None:
    trainer, config_args = cli.trainer, cli._config_args()
    score = cli.checkpoint.best_model_score
    lines = [f"\nTrained {trainer.current_epoch} epochs ({trainer.global_step} steps) in {seconds:.1f} s."]
    if best is not None and score is not None:
        lines.append(f"Best {cli.checkpoint.monitor} = {float(score):.4f}: {best}")
    if cli.checkpoint.signal_received is not None:
        lines.append(f"Interrupted. Resume with: fizzlightning fit {config_args} --ckpt_path last")
    else:
        lines.append(f"Weights for plain torch: {cli.run_dir / 'model.pt'}")
        lines.append(f"Dashboards: tensorboard --logdir {cli.run_dir.parent.parent}")
        lines.append(f"Next: fizzlightning test {config_args}")
    print("\n".join(lines), flush=True)
