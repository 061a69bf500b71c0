"""FizzBuzz as data: labels, binary encoding and decoding.

Pure torch, no Lightning: this is the game itself, shared by the datamodule, the model's
summary and the tests. Class indices follow the lessons: 0 number, 1 fizz, 2 buzz, 3 fizzbuzz.
"""

import torch

CLASSES = ("number", "fizz", "buzz", "fizzbuzz")
FIRST_TRAIN_NUMBER = 101  # 1..100 is the game the net is asked to play, so training starts above it


def fizzbuzz_labels(numbers: torch.Tensor) -> torch.Tensor:
    """Class index of each number: fizz (1) if divisible by 3, buzz (2) by 5, fizzbuzz (3) by both."""
    return (numbers % 3 == 0).long() + 2 * (numbers % 5 == 0).long()


def binary_encode(numbers: torch.Tensor, num_digits: int) -> torch.Tensor:
    """Encode integers as ``num_digits`` bits, least significant bit first, as the lessons do.

    Example:
        >>> binary_encode(torch.tensor([6, 1]), 4)
        tensor([[0., 1., 1., 0.],
                [1., 0., 0., 0.]])

    6 is 0b0110: bit 0 is 0, bit 1 is 1, bit 2 is 1, bit 3 is 0.
    """
    bits = torch.arange(num_digits, device=numbers.device)
    return ((numbers.unsqueeze(-1) >> bits) & 1).float()  # (len(numbers), num_digits)


def decode(number: int, label: int) -> str:
    """What a player says for ``number`` when the class is ``label``: '7', 'fizz', 'buzz' or 'fizzbuzz'."""
    return str(number) if label == 0 else CLASSES[label]


def max_number(num_digits: int) -> int:
    """The largest number ``num_digits`` bits can encode."""
    return 2**num_digits - 1
