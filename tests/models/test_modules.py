"""Each LightningModule's forward and one optimisation step, outside the Trainer."""

from functools import partial

import lightning as L
import pytest
import torch

from fizzlightning.data import FizzBuzzDataModule
from fizzlightning.lessons.nets import FizzBuzzMLP, TwoLayerNet
from fizzlightning.models.classifier import FizzBuzzClassifier
from fizzlightning.models.regressor import Regressor


def one_step(module, batch, lr: float) -> tuple[float, float]:
    """Loss before and after one SGD step on ``batch``."""
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    before = module.training_step(batch, 0)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = module.training_step(batch, 0)
    return before.item(), after.item()


def test_classifier_forward_shape_and_one_step_lowers_the_loss():
    torch.manual_seed(0)
    model = FizzBuzzClassifier(num_digits=10, hidden=[32, 16])
    x = torch.randint(0, 2, (64, 10)).float()
    assert model(x).shape == (64, 4)
    before, after = one_step(model, (x, torch.randint(0, 4, (64,))), lr=0.1)
    assert after < before


def test_classifier_wraps_the_plain_mlp_with_seed_layer_names():
    model = FizzBuzzClassifier(num_digits=15, hidden=[100, 60])
    assert isinstance(model.net, FizzBuzzMLP)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "net.0.weight": (100, 15),
        "net.0.bias": (100,),
        "net.2.weight": (60, 100),
        "net.2.bias": (60,),
        "net.4.weight": (4, 60),
        "net.4.bias": (4,),
    }


def test_regressor_forward_shape_and_one_step_lowers_the_loss():
    torch.manual_seed(0)
    model = Regressor(d_in=20, hidden=8, d_out=3)
    assert isinstance(model.net, TwoLayerNet)
    x, y = torch.randn(16, 20), torch.randn(16, 3)
    assert model(x).shape == (16, 3)
    before, after = one_step(model, (x, y), lr=1e-3)  # the loss is a sum: small steps
    assert after < before


def test_regressor_normal_init_and_no_bias():
    torch.manual_seed(0)
    net = TwoLayerNet(1000, 100, 10, bias=False, init="normal")
    assert net.linear1.bias is None and net.linear2.bias is None
    assert abs(net.linear1.weight.std() - 1) < 0.02  # N(0, 1), not PyTorch's 1/sqrt(fan_in) uniform


class Forgetful(FizzBuzzClassifier):
    """A new model that forgot to return its loss."""

    def training_step(self, batch, batch_idx: int) -> None:
        super().training_step(batch, batch_idx)


@pytest.mark.parametrize("model, recorded", [(FizzBuzzClassifier, True), (Forgetful, False)])
def test_the_base_records_every_returned_loss_and_names_the_method_when_there_is_none(model, recorded):
    L.seed_everything(0)
    data = FizzBuzzDataModule(num_digits=8, batch_size=32)
    module = model(num_digits=8, hidden=[8], optimizer=partial(torch.optim.SGD, lr=0.1))
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    if recorded:
        trainer.fit(module, datamodule=data)
        assert torch.isfinite(module._step_losses).all() and len(module._step_losses) == 5  # 155 numbers / 32
        assert trainer.callback_metrics["train/loss"] == module._step_losses.mean()
    else:
        with pytest.raises(
            TypeError, match="Forgetful.training_step returned no loss tensor; a fizzlightning model returns"
        ):
            trainer.fit(module, datamodule=data)
