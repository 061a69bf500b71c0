"""What the commands print when they finish: short, plain, and saying what to run next."""

from pathlib import Path

import torch

from fizzlightning import fizzbuzz


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


def print_test_summary(model, metrics: dict[str, torch.Tensor], ckpt_path: str | None) -> None:
    print(f"\nCheckpoint: {ckpt_path}")
    if "test/acc" not in metrics:
        print(
            "\n".join(
                f"{key} = {float(value):.6g}" for key, value in sorted(metrics.items()) if key.startswith("test/")
            )
        )
        return
    accuracy, correct = float(metrics["test/acc"]), model.test_total - len(model.test_mistakes)
    print(f"Score on 1..100: {correct}/{model.test_total}  (torchmetrics accuracy {accuracy:.4f})")
    if model.test_mistakes:
        print("Wrong answers (number: predicted, truth):")
        for number, predicted, truth in model.test_mistakes:
            print(f"  {number:>3}: {fizzbuzz.decode(number, predicted):<8}  {fizzbuzz.decode(number, truth)}")
    else:
        print("No mistakes: a perfect game.")


def print_game(predictions: list, ckpt_path: str | None) -> None:
    print(f"\nCheckpoint: {ckpt_path}")
    if predictions and isinstance(predictions[0], list):
        words = [word for batch in predictions for word in batch]
        print("\n".join(" ".join(words[i : i + 10]) for i in range(0, len(words), 10)))
    else:
        outputs = torch.cat(predictions)
        print(f"Predictions: tensor of shape {tuple(outputs.shape)}\n{outputs}")
