"""DDP as users launch it: Lightning's own launcher with 2 and 3 CPU processes, and torchrun with two node ranks.

Every command must print what one process prints for the same checkpoint: each number scored once, every
mistake listed once, the game in order, and one run directory for all ranks.
"""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from fizzlightning.commands.main import main
from tests.helpers import (
    CONFIGS,
    DDP_CPU,
    FIZZBUZZ,
    assert_bit_identical,
    fit_in,
    fizzlightning,
    free_port,
    run_together,
    runs,
    state_dict,
    write,
)

CONFIG = "fizzbuzz.yaml"


def in_process(cwd: Path, *args: str, capsys) -> str:
    """The same command in this process, as one process: the reference output."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        main(list(args))
    return capsys.readouterr().out


def report(stdout: str) -> str:
    """What a command printed from its ``Checkpoint:`` line on: the score, the mistakes, or the game."""
    return stdout[stdout.index("Checkpoint:") :]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-epoch run: a quarter right, so the test report lists many mistakes."""
    directory = tmp_path_factory.mktemp("ddp")
    fit_in(directory, CONFIG, FIZZBUZZ)
    return directory


@pytest.mark.parametrize("devices", ["2", "3"])  # 3 does not divide 100
def test_test_and_predict_print_what_one_process_prints(trained, capsys, devices):
    expected = report(in_process(trained, "test", "--config", CONFIG, capsys=capsys))
    assert "Wrong answers" in expected  # the comparison covers the mistakes list
    got = fizzlightning(trained, "test", "--config", CONFIG, *DDP_CPU, "--trainer.devices", devices)
    assert report(got) == expected

    game = ["predict", "--config", CONFIG, "--data.init_args.predict_range", "[1, 31]"]
    expected = report(in_process(trained, *game, capsys=capsys))
    assert report(fizzlightning(trained, *game, *DDP_CPU, "--trainer.devices", devices)) == expected


def test_validate_under_ddp_scores_every_held_out_number_once(trained, capsys):
    def val_acc(stdout: str) -> float:
        return float(re.search(r"val/acc\W+([\d.]+)", stdout)[1])

    expected = val_acc(in_process(trained, "validate", "--config", CONFIG, capsys=capsys))
    got = val_acc(fizzlightning(trained, "validate", "--config", CONFIG, *DDP_CPU, "--trainer.devices", "3"))
    assert got == expected


def torchrun_two_nodes(cwd: Path, *args: str) -> list[str]:
    """``torchrun --nnodes 2 --nproc-per-node 1``, launched once per node rank as on two machines; their stdouts."""
    port = str(free_port())
    commands = []
    for node_rank in ("0", "1"):
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1"]
        command += ["--node-rank", node_rank, "--master-addr", "127.0.0.1", "--master-port", port]
        command += ["-m", "fizzlightning", *args, *DDP_CPU, "--trainer.num_nodes", "2", "--trainer.devices", "1"]
        commands.append((command, {}))
    # a node that fails leaves the other's agent waiting for it (torchrun's exit barrier): run_together stops both
    return run_together(cwd, commands)


def test_torchrun_on_two_node_ranks_makes_one_run_and_scores_like_one_process(tmp_path, capsys):
    # unseeded: the seed, like the run name, is rank 0's and reaches the other node through torchrun's store
    write(tmp_path, CONFIG, FIZZBUZZ.replace("seed_everything: 0", "seed_everything: false"))
    outputs = torchrun_two_nodes(tmp_path, "fit", "--config", CONFIG)
    assert sum(out.count("Trained ") for out in outputs) == 1  # rank 0 alone prints the summary
    (run,) = runs(tmp_path, CONFIG)  # one run directory for both nodes
    assert [p.name for p in run.glob("*.json")] == ["fit.json"]
    seed = json.loads((run / "fit.json").read_text())["seed"]
    assert seed == yaml.safe_load((run / "fit-config.yaml").read_text())["seed_everything"]
    assert type(seed) is int

    scored = torchrun_two_nodes(tmp_path, "test", "--config", CONFIG)
    (printed,) = [out for out in scored if "Checkpoint:" in out]
    assert report(printed) == report(in_process(tmp_path, "test", "--config", CONFIG, capsys=capsys))
    assert runs(tmp_path, CONFIG) == [run]  # the test scores joined the run instead of making another


def test_an_unseeded_ddp_fit_uses_rank_0s_seed_on_every_rank(tmp_path):
    # Lightning's own launcher: the ranks it starts must split and shuffle with the seed rank 0 drew. Then the
    # run equals a DDP run seeded with that seed outright; ranks with seeds of their own would not.
    write(tmp_path, CONFIG, FIZZBUZZ.replace("seed_everything: 0", "seed_everything: false"))
    ddp = [*DDP_CPU, "--trainer.devices", "2"]
    fizzlightning(tmp_path, "fit", "--config", CONFIG, *ddp)
    (unseeded,) = runs(tmp_path, CONFIG)
    seed = json.loads((unseeded / "fit.json").read_text())["seed"]
    fizzlightning(tmp_path, "fit", "--config", CONFIG, *ddp, "--seed_everything", str(seed))
    seeded = runs(tmp_path, CONFIG)[-1]
    assert seeded != unseeded
    assert_bit_identical(
        state_dict(unseeded / "checkpoints" / "last.ckpt"), state_dict(seeded / "checkpoints" / "last.ckpt")
    )


@pytest.mark.parametrize("config", ["curve.yaml", "regressor.yaml"])  # rows numbered, and rows beside their inputs
def test_predictions_csv_has_the_same_rows_for_any_number_of_processes(tmp_path, config):
    fizzlightning(tmp_path, "fit", "--config", str(CONFIGS / config), "--trainer.max_epochs", "1")

    def predictions(*args: str) -> str:
        out = fizzlightning(tmp_path, "predict", "--config", str(CONFIGS / config), *args)
        return Path(re.search(r"Written to (\S+)", out)[1]).read_text()

    def rows(text: str) -> list[list[str]]:
        return [line.split(",") for line in text.splitlines()]

    alone, split = rows(predictions()), rows(predictions(*DDP_CPU, "--trainer.devices", "3"))  # 3 divides neither
    assert [row[0] for row in split] == [row[0] for row in alone]  # the header, then each row's sample or x, in order
    # the outputs: the same up to float32 rounding (another batch size takes another path through the matmul)
    outputs = [[float(v) for row in table[1:] for v in row[1:]] for table in (split, alone)]
    assert outputs[0] == pytest.approx(outputs[1], rel=1e-5, abs=1e-6)
