"""The 1..100 board as a picture: a 10x10 grid coloured by predicted class, wrong cells crossed out."""

import numpy as np
import torch

# number, fizz, buzz, fizzbuzz: light grey, green, blue, orange (RGB, 0..1)
COLOURS = np.array([[0.85, 0.85, 0.85], [0.30, 0.70, 0.35], [0.25, 0.45, 0.85], [0.95, 0.60, 0.15]])
WRONG = np.array([0.85, 0.10, 0.10])
CELL = 24  # pixels per cell edge


def render_board(predicted: torch.Tensor, truth: torch.Tensor) -> np.ndarray:
    """RGB image (3, 10 * CELL, 10 * CELL) of 1..100 in reading order: 1..10 on the top row.

    Each cell is filled with the colour of the predicted class; a cell the net got wrong gets a red
    border and a red diagonal, so mistakes stand out on TensorBoard's image slider.
    """
    predicted, truth = predicted.cpu().numpy(), truth.cpu().numpy()
    cells = COLOURS[predicted].reshape(10, 10, 3)
    image = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)  # (10*CELL, 10*CELL, 3)
    image[::CELL, :] = image[:, ::CELL] = 1.0  # white grid lines
    for index in np.flatnonzero(predicted != truth):
        top, left = (index // 10) * CELL, (index % 10) * CELL
        cell = image[top : top + CELL, left : left + CELL]
        cell[:2, :] = cell[-2:, :] = cell[:, :2] = cell[:, -2:] = WRONG
        cell[np.arange(CELL), np.arange(CELL)] = WRONG
    return image.transpose(2, 0, 1).astype(np.float32)
