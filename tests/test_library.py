"""fizzlightning as a library: its models and data in a user's own script and plain ``L.Trainer``, what the app's
commands make of the checkpoints such a script writes, the public names, and the checkpoints of earlier versions."""

import importlib
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

import fizzlightning
from benchmarks import launch
from fizzlightning import FizzBuzzClassifier
from fizzlightning.runs.checkpoints import rebuild_model

from .helpers import CONFIGS, FIZZBUZZ, assert_bit_identical, runs, state_dict, write

# What every script ends with: each Trainer method's result, and the checkpoint reloaded as fizzlightning loads one.
REPORT = """
import json, torch
path = trainer.checkpoint_callback.best_model_path
saved = torch.load(path, weights_only=True)
loaded = type(model).load_from_checkpoint(path)
again = L.Trainer(logger=False, enable_progress_bar=False).predict(loaded, data)
print(json.dumps({
    "validated": validated[0], "tested": tested[0], "shapes": [list(batch.shape) for batch in predicted],
    "reloaded_predicts_the_same": all(torch.equal(a, b) for a, b in zip(predicted, again)),
    "hyper_parameters": saved["hyper_parameters"], "checkpoint": path,
}))
"""

# The script as a user writes it (unseeded), then the same for the other models and datamodules.
SCRIPTS = {
    "fizzbuzz": """
import lightning as L
from fizzlightning import FizzBuzzClassifier, FizzBuzzDataModule

trainer = L.Trainer(max_epochs=2)
model, data = FizzBuzzClassifier(num_digits=12, hidden=[256]), FizzBuzzDataModule(num_digits=12)
trainer.fit(model, data)
validated, tested, predicted = trainer.validate(model, data), trainer.test(model, data), trainer.predict(model, data)
""",
    "regressor": """
import lightning as L
from fizzlightning import RegressionDataModule, Regressor

L.seed_everything(0)
trainer = L.Trainer(max_epochs=1, limit_train_batches=50)
model, data = Regressor(bias=False, init="normal"), RegressionDataModule()  # lightning_configs/regressor.yaml
validated = trainer.validate(model, data)  # before training
trainer.fit(model, data)
tested, predicted = trainer.test(model, data), trainer.predict(model, data)
""",
    "curve": """
from functools import partial

import lightning as L
import torch
from fizzlightning import CurveDataModule, CurvePlot, Regressor

L.seed_everything(0)  # 5 epochs and a bound on the loss: unseeded, a draw's loss can land past it
trainer = L.Trainer(max_epochs=5, callbacks=[CurvePlot(every_n_epochs=1)])
model = Regressor(d_in=1, hidden=10, d_out=1, loss="mean", optimizer=partial(torch.optim.Adam, lr=0.01))
data = CurveDataModule()
trainer.fit(model, data)
validated, tested, predicted = trainer.validate(model, data), trainer.test(model, data), trainer.predict(model, data)
""",
    "gan": """
import lightning as L
from fizzlightning import GAN, ArtistDataModule

L.seed_everything(0)
trainer = L.Trainer(max_epochs=2, limit_train_batches=10)
model, data = GAN(), ArtistDataModule(eval_paintings=100)
trainer.fit(model, data)
validated, tested, predicted = trainer.validate(model, data), trainer.test(model, data), trainer.predict(model, data)
""",
}

MODELS = {
    "fizzbuzz": "fizzlightning.models.classifier.FizzBuzzClassifier",
    "regressor": "fizzlightning.models.regressor.Regressor",
    "curve": "fizzlightning.models.regressor.Regressor",
    "gan": "fizzlightning.models.gan.GAN",
}


def run_script(directory: Path, text: str) -> dict:
    """``python script.py`` in ``directory``, as a user runs it; its report."""
    script = directory / "script.py"
    script.write_text(text + REPORT)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=directory, env=launch.environment(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_plain_trainer_fits_validates_tests_predicts_and_reloads_and_the_app_scores_its_checkpoint(
    cli, tmp_path, capfd, name
):
    report = run_script(tmp_path, SCRIPTS[name])
    checkpoint = report["checkpoint"]
    assert report["reloaded_predicts_the_same"]
    held = report["hyper_parameters"]  # plain values only: the optimizer is not among them
    assert held["_class_path"] == MODELS[name] and not {"optimizer", "lr_scheduler"} & set(held)
    capfd.readouterr()
    if name == "fizzbuzz":
        accuracy = report["tested"]["test/acc"]
        assert 0.5 <= accuracy <= 1 and 0 <= report["validated"]["val/acc"] <= 1  # "number" alone scores 0.53
        assert report["shapes"] == [[100, 2]]  # 1..100: the number and the class played
        # the shipped config builds another width: one line naming it, then scored with the settings it was fit with
        assert cli("test", "--config", str(CONFIGS / "fizzbuzz_relu.yaml"), "--ckpt_path", checkpoint) == 2
        assert (
            f"model.init_args.hidden = [2048] changes the network or its data: {checkpoint} was trained with [256]."
            in capfd.readouterr().err
        )
        args = ["--config", str(CONFIGS / "fizzbuzz_relu.yaml"), "--model.init_args.hidden", "[256]"]
        assert cli("test", *args, "--ckpt_path", checkpoint) == 0
        assert f"Score on 1..100: {round(accuracy * 100)}/100" in capfd.readouterr().out
        return
    config = {"regressor": "regressor.yaml", "curve": "curve.yaml", "gan": "gan.yaml"}[name]
    assert cli("test", "--config", str(CONFIGS / config), "--ckpt_path", checkpoint) == 0
    out = capfd.readouterr().out
    if name == "gan":
        assert report["shapes"] == [[5, 15 + 3]]  # the paintings, then a, rms and inside for each
        assert 0 <= report["tested"]["test/in_bounds"] <= 1 and report["tested"]["test/ks"] >= 0
        assert "Paintings judged: 1000" in out  # the config's test set
        return
    loss = float(re.search(r"^test/loss = (\S+)$", out, re.MULTILINE)[1])
    if name == "regressor":  # seeded as the config is: the same data, so the same score to the printed digits
        assert report["shapes"] == [[64, 10]]
        assert report["tested"]["test/loss"] < report["validated"]["val/loss"] / 100  # the lessons' fall
        assert f"{report['tested']['test/loss']:.6g}" == f"{loss:.6g}"
    else:
        assert report["shapes"] == [[100, 1]] and report["tested"]["test/loss"] < 0.2 and loss < 0.2


def test_the_public_names_are_the_modules_classes_and_load_on_first_use():
    assert fizzlightning.__version__ == metadata.version("fizzlightning")
    for name, module in fizzlightning._EXPORTS.items():
        assert getattr(fizzlightning, name) is getattr(importlib.import_module(module), name)
        assert name in fizzlightning.__all__ and name in dir(fizzlightning)
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        fizzlightning.Nothing  # noqa: B018
    script = (
        "import sys, fizzlightning; assert 'torch' not in sys.modules; "
        "import fizzlightning.lessons.nets, fizzlightning.lessons.fizzbuzz; assert 'lightning' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=launch.environment())


def test_the_default_optimizers_are_the_shipped_recipes():
    optimizer = FizzBuzzClassifier().configure_optimizers()  # lightning_configs/fizzbuzz_relu.yaml's
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.defaults["lr"] == 0.004148012235518274 and optimizer.defaults["weight_decay"] == 0.1
    regressor = fizzlightning.Regressor().configure_optimizers()  # lightning_configs/regressor.yaml's
    assert type(regressor) is torch.optim.SGD and regressor.defaults["lr"] == 1e-6
    gan = fizzlightning.GAN(lr_d=1e-3, lr_g=2e-4).configure_optimizers()  # one Adam, a group per network
    assert type(gan) is torch.optim.Adam and [group["lr"] for group in gan.param_groups] == [1e-3, 2e-4]


def test_the_optimizer_flags_users_type_reach_the_model_without_a_warning(cli, tmp_path, recwarn):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    scheduler = ["--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "2"]
    assert cli("fit", "--config", config, "--optimizer", "Adam", "--optimizer.lr", "0.001", *scheduler) == 0
    assert not [w for w in recwarn if "configure_optimizers" in str(w.message)]  # LightningCLI's override note
    (run,) = runs(tmp_path, config)
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["fizzlightning"]["optimizers"] == ["torch.optim.adam.Adam"]
    assert saved["optimizer_states"][0]["param_groups"][0]["initial_lr"] == 0.001
    assert saved["lr_schedulers"][0]["step_size"] == 2
    assert not {"optimizer", "lr_scheduler"} & set(saved["hyper_parameters"])


def test_short_and_long_class_paths_build_the_same_run_and_checkpoint(cli, tmp_path, capfd):
    short = FIZZBUZZ.replace("fizzlightning.models.classifier.FizzBuzzClassifier", "fizzlightning.FizzBuzzClassifier")
    short = short.replace("fizzlightning.data.FizzBuzzDataModule", "fizzlightning.FizzBuzzDataModule")
    configs = {"short": write(tmp_path, "short.yaml", short), "long": write(tmp_path, "long.yaml", FIZZBUZZ)}
    best = {}
    for name, config in configs.items():
        assert cli("fit", "--config", config) == 0
        (run,) = runs(tmp_path, config)
        best[name] = run / "checkpoints" / "best.ckpt"
        saved = torch.load(best[name], weights_only=True)
        assert saved["hyper_parameters"]["_class_path"] == "fizzlightning.models.classifier.FizzBuzzClassifier"
        assert isinstance(rebuild_model(saved, best[name]), FizzBuzzClassifier)  # what serve and export build
    assert_bit_identical(state_dict(best["short"]), state_dict(best["long"]))
    capfd.readouterr()
    for config, other in (("short", "long"), ("long", "short")):  # each config scores the other's checkpoint
        assert cli("test", "--config", configs[config], "--ckpt_path", str(best[other])) == 0
        assert "Score on 1..100:" in capfd.readouterr().out


# Written by `fizzlightning fit` of tests.helpers.FIZZBUZZ (SGD lr 0.1, 2 epochs) before the models took their
# optimizer as an argument: the configs' optimizer then went to LightningCLI's own configure_optimizers.
EARLIER = Path(__file__).parent / "fixtures" / "fizzbuzz-0.2.0-last.ckpt"


@pytest.mark.filterwarnings("ignore:The dirpath has changed")  # Lightning's, for any checkpoint resumed in a new run
def test_a_checkpoint_from_before_the_optimizer_argument_loads_tests_and_resumes(cli, tmp_path, capfd):
    assert FizzBuzzClassifier.load_from_checkpoint(EARLIER).hparams.hidden == [8]  # weights_only, Lightning's way
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    assert cli("test", "--config", config, "--ckpt_path", str(EARLIER)) == 0
    assert "Score on 1..100:" in capfd.readouterr().out
    resume = ["fit", "--config", config, "--ckpt_path", str(EARLIER), "--trainer.max_epochs", "3"]
    assert cli(*resume, "--optimizer.lr", "0.5") == 2  # the checks still refuse other settings
    assert "was trained with optimizer lr = 0.1, but the config sets 0.5" in capfd.readouterr().err
    assert cli(*resume) == 0
    assert "Trained 3 epochs (15 steps)" in capfd.readouterr().out


def test_a_resume_with_a_scheduler_that_moves_lr_from_the_start_is_not_refused(cli, tmp_path):
    # The model now builds its scheduler with its optimizer; LinearLR lowers lr at once, initial_lr keeps the setting.
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    scheduler = ["--lr_scheduler", "LinearLR", "--lr_scheduler.start_factor", "0.5", "--lr_scheduler.total_iters", "4"]
    assert cli("fit", "--config", config, *scheduler) == 0
    assert cli("fit", "--config", config, *scheduler, "--ckpt_path", "last", "--trainer.max_epochs", "3") == 0
    (run,) = runs(tmp_path, config)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2


# A config as 0.2.0 wrote it: every class under the flat module paths of that release.
CONFIG_0_2_0 = FIZZBUZZ.replace("fizzlightning.models.classifier.", "fizzlightning.classifier.").replace(
    "  devices: 1\n",
    """  devices: 1
  callbacks:
    - class_path: fizzlightning.stopping.StreakStopping
      init_args: {monitor: val/acc, threshold: 1.0, streak: 2}
    - class_path: fizzlightning.dashboards.BoardImage
""",
)


def test_a_config_with_the_0_2_0_module_paths_fits_tests_and_resumes(cli, tmp_path, capfd):
    config = write(tmp_path, "old.yaml", CONFIG_0_2_0)
    assert "fizzlightning.classifier.FizzBuzzClassifier" in CONFIG_0_2_0
    assert cli("fit", "--config", config) == 0
    (run,) = runs(tmp_path, config)
    saved = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["_class_path"] == "fizzlightning.models.classifier.FizzBuzzClassifier"
    assert cli("test", "--config", config) == 0
    assert "Score on 1..100:" in capfd.readouterr().out
    assert cli("fit", "--config", config, "--ckpt_path", "last", "--trainer.max_epochs", "3") == 0


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_each_shipped_config_with_0_2_0s_module_paths_is_the_same_config(cli, tmp_path, capsys, config):
    # 0.2.0's flat modules: fizzlightning.classifier.FizzBuzzClassifier, fizzlightning.stopping.StreakStopping...
    def old(text: str) -> str:
        return re.sub(r"fizzlightning\.(models|callbacks)\.", "fizzlightning.", text)

    assert cli("fit", "--config", str(config), "--seed_everything", "1", "--print_config") == 0
    now = capsys.readouterr().out
    assert "fizzlightning.models." in now and old(now) != now
    assert cli("fit", "--config", write(tmp_path, config.name, old(config.read_text())), "--seed_everything", "1",
               "--print_config") == 0  # fmt: skip
    assert capsys.readouterr().out == old(now)  # the same classes, with the same arguments and defaults
