"""Lesson 004's artist and the judge of paintings: the GAN's maths, pure torch, no Lightning.

The artist paints y = a * x**2 + (a - 1) at evenly spaced points of [-1, 1], with a ~ U(1, 2): every
painting lies between the lower bound x**2 (a = 1) and the upper bound 2 * x**2 + 1 (a = 2).
"""

from typing import NamedTuple

import torch

TOLERANCE = 0.05  # how far outside the bounds a painting may stray: 5 % of the band's narrowest width (1, at x = 0)


def artist_works(a: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The artist's paintings for the draws ``a`` (n,): (n, len(points))."""
    return a[:, None] * points**2 + (a[:, None] - 1)


class Judgement(NamedTuple):
    """Per painting, each of shape (n,)."""

    a: torch.Tensor  # the least-squares a in the artist's family: y + 1 = a * (x**2 + 1)
    rms: torch.Tensor  # RMS distance to that parabola: 0 for the artist's own paintings
    inside: torch.Tensor  # 1.0 if within the bounds (+- TOLERANCE) at every point, else 0.0


def judge(paintings: torch.Tensor, points: torch.Tensor) -> Judgement:
    """Judge paintings (n, len(points)) against the artist's family and bounds."""
    basis = points**2 + 1  # (points,)
    a = ((paintings + 1) * basis).sum(dim=1) / basis.pow(2).sum()
    rms = (paintings - artist_works(a, points)).pow(2).mean(dim=1).sqrt()
    inside = (paintings >= points**2 - TOLERANCE) & (paintings <= 2 * points**2 + 1 + TOLERANCE)
    return Judgement(a, rms, inside.all(dim=1).float())


def ks_to_uniform(a: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between the sample ``a`` and the artist's U(1, 2): 0 is a perfect match."""
    a = a.sort().values
    n = len(a)
    cdf = (a - 1).clamp(0, 1)
    above = torch.arange(1, n + 1, device=a.device) / n - cdf
    below = cdf - torch.arange(0, n, device=a.device) / n
    return float(torch.maximum(above, below).max())
