"""The lessons' networks as plain ``torch.nn`` modules, which the LightningModules wrap as ``self.net``: no
Lightning, so exported weights load anywhere."""

import math
from typing import Literal

import torch
from torch import nn

Init = Literal["default", "normal"]


class TwoLayerNet(nn.Module):
    """Linear(d_in, hidden) -> ReLU -> Linear(hidden, d_out): the lessons' custom ``nn.Module``. ``init="normal"``
    redraws the weights from N(0, 1) as the lessons do: that scale is what makes their learning rate of 1e-6 work."""

    def __init__(self, d_in: int, hidden: int, d_out: int, bias: bool = True, init: Init = "default") -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_in, hidden, bias=bias)
        self.linear2 = nn.Linear(hidden, d_out, bias=bias)
        if init == "normal":
            nn.init.normal_(self.linear1.weight)
            nn.init.normal_(self.linear2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.linear1(x).clamp(min=0))  # (batch, d_out)


class Sine(nn.Module):
    """``sin(x)``: a periodic activation. Whether 3 or 5 divides ``n`` is a function of the angle ``2 pi k n / 15``
    on a circle, and that angle is a sum of one angle per bit (``2 pi k 2**i / 15`` for bit ``i``): a linear
    layer can learn it, and sin reads it the same way for every ``n``, seen in training or not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


Activation = Literal["relu", "sin"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sin": Sine}


class FizzBuzzMLP(nn.Sequential):
    """An MLP from ``num_digits`` bits through ``hidden`` layers to the 4 FizzBuzz classes, in the lessons' layer
    order, so its ``state_dict`` keys (``0.weight``, ``2.weight``, ...) load into their ``torch.nn.Sequential``.
    ``activation="sin"`` puts ``Sine`` where the lessons have ReLU, and draws the first layer's weights and biases
    from U(-pi, pi): an angle per bit anywhere on the circle (at the default init, about +-0.3 for 10 bits, sin
    would be nearly linear)."""

    def __init__(
        self, num_digits: int, hidden: list[int], num_classes: int = 4, activation: Activation = "relu"
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        widths = [num_digits, *hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Linear(width_in, width_out), ACTIVATIONS[activation]()]
        super().__init__(*layers, nn.Linear(widths[-1], num_classes))
        if activation == "sin":
            nn.init.uniform_(self[0].weight, -math.pi, math.pi)
            nn.init.uniform_(self[0].bias, -math.pi, math.pi)


class Generator(nn.Sequential):
    """Lesson 004's G: ``n_ideas`` random numbers -> ``hidden`` ReLU -> a painting of ``art_components`` points."""

    def __init__(self, n_ideas: int, hidden: int, art_components: int) -> None:
        super().__init__(nn.Linear(n_ideas, hidden), nn.ReLU(), nn.Linear(hidden, art_components))


class Discriminator(nn.Sequential):
    """Lesson 004's D: a painting -> ``hidden`` ReLU -> the probability that the artist painted it."""

    def __init__(self, art_components: int, hidden: int) -> None:
        super().__init__(nn.Linear(art_components, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())
