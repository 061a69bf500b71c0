"""The pure FizzBuzz logic against the seeds' own definitions (their if/else and bit loop: the oracle, kept once,
in ``benchmarks/reference.py``, the lessons' code)."""

import sys

import numpy as np
import torch

from fizzlightning.lessons import fizzbuzz
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from reference import binary_encode as seed_binary_encode  # noqa: E402
from reference import fizz_buzz_encode as seed_fizz_buzz_encode  # noqa: E402


def test_labels_match_the_seeds_if_else():
    numbers = torch.arange(1, 5000)
    expected = [seed_fizz_buzz_encode(i) for i in numbers.tolist()]
    assert fizzbuzz.fizzbuzz_labels(numbers).tolist() == expected


def test_binary_encoding_matches_the_seeds():
    numbers = torch.arange(0, 2**10)
    expected = np.stack([seed_binary_encode(i, 10) for i in numbers.tolist()])
    encoded = fizzbuzz.binary_encode(numbers, 10)
    assert encoded.dtype == torch.float32
    np.testing.assert_array_equal(encoded.numpy(), expected)


def test_encoding_is_least_significant_bit_first():
    assert fizzbuzz.binary_encode(torch.tensor([6]), 4).tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_decode_speaks_like_the_seeds():
    spoken = [fizzbuzz.decode(i, seed_fizz_buzz_encode(i)) for i in (1, 2, 3, 5, 12, 15)]
    assert spoken == ["1", "2", "fizz", "buzz", "fizz", "fizzbuzz"]


def test_max_number():
    assert fizzbuzz.max_number(10) == 1023
