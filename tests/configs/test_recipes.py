"""The seeds' recipes through the real CLI: the regressor ladder to its loss bounds, the optimizer comparison;
and the 10-bit config against the study that chose it.

(That every config, the FizzBuzz seed recipes included, fits a few steps and then runs every other command is
tests/commands/matrix.py's job.)
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fizzlightning import FizzBuzzDataModule
from tests.helpers import CONFIGS, runs

SCRIPTS = CONFIGS.parent / "scripts"


def step_losses(run: Path) -> list[float]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars("train/loss_step")]


# config -> (bound on the first step's loss, as in the seed's printout, and on the loss after 500 steps)
REGRESSOR_RECIPES = {
    "regressor": ((1e7, 1e8), 1e-3),  # seed: 29228837 -> below 1e-3
    "regressor_nn_bias": ((1e7, 1e8), 1e-3),  # seed: 35238972 -> below 1e-4
    "regressor_adam": ((100, 5000), 1e-3),  # seed: 677 -> below 1e-3
    "regressor_manual": ((1e7, 1e8), 1e-3),  # seed: 29228837 -> below 1e-3
}


@pytest.mark.slow
@pytest.mark.parametrize("config", REGRESSOR_RECIPES)
def test_regressor_recipe_reaches_the_seeds_loss_in_500_steps(cli, tmp_path, config):
    (first_low, first_high), final_bound = REGRESSOR_RECIPES[config]
    assert cli("fit", "--config", str(CONFIGS / f"{config}.yaml")) == 0
    (run,) = runs(tmp_path, config)
    fit = json.loads((run / "fit.json").read_text())
    assert fit["global_step"] == 500
    losses = step_losses(run)
    assert len(losses) == 500
    assert first_low < losses[0] < first_high
    # best_score is val/loss: the loss on the training tensors after the last step, the seeds' "final loss"
    assert fit["best_score"] < final_bound


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_optimizers_writes_four_overlaid_runs_and_the_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    figure = tmp_path / "optimizers.png"
    load_script("compare_optimizers").main(["--epochs", "1", "--root", str(tmp_path), "--figure", str(figure)])
    for name in ("sgd", "momentum", "rmsprop", "adam"):
        (run,) = runs(tmp_path, f"curve_{name}")
        assert len(step_losses(run)) == 32  # one epoch of 1000 points in batches of 32, every step on the chart
    ranking = capsys.readouterr().out.split("best first:")[1]
    assert all(label in ranking for label in ("SGD", "Momentum", "RMSprop", "Adam"))
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib (the optional 'plots' extra) is not installed: the runs are checked, not the figure")
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_the_10bit_config_is_the_recipe_the_small_data_study_chose():
    sys.path.insert(0, str(CONFIGS.parent / "benchmarks"))
    from small_data import CHOSEN, Recipe

    config = yaml.safe_load((CONFIGS / "fizzbuzz_10bit.yaml").read_text())
    model, data, optimizer = (config[key]["init_args"] for key in ("model", "data", "optimizer"))
    assert config["optimizer"]["class_path"] == "torch.optim.AdamW" and CHOSEN.optimizer == "adamw"
    assert (tuple(model["hidden"]), model["activation"]) == (CHOSEN.hidden, CHOSEN.activation)
    assert (data["num_digits"], data["batch_size"]) == (10, CHOSEN.batch)
    assert data.get("val_fraction", FizzBuzzDataModule().val_fraction) == CHOSEN.val_fraction
    assert (optimizer["lr"], optimizer["weight_decay"]) == (CHOSEN.lr, CHOSEN.decay)
    assert config["trainer"]["max_epochs"] == CHOSEN.cap and "callbacks" not in config["trainer"]  # no early stop
    assert (CHOSEN.schedule, CHOSEN.ema, CHOSEN.dropout, CHOSEN.smoothing) == (Recipe.schedule, 0.0, 0.0, 0.0)
    assert CHOSEN.shuffle and "lr_scheduler" not in config


@pytest.mark.parametrize(("config_name", "candidate"), [("fizzbuzz_sin", "sin-fixed-30"), ("fizzbuzz", "searched")])
def test_a_sin_config_is_the_candidate_its_study_chose(config_name, candidate):
    sys.path.insert(0, str(CONFIGS.parent / "benchmarks"))
    from small_data import Recipe
    from stop_signal import CANDIDATES, FRESH_RECIPES, SPLITS

    recipe_name, split, rule = CANDIDATES[candidate]
    recipe = FRESH_RECIPES[recipe_name]
    config = yaml.safe_load((CONFIGS / f"{config_name}.yaml").read_text())
    default = yaml.safe_load((CONFIGS / "fizzbuzz_relu.yaml").read_text())
    model, data, optimizer = (config[key]["init_args"] for key in ("model", "data", "optimizer"))
    assert config["optimizer"]["class_path"] == "torch.optim.AdamW" and recipe.optimizer == "adamw"
    assert (tuple(model["hidden"]), model["activation"]) == (recipe.hidden, recipe.activation)
    assert (data["num_digits"], data["batch_size"]) == (12, recipe.batch)
    assert data.get("val_fraction", FizzBuzzDataModule().val_fraction) == recipe.val_fraction and SPLITS[split] == 0
    assert (optimizer["lr"], optimizer["weight_decay"]) == (recipe.lr, recipe.decay)
    assert rule.startswith(f"fixed {config['trainer']['max_epochs']} epochs") and "callbacks" not in config["trainer"]
    assert config["trainer"]["max_epochs"] == recipe.cap or candidate != "searched"  # the search's budget is its cap
    assert (recipe.schedule, recipe.ema, recipe.dropout, recipe.smoothing) == (Recipe.schedule, 0.0, 0.0, 0.0)
    # otherwise the ReLU config: the same data, optimizer class and weight decay
    assert (
        data == default["data"]["init_args"]
        and optimizer["weight_decay"] == default["optimizer"]["init_args"]["weight_decay"]
    )


def test_the_default_config_passed_the_12bit_search_on_every_search_seed():
    """The stored study (benchmarks/small_data.db) holds the default's recipe as a trial that played the probe right
    on each of its 8 search seeds, at its budget's best validation epoch."""
    sys.path.insert(0, str(CONFIGS.parent / "benchmarks"))
    optuna = pytest.importorskip("optuna")
    from small_data import UNMET, WIDE_SEARCH_SEEDS
    from stop_signal import SEARCHED

    study = optuna.load_study(
        study_name="small-data-12bit", storage=f"sqlite:///{CONFIGS.parent / 'benchmarks' / 'small_data.db'}"
    )
    config = yaml.safe_load((CONFIGS / "fizzbuzz.yaml").read_text())
    model, optimizer = config["model"]["init_args"], config["optimizer"]["init_args"]
    wanted = {"width": model["hidden"][0], "batch": config["data"]["init_args"]["batch_size"], "lr": optimizer["lr"],
              "cap": config["trainer"]["max_epochs"], "activation": model["activation"]}  # fmt: skip
    (trial,) = [t for t in study.trials if t.params == wanted]
    assert trial.value < UNMET and trial.user_attrs["good"] == len(WIDE_SEARCH_SEEDS)
    assert sorted(map(int, trial.user_attrs["cells"])) == list(WIDE_SEARCH_SEEDS)
    assert all(cell["probe"] == 100 for cell in trial.user_attrs["cells"].values())
    assert (SEARCHED.hidden, SEARCHED.batch, SEARCHED.lr, SEARCHED.cap) == (
        (wanted["width"],),
        *list(wanted.values())[1:4],
    )
