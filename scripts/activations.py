"""Lessons 003 and 004's figure of four activation functions: relu, sigmoid, tanh, softplus on [-5, 5].

    pip install -e '.[plots]' && python scripts/activations.py [--figure PNG]   # default docs/activations.png

The curves are torch's own functions on the lessons' x = linspace(-5, 5, 200), in their 2 x 2 layout
with their y limits.
"""

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "activations.png"
# name -> (function, the lessons' y limits)
ACTIVATIONS = {
    "relu": (F.relu, (-1, 5)),
    "sigmoid": (torch.sigmoid, (-0.2, 1.2)),
    "tanh": (torch.tanh, (-1.2, 1.2)),
    "softplus": (F.softplus, (-0.2, 6)),
}


def curves() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    x = torch.linspace(-5, 5, 200)
    return x, {name: function(x) for name, (function, _) in ACTIVATIONS.items()}


def draw(figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a file, not a window
    import matplotlib.pyplot as plt

    x, ys = curves()
    fig = plt.figure(figsize=(8, 6))
    for index, (name, y) in enumerate(ys.items(), start=1):
        axes = fig.add_subplot(2, 2, index)
        axes.plot(x.numpy(), y.numpy(), c="red", label=name)
        axes.set_ylim(ACTIVATIONS[name][1])
        axes.legend(loc="best")
    fig.tight_layout()
    fig.savefig(figure, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args()
    draw(args.figure)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
