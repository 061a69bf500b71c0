"""``FizzBuzzMLP``'s activations: the sin net keeps the lessons' layout, and can play the game exactly."""

import math
import sys

import pytest
import torch

from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.nets import FizzBuzzMLP, Sine
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from reference import fizz_buzz_encode as seed_fizz_buzz_encode  # noqa: E402


def test_sin_puts_sine_where_relu_was_and_keeps_the_state_dict_keys():
    relu, sin = FizzBuzzMLP(10, [64, 32]), FizzBuzzMLP(10, [64, 32], activation="sin")
    assert [type(m).__name__ for m in relu] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [type(m).__name__ for m in sin] == ["Linear", "Sine", "Linear", "Sine", "Linear"]
    assert list(sin.state_dict()) == list(relu.state_dict())
    torch.testing.assert_close(Sine()(torch.tensor([0.0, math.pi / 2])), torch.tensor([0.0, 1.0]))


def test_sin_draws_an_angle_per_bit_from_the_whole_circle():
    torch.manual_seed(0)
    first = FizzBuzzMLP(10, [512], activation="sin")[0]
    for values in (first.weight, first.bias):
        assert values.abs().max() <= math.pi
        assert values.abs().max() > 3.0  # U(-pi, pi), not the default init's +-1/sqrt(10)
    assert FizzBuzzMLP(10, [512])[0].weight.abs().max() <= 1 / math.sqrt(10)


def test_a_sin_net_can_play_every_number_right_with_weights_from_the_docstrings_angles():
    """The sum of one angle per bit, 2 pi k 2**i / 15, is 2 pi k n / 15: with sin and cos (a bias of pi / 2) for
    k = 1..7 and the read-out's bias, the hidden layer is a Fourier basis of n mod 15, and a linear read-out
    fitted on one period (0..14) plays every n."""
    num_digits, ks = 10, torch.arange(1, 8, dtype=torch.float64)
    net = FizzBuzzMLP(num_digits, [14], activation="sin").double()
    angles = 2 * math.pi * ks[:, None] * 2.0 ** torch.arange(num_digits) / 15  # (7, num_digits)
    with torch.no_grad():
        net[0].weight.copy_(torch.cat([angles, angles]))
        net[0].bias.copy_(torch.cat([torch.zeros(7), torch.full((7,), math.pi / 2)]))
        residues = torch.arange(15)
        hidden = net[1](net[0](fizzbuzz.binary_encode(residues, num_digits).double()))  # (15, 14)
        basis = torch.cat([hidden, torch.ones(15, 1, dtype=torch.float64)], dim=1)  # (15, 15), full rank
        targets = torch.nn.functional.one_hot(fizzbuzz.fizzbuzz_labels(residues), 4).double()  # (15, 4)
        read_out = torch.linalg.solve(basis, targets)  # (15, 4)
        net[2].weight.copy_(read_out[:14].T)
        net[2].bias.copy_(read_out[14])
        numbers = torch.arange(1, 2**num_digits)
        played = net(fizzbuzz.binary_encode(numbers, num_digits).double()).argmax(1)
    assert played.tolist() == [seed_fizz_buzz_encode(n) for n in numbers.tolist()]


def test_an_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation must be one of relu, sin, not 'tanh'"):
        FizzBuzzMLP(10, [8], activation="tanh")
