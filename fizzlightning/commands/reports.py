"""What ``test`` and ``predict`` print and write for each kind of model, and its HPARAMS scores: the commands' part.
``report(model)`` is the report of the model's class or nearest base in ``REPORTS``; any other model gets ``Report``'s.
"""

from typing import Any

import torch

from fizzlightning.callbacks.dashboards import mirrored
from fizzlightning.lessons import fizzbuzz
from fizzlightning.lessons.artist import TOLERANCE, Judgement
from fizzlightning.models import GAN, FizzBuzzClassifier, Regressor, TrainingModule

SHOWN_IN_FULL = 1000  # predict prints the whole game up to this many numbers, a summary past it


class Report:
    """The defaults: every ``test/`` metric; ``predict``'s rows numbered, one ``output_i`` column per number.

    ``test`` reads the logged metrics (reduced over all ranks) and ``results``, what ``test_step`` returned (every
    rank's, in input order); ``table`` makes a batch's header and CSV rows, ``first`` being the input index of its
    first row; ``predictions`` prints a short account of the first and last rows (``PredictionWriter`` keeps those)
    of ``total``; ``hp_metrics`` names the HPARAMS tab's metrics and the logged metrics they mirror. ``results``
    names what ``test`` reads of ``test_step``'s returned dict (``TestOutputs`` gathers those and nothing else).
    """

    index = "sample"
    results: tuple[str, ...] = ()
    scores: tuple[str, ...] = ()  # the logged metrics that ``printout`` reads
    test_hp: dict[str, str] = {}

    def __init__(self, model: TrainingModule) -> None:
        self.model = model

    def hp_metrics(self) -> dict[str, str]:
        return {**mirrored(self.model.monitor), **self.test_hp}

    def test(self, metrics: dict[str, Any], results: dict[str, torch.Tensor]) -> str:
        """The report's own printout when the model logged ``scores`` and returned ``results`` (a subclass of the
        user's may not; a skipped test loop logs none); else every ``test/`` metric."""
        if set(self.scores) <= metrics.keys() and set(self.results) <= results.keys():
            return self.printout(metrics, results)
        return Report.printout(self, metrics, results)

    def printout(self, metrics: dict[str, Any], results: dict[str, torch.Tensor]) -> str:
        lines = [f"{key} = {float(value):.6g}" for key, value in sorted(metrics.items()) if key.startswith("test/")]
        return "\n".join(lines) or "No test/ metrics were logged: no test batch ran."

    def columns(self, predictions: torch.Tensor) -> list[str]:
        return [f"output_{i}" for i in range(predictions.shape[1])]

    def table(self, predictions: torch.Tensor, batch: Any, first: int) -> tuple[list[str], list[list[Any]]]:
        rows = [[i, *row] for i, row in enumerate(predictions.tolist(), start=first)]
        return [self.index, *self.columns(predictions)], rows

    def predictions(self, header: list[str], rows: list[list[Any]], total: int) -> str:
        shown = [", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) for row in rows[:3]]
        more = [f"... {total - 3} more rows"] if total > 3 else []
        return "\n".join([f"{total} predictions: {', '.join(header)}", *shown, *more])


class FizzBuzzReport(Report):
    """The score on 1..100 and every wrong answer; the game, ten numbers a line."""

    test_hp = {"hp/test_acc": "test/acc"}
    results = ("number", "predicted", "truth")
    scores = ("test/acc",)

    def printout(self, metrics: dict[str, Any], results: dict[str, torch.Tensor]) -> str:
        accuracy = float(metrics["test/acc"])
        played = list(zip(*(results[name].tolist() for name in self.results)))
        mistakes = [row for row in played if row[1] != row[2]]
        score = f"Score on 1..100: {len(played) - len(mistakes)}/{len(played)}  (torchmetrics accuracy {accuracy:.4f})"
        if not mistakes:
            return f"{score}\nNo mistakes: a perfect game."
        wrong = [
            f"  {n:>3}: {fizzbuzz.decode(n, guess):<8}  {fizzbuzz.decode(n, truth)}" for n, guess, truth in mistakes
        ]
        return "\n".join([score, "Wrong answers (number: predicted, truth):", *wrong])

    def table(self, predictions: torch.Tensor, batch: Any, first: int) -> tuple[list[str], list[list[Any]]]:
        # each row carries its number: where the batch starts does not matter
        return ["number", "answer"], [[n, fizzbuzz.decode(n, label)] for n, label in predictions.tolist()]

    def predictions(self, header: list[str], rows: list[list[Any]], total: int) -> str:
        # the game up to SHOWN_IN_FULL numbers; past that its first ten lines, its last, and the count
        if not rows:
            return "No numbers played."
        first, last = rows[0][0], rows[-1][0]
        if total <= SHOWN_IN_FULL and len(rows) == total:
            return _lines([answer for _, answer in rows])
        head, tail = [answer for _, answer in rows[:100]], [answer for _, answer in rows[-10:]]
        shown = f"{total} numbers, {first}..{last}: the first 100 and the last 10 shown, every one in the file"
        return "\n".join([_lines(head), "...", _lines(tail), shown])


def _lines(words: list[str]) -> str:
    return "\n".join(" ".join(words[i : i + 10]) for i in range(0, len(words), 10))


class RegressorReport(Report):
    """A curve (one input) as its x and y columns, ready to plot; else the outputs."""

    def table(self, predictions: torch.Tensor, batch: Any, first: int) -> tuple[list[str], list[list[Any]]]:
        (x,) = batch
        if x.shape[1] == 1:  # the batch's inputs beside the outputs
            return ["x", "y"], [[a, b] for a, b in zip(x[:, 0].tolist(), predictions[:, 0].tolist())]
        return super().table(predictions, batch, first)


class GANReport(Report):
    """The judged test paintings; each predicted painting's points and verdict."""

    test_hp = {"hp/test_in_bounds": "test/in_bounds"}
    results = ("a",)
    scores = ("test/in_bounds", "test/ks", "test/rms", "test/d_accuracy", "test/d_score")

    def printout(self, metrics: dict[str, Any], results: dict[str, torch.Tensor]) -> str:
        metrics = {k: float(v) for k, v in metrics.items()}
        a = results["a"]
        return "\n".join(
            [
                f"Paintings judged: {len(a)}, generated from fixed ideas that validation never saw",
                f"Within the bounds x^2 <= y <= 2x^2 + 1 (+-{TOLERANCE}): {metrics['test/in_bounds']:.1%}",
                f"Fitted a: mean {float(a.mean()):.3f}, std {float(a.std()):.3f} (the artist's U(1, 2): 1.500, 0.289); "
                f"KS distance to U(1, 2) {metrics['test/ks']:.3f}",
                f"RMS distance to the fitted parabola: {metrics['test/rms']:.3f}",
                f"D accuracy on real paintings {metrics['test/d_accuracy']:.2f} (0.5 when D has converged), "
                f"D score {metrics['test/d_score']:.2f} (-1.38 when G has converged)",
            ]
        )

    index = "painting"

    def columns(self, predictions: torch.Tensor) -> list[str]:
        return [*(f"y({x:.2f})" for x in self.model.points.tolist()), *Judgement._fields]

    def predictions(self, header: list[str], rows: list[list[Any]], total: int) -> str:
        lines = [f"y at x = {', '.join(f'{x:.2f}' for x in self.model.points.tolist())}"]
        for _, *y, a, rms, inside in rows:
            where = "within the bounds" if inside else "outside the bounds"
            lines.append(f"a = {a:.3f}, {where}, RMS off the parabola {rms:.3f}: {', '.join(f'{v:.2f}' for v in y)}")
        if total > len(rows):  # the writer kept the first and last paintings only
            lines.append(f"{total} paintings in all: the first and last {len(rows)} shown, every one in the file")
        return "\n".join(lines)


REPORTS: dict[type[TrainingModule], type[Report]] = {
    FizzBuzzClassifier: FizzBuzzReport,
    Regressor: RegressorReport,
    GAN: GANReport,
}


def report(model: TrainingModule) -> Report:
    """The report of ``model``'s class, or of its nearest base class that has one."""
    return next((REPORTS[kind] for kind in type(model).__mro__ if kind in REPORTS), Report)(model)
