"""The pure FizzBuzz logic against the seeds' own definitions."""

import numpy as np
import torch

from fizzlightning import fizzbuzz


def seed_fizz_buzz_encode(i: int) -> int:
    """The seeds' if/else labels: the oracle."""
    if i % 15 == 0:
        return 3
    elif i % 5 == 0:
        return 2
    elif i % 3 == 0:
        return 1
    else:
        return 0


def seed_binary_encode(i: int, num_digits: int) -> np.ndarray:
    return np.array([i >> d & 1 for d in range(num_digits)])


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
