"""Every picture a run draws (the 1..100 board, the curve fit, the GAN's paintings) as a numpy RGB array
(3, height, width) in [0, 1]: no Lightning, no logger, no matplotlib. Callbacks send them to the run's loggers."""

import numpy as np

WHITE = np.array([1.0, 1.0, 1.0])
AXES = np.array([0.80, 0.80, 0.80])
DATA = np.array([0.25, 0.45, 0.85])  # blue dots, as matplotlib's scatter
FIT = np.array([0.90, 0.10, 0.10])  # the lessons' 'r-'
DOT = 1  # a data point is a (2 * DOT + 1)-pixel square
LINE = 1  # a line is (2 * LINE + 1) pixels thick

# the board: number, fizz, buzz, fizzbuzz: light grey, green, blue, orange
BOARD_COLOURS = np.array([[0.85, 0.85, 0.85], [0.30, 0.70, 0.35], [0.25, 0.45, 0.85], [0.95, 0.60, 0.15]])
WRONG = np.array([0.85, 0.10, 0.10])
CELL = 24  # pixels per board cell edge

# the GAN: the artist's lower and upper bounds, and the generator's paintings
LOWER, UPPER, PAINTED = np.array([0.95, 0.58, 0.35]), np.array([0.45, 0.74, 1.0]), np.array([0.29, 0.84, 0.19])


class Canvas:
    """An RGB picture in data coordinates: dots, lines and the zero axes. ``y_range`` is the caller's: a fixed
    range keeps the frames of a dashboard's image slider comparable while the curves move."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], size=(240, 320)) -> None:
        self.height, self.width = size
        self.x_range, self.y_range = x_range, y_range
        self.image = np.broadcast_to(WHITE, (self.height, self.width, 3)).copy()
        (x_low, x_high), (y_low, y_high) = x_range, y_range
        if y_low < 0 < y_high:
            self.image[self.rows(np.zeros(1))[0], :] = AXES
        if x_low < 0 < x_high:
            self.image[:, self.columns(np.zeros(1))[0]] = AXES

    def columns(self, values: np.ndarray) -> np.ndarray:
        x_low, x_high = self.x_range
        return np.rint((values - x_low) / (x_high - x_low) * (self.width - 1)).astype(int)

    def rows(self, values: np.ndarray) -> np.ndarray:  # row 0 is the top: high y
        y_low, y_high = self.y_range
        return np.rint((y_high - values) / (y_high - y_low) * (self.height - 1)).astype(int)

    def dots(self, x: np.ndarray, y: np.ndarray, colour: np.ndarray) -> None:
        for row, column in zip(self.rows(y), self.columns(x)):
            if 0 <= row < self.height:  # a dot outside y_range is not drawn
                top, left = max(row - DOT, 0), max(column - DOT, 0)
                self.image[top : row + DOT + 1, left : column + DOT + 1] = colour

    def line(self, x: np.ndarray, y: np.ndarray, colour: np.ndarray) -> None:
        """Each step of the line fills the rows between its end points, so steep parts stay connected;
        a curve beyond y_range runs along the edge of the picture."""
        rows, columns = np.clip(self.rows(y), 0, self.height - 1), self.columns(x)
        for previous, row, column in zip(np.r_[rows[:1], rows[:-1]], rows, columns):
            top, bottom = min(previous, row), max(previous, row)
            self.image[max(top - LINE, 0) : bottom + LINE + 1, max(column - LINE, 0) : column + LINE + 1] = colour

    def chw(self) -> np.ndarray:
        return self.image.transpose(2, 0, 1).astype(np.float32)


def render_board(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The 1..100 board (3, 10 * CELL, 10 * CELL), 1..10 on the top row, each cell the predicted class's colour; a
    cell the net got wrong gets a red border and diagonal, so mistakes stand out on the image slider."""
    cells = BOARD_COLOURS[predicted].reshape(10, 10, 3)
    image = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)  # (10*CELL, 10*CELL, 3)
    image[::CELL, :] = image[:, ::CELL] = 1.0  # white grid lines
    for index in np.flatnonzero(predicted != truth):
        top, left = (index // 10) * CELL, (index % 10) * CELL
        cell = image[top : top + CELL, left : left + CELL]
        cell[:2, :] = cell[-2:, :] = cell[:, :2] = cell[:, -2:] = WRONG
        cell[np.arange(CELL), np.arange(CELL)] = WRONG
    return image.transpose(2, 0, 1).astype(np.float32)


def render_curve(
    x: np.ndarray,
    y: np.ndarray,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    y_range: tuple[float, float],
    size: tuple[int, int] = (240, 320),
) -> np.ndarray:
    """Points (x, y) as dots and (x_fit, y_fit) as a line drawn over them."""
    pad = 0.03 * float(x.max() - x.min())  # the end points' dots stay whole
    canvas = Canvas((float(x.min()) - pad, float(x.max()) + pad), y_range, size)
    canvas.dots(x, y, DATA)
    canvas.line(x_fit, y_fit, FIT)
    return canvas.chw()


def render_paintings(points: np.ndarray, paintings: np.ndarray) -> np.ndarray:
    """The GAN's paintings (n, len(points)) between the artist's bounds, in the lesson's y range (0, 3)."""
    canvas = Canvas((-1.05, 1.05), (-0.2, 3.2))
    canvas.line(points, 2 * points**2 + 1, UPPER)
    canvas.line(points, points**2, LOWER)
    for painting in paintings:
        canvas.line(points, painting, PAINTED)
    return canvas.chw()
