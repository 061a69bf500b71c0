"""What ``fit`` does when training ends: the run's files for other programs, ``fit.json``, the summary it prints.

Plain functions of plain values; the CLI gathers the values from the trainer and its ``RunCheckpoint``.
"""

import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn

from fizzlightning.deploy import export
from fizzlightning.errors import WriteError
from fizzlightning.files import atomic_write
from fizzlightning.runs import layout


@dataclass(frozen=True)
class FitOutcome:
    epochs: int  # finished: a stop inside an epoch (max_steps) counts its steps, not that epoch
    global_step: int
    seconds: float  # the run's training, from the start of trainer.fit to its end, summed over its resumes
    best_checkpoint: Path | None  # best.ckpt, or last.ckpt when no validation ran; None if no epoch finished
    monitor: str | None  # the metric best.ckpt was chosen on; None when no validation ran
    best_score: float | None
    seed: int
    stopped_by: int | None  # the signal that stopped the run, if one did
    smoke_test: int = 0  # --trainer.fast_dev_run: the batches of each loop it tried the code on, nothing of it kept
    resumed_step: int = 0  # the step training started from (a resumed checkpoint's): a smoke test's count from it

    @property
    def finished(self) -> bool:
        """The run ended by its own rules, with a checkpoint to use: ``fit.json`` and the exports are written."""
        return self.stopped_by is None and self.best_checkpoint is not None and not self.smoke_test


def outcome(trainer, checkpoint, seed: int) -> FitOutcome:
    """The values a ``fit`` leaves, read off the trainer and its ``RunCheckpoint``."""
    chosen = checkpoint.best_model_path or checkpoint.last_model_path  # no validation: the last epoch
    score = checkpoint.best_model_score if checkpoint.best_model_path else None
    return FitOutcome(
        epochs=trainer.current_epoch - checkpoint.stopped_inside_epoch,  # the epochs it finished
        global_step=trainer.global_step,
        seconds=checkpoint.trained_seconds(),
        best_checkpoint=Path(chosen) if chosen else None,
        monitor=checkpoint.monitor if checkpoint.best_model_path else None,
        best_score=None if score is None else float(score),
        seed=seed,
        stopped_by=checkpoint.stopped_by,
        smoke_test=int(trainer.fast_dev_run),
        # a fit Lightning skipped (a resume already past max_steps: a smoke test's) started at the step it ends at
        resumed_step=trainer.global_step if checkpoint.start_step is None else checkpoint.start_step,
    )


def write_run_files(outcome: FitOutcome, run_dir: Path, model: nn.Module) -> None:
    """``model.pt`` (the network's state_dict) and ``model.pt2`` (``export.export_net(model)``, checked) from the chosen
    checkpoint's weights, then ``fit.json``: the last file written, so that a run with one has everything.

    A network ``torch.export`` cannot take is said in one line and left out: the run's checkpoints and
    ``fit.json`` matter more than the program, and ``fizzlightning export`` can try again.
    """
    export.export_state_dict(model.net, run_dir / export.FILES["pt"])
    try:
        export.export_program(*export.export_net(model), run_dir / export.FILES["pt2"])
    except WriteError:
        raise
    except Exception as error:  # torch.export refuses some code; a model may not say what to export
        print(
            f"fizzlightning: {export.FILES['pt2']} was not written: {export.refusal(error)}",
            file=sys.stderr,
            flush=True,
        )
    record = {**asdict(outcome), "best_checkpoint": str(outcome.best_checkpoint), "seconds": round(outcome.seconds, 3)}
    del record["stopped_by"], record["smoke_test"], record["resumed_step"]
    record |= layout.finish_record(run_dir)
    atomic_write(run_dir / layout.FINISHED, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))


# what a smoke test does not write: a command's saved config and logs, and what only fit or predict write
SMOKE_TEST_KEEPS_NO = {
    "fit": "run directory, checkpoint, log or saved config",
    "predict": "predictions.csv or saved config",
}


def smoke_test_line(command: str, batches: int, trained: bool = True) -> str:
    """What a command run with ``--trainer.fast_dev_run`` (Lightning's smoke test: ``batches`` of each loop, no logger,
    no checkpoint) says at its end: that it ran, and that it kept nothing. ``trained``: whether a ``fit`` trained a
    step; one that resumed a checkpoint already past ``batches`` steps trains none (Lightning's ``max_steps``)."""
    ran = f"ran {int(batches)} batch{'es' * (int(batches) != 1)}{' of each loop' * (command == 'fit')}"
    if not trained:
        steps = f"{int(batches)} training step{'s' * (int(batches) != 1)}"
        ran = f"loaded a checkpoint already past the {steps} it runs (Lightning's max_steps), so it trained nothing,"
    unwritten = SMOKE_TEST_KEEPS_NO.get(command, "log or saved config")
    return (
        f"--trainer.fast_dev_run: a smoke test of {command} {ran} and kept nothing (no {unwritten} written), "
        "so later commands see the runs as they were."
    )


def summary(outcome: FitOutcome, run_dir: Path, config_args: str, dashboards: list[str]) -> str:
    """What ``fit`` prints at the end: short, plain, and saying what to run next."""
    if outcome.smoke_test:  # what it trained is not a run's: its epochs and steps say nothing
        return f"\n{smoke_test_line('fit', outcome.smoke_test, outcome.global_step > outcome.resumed_step)}"
    lines = [f"\nTrained {outcome.epochs} epochs ({outcome.global_step} steps) in {outcome.seconds:.1f} s."]
    if outcome.best_checkpoint is None:
        lines.append("No epoch finished, so no checkpoint was written.")
    elif outcome.monitor is not None and outcome.best_score is not None:
        lines.append(f"Best {outcome.monitor} = {outcome.best_score:.4f}: {outcome.best_checkpoint}")
    else:
        lines.append(f"No validation ran, so the last epoch is the run's checkpoint: {outcome.best_checkpoint}")
    if outcome.stopped_by is not None:
        lines.append(f"Interrupted. Resume with: {layout.resume_command(config_args)}")
    elif outcome.finished:
        lines.append(
            f"Exported network: {run_dir / export.FILES['pt2']} (torch.export), {export.FILES['pt']} (state_dict)"
        )
        lines.extend(dashboards)
        root = run_dir.parent.parent.parent  # <root>/lightning_logs/<experiment>/<run>: test finds it there
        if any(run != run_dir for run in layout.finished_runs(root)):  # another may finish first: name this one
            where = f" --ckpt_path {shlex.quote(str(outcome.best_checkpoint))}"
        else:
            where = "" if root == Path.cwd() else f" --trainer.default_root_dir {shlex.quote(str(root))}"
        lines.append(f"Next: fizzlightning test{where}")
    return "\n".join(lines)
