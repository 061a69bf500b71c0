"""The same config and seed give bit-identical runs; another seed gives another initialisation and data order."""

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import FIZZBUZZ, runs, state_dict, write

SEEN: list[dict] = []  # what each run's Recorder saw, in order


class Recorder(L.Callback):
    """Keeps the initial weights and every epoch's first training batch of a run."""

    def on_train_start(self, trainer, pl_module) -> None:
        SEEN.append({"init": {k: v.clone() for k, v in pl_module.state_dict().items()}, "batches": []})

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            SEEN[-1]["batches"].append([t.clone() for t in batch])


def fit(cli, config: str, seed: int) -> dict:
    SEEN.clear()
    recorder = f"--trainer.callbacks+={__name__}.Recorder"
    assert cli("fit", "--config", config, "--seed_everything", str(seed), "--trainer.max_epochs", "3", recorder) == 0
    run = runs(Path.cwd(), config)[-1]
    events = EventAccumulator(str(run)).Reload()
    validation = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in ("val/acc", "val/loss")}
    return {**SEEN[0], "validation": validation, "weights": state_dict(run / "checkpoints" / "last.ckpt")}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_is_bit_identical_and_another_seed_is_not(cli, tmp_path):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    first, again, other = fit(cli, config, 7), fit(cli, config, 7), fit(cli, config, 8)

    assert len(first["validation"]["val/acc"]) == 3
    assert first["validation"] == again["validation"]  # exact floats, every epoch
    assert same(first["weights"], again["weights"])
    assert same(first["init"], again["init"])
    assert not torch.equal(first["batches"][0][0], first["batches"][1][0])  # a fresh order every epoch

    assert not same(first["init"], other["init"])
    for mine, theirs in zip(first["batches"], other["batches"]):  # every epoch's order differs
        assert not torch.equal(mine[0], theirs[0])
    assert not same(first["weights"], other["weights"])


def test_best_ckpt_holds_the_epoch_with_the_best_logged_val_acc(cli, tmp_path):
    # Read the per-epoch val/acc back from the run's TensorBoard events, as the dashboards show it.
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ.replace("max_epochs: 2", "max_epochs: 6"))
    assert cli("fit", "--config", config) == 0
    (run,) = runs(tmp_path, config)
    events = EventAccumulator(str(run))
    events.Reload()
    epoch_at = {event.step: int(event.value) for event in events.Scalars("epoch")}
    logged = {epoch_at[event.step]: event.value for event in events.Scalars("val/acc")}  # epoch -> val/acc
    step_of = {epoch_at[event.step]: event.step for event in events.Scalars("val/acc")}  # epoch -> logged step
    assert sorted(logged) == list(range(6))
    best_epoch = max(logged, key=lambda epoch: (logged[epoch], epoch))  # ties: the later epoch (RunCheckpoint)
    assert len(set(logged.values())) > 1  # the choice is not trivial
    best = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert best["epoch"] == best_epoch
    # Lightning logs epoch-end metrics at the index of the epoch's last step; the checkpoint counts steps done.
    assert best["global_step"] == step_of[best_epoch] + 1 == 5 * (best_epoch + 1)  # 5 steps of 32 per epoch
    # The checkpoint callback's own record inside best.ckpt agrees with the logged values.
    (state,) = [v for k, v in best["callbacks"].items() if k.startswith("RunCheckpoint")]
    assert state["monitor"] == "val/acc"
    assert float(state["best_model_score"]) == pytest.approx(logged[best_epoch])
    assert Path(state["best_model_path"]) == run / "checkpoints" / "best.ckpt"
    assert float(state["current_score"]) == pytest.approx(logged[best_epoch])  # saved when it was the new best
    assert json.loads((run / "fit.json").read_text())["best_score"] == pytest.approx(logged[best_epoch])
