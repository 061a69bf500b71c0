"""Lightning DDP on CPU: two processes (gloo), disjoint shards, reduced metrics, one run directory written by rank 0."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from fizzlightning.data import FizzBuzzDataModule
from fizzlightning.data.batches import TensorBatches
from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.nets import FizzBuzzMLP
from tests.helpers import CONFIGS, runs

CONFIG = CONFIGS / "fizzbuzz.yaml"


@pytest.mark.parametrize("n, world_size", [(12, 2), (13, 2), (13, 3)])
def test_rank_shards_are_disjoint_and_cover_the_epoch(n, world_size):
    samples = torch.arange(n)
    shards = []
    for rank in range(world_size):
        batches = TensorBatches(samples, batch_size=2, shuffle=True, seed=5, rank=rank, world_size=world_size)
        batches.set_epoch(3)
        shards.append(torch.cat([batch for (batch,) in batches]).tolist())
    assert len({len(shard) for shard in shards}) == 1  # every rank runs the same number of steps
    seen = [sample for shard in shards for sample in shard]
    assert sorted(set(seen)) == list(range(n))  # together they cover the epoch
    padding = len(seen) - n
    assert padding == math.ceil(n / world_size) * world_size - n  # only the padding is seen twice
    assert n - len(set(seen)) == 0 and len(seen) - len(set(seen)) == padding


def test_fit_with_two_cpu_processes_then_test_scores_it(cli, tmp_path, capsys):
    # The command from the issue, with fewer epochs: an imperfect validation score tells reduced metrics from rank 0's.
    script = Path(sys.executable).with_name("fizzlightning")
    command = [str(script), "fit", "--config", str(CONFIG), "--trainer.strategy", "ddp", "--trainer.devices", "2"]
    command += ["--trainer.accelerator", "cpu", "--trainer.max_epochs", "6"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in done.stderr  # a second process really trained
    assert done.stdout.count("Trained ") == 1  # only rank 0 prints the summary

    (run,) = runs(tmp_path, CONFIG.name)  # both ranks used one run directory, and only one was made
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    summary = json.loads((run / "fit.json").read_text())

    config = yaml.safe_load(CONFIG.read_text())
    data = FizzBuzzDataModule(**config["data"]["init_args"], seed=config["seed_everything"])
    data.setup("fit")
    per_rank = math.ceil(len(data.train_numbers) / 2)
    assert summary["global_step"] == summary["epochs"] * math.ceil(per_rank / data.batch_size)  # half the batches

    # The logged val/acc is that of the whole validation split, not of rank 0's half.
    model_args = config["model"]["init_args"]
    net = FizzBuzzMLP(data.num_digits, model_args["hidden"], activation=model_args.get("activation", "relu"))
    net.load_state_dict(torch.load(run / "model.pt", weights_only=True))  # exported from best.ckpt
    with torch.no_grad():
        predicted = net(fizzbuzz.binary_encode(data.val_numbers, data.num_digits)).argmax(dim=1)
    correct = int((predicted == fizzbuzz.fizzbuzz_labels(data.val_numbers)).sum())
    assert len(data.val_numbers) % 2 == 0  # no padding in the validation shards, so the comparison is exact
    assert correct == round(summary["best_score"] * len(data.val_numbers))

    capsys.readouterr()
    assert cli("test", "--config", str(CONFIG), "--trainer.accelerator", "cpu") == 0
    out = capsys.readouterr().out
    assert f"Checkpoint: {run / 'checkpoints' / 'best.ckpt'}" in out and "Score on 1..100: " in out
