"""What ``fizzlightning serve`` serves: one LitServe API per network, its request checks and its answers.

A model is served by an API that names it (``class FizzBuzzAPI(ServedModel, serves=FizzBuzzClassifier)``);
``serve`` takes the API nearest in the model's class hierarchy (``SERVED``). ``deploy/serve.py`` describes the
JSON each network takes and gives.
"""

import json
import math
import signal
import warnings
from typing import Any

import torch

from fizzlightning.lessons.fizzbuzz import binary_encode, decode, max_number
from fizzlightning.models import GAN, FizzBuzzClassifier, Regressor
from fizzlightning.models.base import TrainingModule
from fizzlightning.runs.checkpoints import load_checkpoint, rebuild_model

try:  # the optional extra `serve`: serve's main() names it (extras.need) before anything here needs it
    from litserve import LitAPI
    from litserve.loops import BatchedLoop
except ImportError:
    LitAPI = object

MAX_ITEMS = 10_000  # numbers (FizzBuzz) or rows (regressor, GAN) per request
FLOAT32_MAX = torch.finfo(torch.float32).max
JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


class BadRequest(Exception):
    """``BadRequest(status, message)``: a refused request, with one sentence saying what to send instead."""


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), "number")


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _items(body: Any, key: str, example: str) -> list:
    """The list under ``key`` of a JSON object that has that one key and 1 to ``MAX_ITEMS`` items."""
    if not isinstance(body, dict):
        raise BadRequest(400, f"The body must be a JSON object like {example}, not a JSON {_json_type(body)}.")
    if key not in body or len(body) > 1:
        wrong = f'Missing key "{key}"' if key not in body else f'Unknown key "{next(k for k in body if k != key)}"'
        raise BadRequest(422, f'{wrong}: send a JSON object with the one key "{key}", like {example}.')
    if not isinstance(body[key], list):
        raise BadRequest(422, f'"{key}" must be a JSON array, not a JSON {_json_type(body[key])}: send {example}.')
    if not 1 <= len(body[key]) <= MAX_ITEMS:
        raise BadRequest(422, f'"{key}" holds {len(body[key])} items: expected 1 to {MAX_ITEMS} per request.')
    return body[key]


def _json_floats(values: torch.Tensor) -> list:
    """Nested lists of floats, ``None`` where float32 overflowed: JSON has no inf or nan."""
    if values.dim() > 1:
        return [_json_floats(row) for row in values]
    return [v if math.isfinite(v) else None for v in values.tolist()]


SERVED: dict[type[TrainingModule], type["ServedModel"]] = {}  # a model class -> its API, filled as APIs are defined


class ServedModel(LitAPI):
    """A network behind ``POST /predict``: LitServe's hooks, shared by the three networks.

    ``check`` runs in the HTTP process; the other hooks run in the inference worker, a spawned process that
    gets this object pickled, without a model: ``setup`` loads the checkpoint there. Subclasses say what a
    request holds (``key``, ``check``), what the network computes (``run``) and what an answer says (``answer``).
    """

    key = example = width_key = ""  # the request's one key, an example body, the hparam of a row's width
    dtype = torch.float32

    def __init_subclass__(cls, serves: type[TrainingModule] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if serves is not None:
            SERVED[serves] = cls

    def __init__(self, ckpt_path: str, hparams: dict[str, Any], max_batch_size: int, batch_timeout: float) -> None:
        with warnings.catch_warnings():  # batch()/unbatch() with max_batch_size 1: batches of one, one code path
            warnings.filterwarnings("ignore", "The LitServer has both batch and unbatch")
            super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, loop=BatchedLoop())
        self.ckpt_path, self.hparams = ckpt_path, hparams

    def check(self, body: Any) -> None:
        """Refuse (``BadRequest``) what ``decode_request`` could not turn into the network's input."""
        width = self.hparams[self.width_key]
        for i, row in enumerate(_items(body, self.key, self.example)):
            if not isinstance(row, list) or len(row) != width:
                held = f"has {len(row)} numbers" if isinstance(row, list) else f"is a JSON {_json_type(row)}"
                why = f"expected a list of {self.width_key} = {width} numbers (the model's input width)"
                raise BadRequest(422, f"{self.key}[{i}] {held}: {why}.")
            for j, value in enumerate(row):
                # bool is an int to Python; `<=` is False for nan, and exact for ints too large for a float
                if type(value) not in (int, float) or not abs(value) <= FLOAT32_MAX:
                    why = f"expected a finite number from -{FLOAT32_MAX:.4g} to {FLOAT32_MAX:.4g} (float32)"
                    raise BadRequest(422, f"{self.key}[{i}][{j}] = {_show(value)} is not allowed: {why}.")

    def authorize(self) -> None:
        """LitServe's hook for a key check on its routes, in place of its own: ``!=`` (not constant-time), and on
        ``/health`` too, which a supervisor probes without the key. ``serve.RequestCheck`` checks the key instead,
        before a request reaches a route, so that a request without it gets 401 and nothing else."""

    def setup(self, device: str) -> None:
        # Ctrl-C signals the whole process group: the server stops this process by SIGTERM, without a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        torch.set_num_threads(1)  # these networks are too small to gain from threads (see commands/main.py)
        self.target = torch.device(device)
        self.model = rebuild_model(load_checkpoint(self.ckpt_path), self.ckpt_path).to(self.target)

    def decode_request(self, request: dict[str, Any]) -> torch.Tensor:
        return torch.tensor(request[self.key], dtype=self.dtype)  # checked already: cannot fail the batch

    def batch(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        # requests hold different numbers of items: one tensor for one forward pass, and the sizes to split it
        return torch.cat(inputs), [len(x) for x in inputs]

    def predict(self, x: tuple[torch.Tensor, list[int]]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        inputs, sizes = x
        with torch.no_grad():
            return inputs, self.run(inputs.to(self.target)).cpu(), sizes

    def unbatch(self, output: tuple[torch.Tensor, torch.Tensor, list[int]]) -> list[tuple[torch.Tensor, ...]]:
        inputs, outputs, sizes = output
        return list(zip(inputs.split(sizes), outputs.split(sizes)))

    def encode_response(self, output: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        return self.answer(*output)


class FizzBuzzAPI(ServedModel, serves=FizzBuzzClassifier):
    key, example, dtype = "numbers", '{"numbers": [1, 2, 3, 15]}', torch.long

    def check(self, body: Any) -> None:
        digits = self.hparams["num_digits"]
        top = max_number(digits)
        for i, number in enumerate(_items(body, self.key, self.example)):
            if type(number) is not int or not 1 <= number <= top:  # not bool (an int to Python), not 3.0
                why = f"from 1 to {top} (2**{digits} - 1, the largest number the model's {digits} input bits encode)"
                raise BadRequest(422, f"numbers[{i}] = {_show(number)} is not allowed: expected an integer {why}.")

    def run(self, numbers: torch.Tensor) -> torch.Tensor:
        return self.model(binary_encode(numbers, self.hparams["num_digits"])).argmax(dim=1)

    def answer(self, numbers: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
        return {"answers": [decode(n, label) for n, label in zip(numbers.tolist(), labels.tolist())]}


class RegressorAPI(ServedModel, serves=Regressor):
    key, width_key, example = "inputs", "d_in", '{"inputs": [[...d_in numbers], ...]}'

    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)

    def answer(self, inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
        return {"outputs": _json_floats(outputs)}


class GANAPI(ServedModel, serves=GAN):
    key, width_key, example = "ideas", "n_ideas", '{"ideas": [[...n_ideas numbers], ...]}'

    def run(self, ideas: torch.Tensor) -> torch.Tensor:
        return self.model.predict_step((ideas,), 0)  # each painting and its verdict, as predict writes them

    def answer(self, ideas: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
        a, rms, inside = outputs[:, -3:].T
        verdict = {"a": _json_floats(a), "rms": _json_floats(rms), "inside": [v == 1 for v in inside.tolist()]}
        return {"paintings": _json_floats(outputs[:, :-3]), **verdict}
