"""The FizzBuzz game in pure torch: labels, binary encoding and decoding, shared by the data, the reports, serving
and the tests. Class indices follow the lessons: 0 number, 1 fizz, 2 buzz, 3 fizzbuzz."""

import torch

CLASSES = ("number", "fizz", "buzz", "fizzbuzz")
FIRST_TRAIN_NUMBER = 101  # 1..100 is the game the net is asked to play, so training starts above it


def fizzbuzz_labels(numbers: torch.Tensor) -> torch.Tensor:
    """Class index of each number: fizz (1) if divisible by 3, buzz (2) by 5, fizzbuzz (3) by both."""
    return (numbers % 3 == 0).long() + 2 * (numbers % 5 == 0).long()


def binary_encode(numbers: torch.Tensor, num_digits: int) -> torch.Tensor:
    """Integers as ``num_digits`` bits, least significant bit first, as the lessons do: 6 is ``[0, 1, 1, 0]``."""
    bits = torch.arange(num_digits, device=numbers.device)
    return ((numbers.unsqueeze(-1) >> bits) & 1).float()  # (len(numbers), num_digits)


def decode(number: int, label: int) -> str:
    """What a player says for ``number`` when the class is ``label``: '7', 'fizz', 'buzz' or 'fizzbuzz'."""
    return str(number) if label == 0 else CLASSES[label]


def max_number(num_digits: int) -> int:
    """The largest number ``num_digits`` bits can encode."""
    return 2**num_digits - 1
