"""The GPU path, ready for a machine that has one: ``pytest -m gpu`` (or ``scripts/gpu_check.sh``, which adds the
benchmark's GPU rows). Without CUDA every test here is skipped.

Each GPU result is compared with the same command on the CPU: the same 1..100 score for the default recipe on
its seeds, the regressors' and the GAN's scores within a tolerance (GPU kernels sum in another order).
"""

import re

import pytest
import torch

from tests.helpers import CONFIGS, fizzlightning, only_run, runs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/gpu_check.sh runs these)"),
]
GPU = ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]
CPU = ["--trainer.accelerator", "cpu"]
SHORT = {  # every config, cut to a few epochs where a full fit would not fit the check's 10 minutes
    "curve.yaml": ["--trainer.max_epochs", "20"],
    "fizzbuzz_10bit.yaml": [],
    "fizzbuzz_relu.yaml": [],
    "fizzbuzz_seed10.yaml": ["--trainer.max_epochs", "200"],
    "fizzbuzz_seed15.yaml": ["--trainer.max_epochs", "10"],
    "fizzbuzz_sin.yaml": [],
    "gan.yaml": ["--trainer.max_epochs", "4"],
    "optimizers.yaml": [],
    "regressor.yaml": [],
    "regressor_adam.yaml": [],
    "regressor_manual.yaml": [],
    "regressor_nn_bias.yaml": [],
}
DEFAULT_SEEDS = (0, 1, 2)


def score(out: str) -> int:
    return int(re.search(r"Score on 1\.\.100: (\d+)/100", out)[1])


def metrics(out: str) -> dict[str, float]:
    """``test/...`` lines of a regressor's report, or the GAN's percentages and distances."""
    found = {key: float(value) for key, value in re.findall(r"^(test/\w+) = (\S+)$", out, re.MULTILINE)}
    found.update({f"gan/{key}": float(value) for key, value in re.findall(r"(KS distance to U\(1, 2\)) ([\d.]+)", out)})
    return found


@pytest.mark.parametrize("seed", DEFAULT_SEEDS)
def test_the_default_recipe_plays_the_same_game_on_gpu_as_on_cpu(tmp_path, seed):
    args = ["--config", str(CONFIGS / "fizzbuzz.yaml"), "--seed_everything", str(seed)]
    scores = {}
    for device, flags in (("gpu", GPU), ("cpu", CPU)):
        directory = tmp_path / device
        directory.mkdir()
        fizzlightning(directory, "fit", *args, *flags)
        scores[device] = score(fizzlightning(directory, "test", *args, *flags))
    assert scores["gpu"] == scores["cpu"]


@pytest.mark.parametrize("config", sorted(SHORT), ids=lambda name: name.removesuffix(".yaml"))
def test_every_config_fits_tests_and_predicts_on_gpu(tmp_path, config):
    args = ["--config", str(CONFIGS / config), *SHORT[config]]
    results = {}
    for device, flags in (("gpu", GPU), ("cpu", CPU)):
        directory = tmp_path / device
        directory.mkdir()
        fizzlightning(directory, "fit", *args, *flags)
        results[device] = fizzlightning(directory, "test", *args, *flags)
        assert "Written to" in fizzlightning(directory, "predict", *args, *flags)
    if config.startswith("fizzbuzz"):
        assert abs(score(results["gpu"]) - score(results["cpu"])) <= 2  # a few epochs: close, not always equal
    else:
        gpu, cpu = metrics(results["gpu"]), metrics(results["cpu"])
        assert gpu.keys() == cpu.keys() and gpu
        for key in gpu:
            assert gpu[key] == pytest.approx(cpu[key], rel=0.05, abs=1e-3), key


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_trains_and_scores(tmp_path, precision):
    if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    args = ["--config", str(CONFIGS / "fizzbuzz.yaml"), *GPU, "--trainer.precision", precision]
    fizzlightning(tmp_path, "fit", *args)
    assert f"precision: {precision}" in (only_run(tmp_path) / "fit-config.yaml").read_text()
    assert 0 <= score(fizzlightning(tmp_path, "test", *args)) <= 100


def test_a_checkpoint_moves_between_gpu_and_cpu_with_the_same_score(tmp_path):
    args = ["--config", str(CONFIGS / "fizzbuzz.yaml"), "--trainer.max_epochs", "10"]
    for made, scored in ((GPU, CPU), (CPU, GPU)):
        directory = tmp_path / made[1]
        directory.mkdir()
        fizzlightning(directory, "fit", *args, *made)
        best = only_run(directory) / "checkpoints" / "best.ckpt"
        here = score(fizzlightning(directory, "test", *args, *made))
        there = score(fizzlightning(directory, "test", *args, *scored, "--ckpt_path", str(best)))
        assert here == there


def test_ddp_on_every_visible_gpu_makes_one_run_and_scores_it(tmp_path):
    devices = torch.cuda.device_count()
    args = ["--config", str(CONFIGS / "fizzbuzz.yaml"), "--trainer.accelerator", "gpu"]
    ddp = ["--trainer.strategy", "ddp", "--trainer.devices", str(devices)]
    out = fizzlightning(tmp_path, "fit", *args, *ddp)
    assert out.count("Trained ") == 1
    assert len(runs(tmp_path, "fizzbuzz.yaml")) == 1  # one run directory for every rank
    single = score(fizzlightning(tmp_path, "test", *args, "--trainer.devices", "1"))
    assert score(fizzlightning(tmp_path, "test", *args, *ddp)) == single  # every number scored once, any world size
