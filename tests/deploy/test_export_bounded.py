"""The export check at every size: a bounded, deterministic set of numbers, checked a batch at a time."""

import copy

import pytest
import torch

from fizzlightning.deploy import export
from fizzlightning.deploy.export import EXPORT_LARGEST, EXPORT_SAMPLE, export_numbers
from fizzlightning.errors import RunError
from fizzlightning.lessons import fizzbuzz, nets
from fizzlightning.models.classifier import FizzBuzzClassifier


@pytest.mark.parametrize("num_digits", [8, 12, 13, 20, 24])
def test_the_export_check_covers_the_game_and_the_largest_numbers_in_a_bounded_set(num_digits):
    numbers = export_numbers(num_digits)
    largest = fizzbuzz.max_number(num_digits)
    assert len(numbers) <= 100 + EXPORT_LARGEST + EXPORT_SAMPLE
    assert numbers[:100].tolist() == list(range(1, 101))
    assert numbers[-EXPORT_LARGEST:].tolist() == list(range(largest - EXPORT_LARGEST + 1, largest + 1))
    assert torch.equal(numbers, numbers.unique()) and int(numbers.min()) >= 1  # sorted, distinct
    assert torch.equal(numbers, export_numbers(num_digits))  # the same set every time
    if largest <= 100 + EXPORT_LARGEST + EXPORT_SAMPLE:
        assert numbers.tolist() == list(range(1, largest + 1))  # few enough: all of them
    elif num_digits >= 20:  # a sample drawn with replacement from a million numbers or more: few repeats
        assert len(numbers) > 100 + EXPORT_LARGEST + EXPORT_SAMPLE * 0.99


def test_export_net_encodes_the_checked_numbers():
    model = FizzBuzzClassifier(num_digits=20, hidden=[8])
    net, inputs = export.export_net(model)
    assert net is model.net
    assert torch.equal(inputs, fizzbuzz.binary_encode(export_numbers(20), 20))


def test_a_difference_in_a_later_batch_fails_the_check():
    net = torch.nn.Linear(4, 2)
    inputs = torch.randn(3 * export.CHECK_BATCH + 1, 4, generator=torch.Generator().manual_seed(0))
    seen = []

    def program(batch):
        seen.append(len(batch))
        out = net(batch)
        return out + (1.0 if len(seen) == 4 else 0.0)  # only the last, short batch is wrong

    with pytest.raises(RunError, match=r"differs from the checkpoint's network by 1 .* --format pt\.$"):
        export._batched_difference("program", "pt2", net, program, inputs)
    assert seen == [export.CHECK_BATCH] * 3 + [1]  # never the whole input at once


def test_a_nan_anywhere_fails_the_check():
    net = torch.nn.Linear(4, 2)
    inputs = torch.zeros(2 * export.CHECK_BATCH, 4)
    calls = []

    def program(batch):
        calls.append(1)
        return net(batch) * (float("nan") if len(calls) == 1 else 1.0)

    with pytest.raises(RunError, match="by nan"):
        export._batched_difference("program", "pt2", net, program, inputs)


def test_the_exported_program_of_a_20_bit_net_is_checked_and_written(tmp_path):
    model = FizzBuzzClassifier(num_digits=20, hidden=[64])
    difference, allowed = export.export_program(*export.export_net(model), tmp_path / "model.pt2")
    assert difference == 0.0 and allowed > 0
    program = torch.export.load(tmp_path / "model.pt2").module()
    x = fizzbuzz.binary_encode(torch.tensor([1, 2**20 - 1]), 20)
    assert torch.equal(program(x), model.net(x).detach())


def _another_order(net: torch.nn.Module):
    """A float32 evaluation of ``net`` in another order of summation: exact in float64, then rounded once (the best
    any order can do), or each Linear's sum taken from its last term to its first."""

    def exact(batch):
        return copy.deepcopy(net).double()(batch.double()).float()

    def reversed_sums(batch):
        flipped = copy.deepcopy(net)
        for layer in flipped.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.data = layer.weight.data.flip(1)
                layer.forward = lambda h, layer=layer: torch.nn.functional.linear(h.flip(-1), layer.weight, layer.bias)
        return flipped(batch)

    return [exact, reversed_sums]


def _wrong(net: torch.nn.Module):
    """An export that is not the network: one weight of the last layer off by a tenth, or a bias dropped."""
    changed = copy.deepcopy(net)
    last = [m for m in changed.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.weight.data[0, 0] += 0.1 * (1 + last.weight.data[0, 0].abs())
    return changed


# every network of the lessons, at the width the shipped configs give it, with the inputs its export is checked on
NETWORKS = {
    "regressor (1000 inputs, normal init)": (nets.TwoLayerNet(1000, 100, 10, bias=False, init="normal"), (64, 1000)),
    "regressor_nn_bias": (nets.TwoLayerNet(1000, 100, 10, bias=True, init="normal"), (64, 1000)),
    "fizzbuzz relu": (nets.FizzBuzzMLP(12, [2048]), "bits"),
    "fizzbuzz sin": (nets.FizzBuzzMLP(10, [512], activation="sin"), "bits"),
    "gan generator": (nets.Generator(5, 128, 15), (1000, 5)),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_tolerance_is_what_float32_allows_for_the_network_and_its_input(name):
    torch.manual_seed(0)
    net, shape = NETWORKS[name]
    net = net.eval()
    if shape == "bits":
        digits = net[0].in_features
        inputs = fizzbuzz.binary_encode(export_numbers(digits), digits)
    else:
        inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for run in _another_order(net):  # any order of summation is float32's to choose
        difference, allowed = export._batched_difference("ONNX model", "onnx", net, run, inputs)
        assert difference <= allowed
    with pytest.raises(RunError, match=r"not written; model.pt2 \(torch.export\) .* --format pt2\.$"):
        export._batched_difference("ONNX model", "onnx", net, _wrong(net), inputs)
