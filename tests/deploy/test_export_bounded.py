"""The export check at every size: a bounded, deterministic set of numbers, checked a batch at a time."""

import pytest
import torch

from fizzlightning.deploy import export
from fizzlightning.errors import RunError
from fizzlightning.lessons import fizzbuzz
from fizzlightning.models.classifier import EXPORT_LARGEST, EXPORT_SAMPLE, FizzBuzzClassifier, export_numbers


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
    net, inputs = model.export_net()
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

    with pytest.raises(RunError, match="differs from the checkpoint's network by 1"):
        export._batched_difference("program", net, program, inputs)
    assert seen == [export.CHECK_BATCH] * 3 + [1]  # never the whole input at once


def test_a_nan_anywhere_fails_the_check():
    net = torch.nn.Linear(4, 2)
    inputs = torch.zeros(2 * export.CHECK_BATCH, 4)
    calls = []

    def program(batch):
        calls.append(1)
        return net(batch) * (float("nan") if len(calls) == 1 else 1.0)

    with pytest.raises(RunError, match="by nan"):
        export._batched_difference("program", net, program, inputs)


def test_the_exported_program_of_a_20_bit_net_is_checked_and_written(tmp_path):
    model = FizzBuzzClassifier(num_digits=20, hidden=[64])
    difference = export.export_program(*model.export_net(), tmp_path / "model.pt2")
    assert difference == 0.0
    program = torch.export.load(tmp_path / "model.pt2").module()
    x = fizzbuzz.binary_encode(torch.tensor([1, 2**20 - 1]), 20)
    assert torch.equal(program(x), model.net(x).detach())
