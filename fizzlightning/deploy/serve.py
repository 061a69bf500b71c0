"""``fizzlightning serve``: a trained checkpoint behind ``POST /predict``, served by LitServe.

Owns the serve command: its options, which checkpoint it serves (``layout.find_start``, the rule ``test`` uses),
each network's request and answer, the checks on requests, and the batching of requests. JSON in and out:

- FizzBuzzClassifier: ``{"numbers": [1, 2, 3, 15]}`` -> ``{"answers": ["1", "2", "fizz", "fizzbuzz"]}``, for
  integers (not booleans, not floats such as 3.0) from 1 to 2**num_digits - 1.
- Regressor: ``{"inputs": [[d_in numbers], ...]}`` -> ``{"outputs": [[d_out numbers], ...]}``.
- GAN: ``{"ideas": [[n_ideas numbers], ...]}`` -> ``{"paintings": [[art_components numbers], ...], "a": [...],
  "rms": [...], "inside": [true, ...]}``: a painting per idea and ``artist.judge``'s verdict on it.

A request holds 1 to ``MAX_ITEMS`` numbers or rows in at most ``MAX_BODY_BYTES``. Regressor and GAN inputs are
finite float32 numbers; an output that overflows float32 is ``null``. A refused request gets ``{"detail": "<one
sentence>"}``: 400 for a body that is not a JSON object, 413 for one too large, 415 for a Content-Type that
cannot hold JSON (none, a form as ``curl -d`` sends, or text is read as JSON), 422 for wrong content (a missing
or unknown key, a type, a range, a width, a count). Requests are checked in the HTTP process before LitServe
queues them (``RequestCheck``), not in ``decode_request``: LitServe 0.2.19's batched loop decodes a batch inside
one ``try`` and sends an ``HTTPException`` raised for one request to every request of the batch, failing the
good ones with it.
"""

import argparse
import json
import multiprocessing
import os
import shlex
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fizzlightning import extras
from fizzlightning.deploy.apis import SERVED, BadRequest, ServedModel
from fizzlightning.deploy.serving_worker import WorkerWatch
from fizzlightning.errors import CheckpointError, ConfigError, OneLineParser, RunError, require
from fizzlightning.runs import layout
from fizzlightning.runs.checkpoints import check_config_model, describe_model, load_checkpoint, rebuild_model

try:  # the optional extra `serve`: main() names it (extras.need) before anything here needs it
    from litserve import LitServer
except ImportError:
    LitServer = None

MAX_BODY_BYTES = 32 * 2**20
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # the only addresses LitServer.run binds


class RequestCheck:
    """ASGI middleware: checks each ``POST`` to the API's path in the HTTP process, before LitServe queues it."""

    def __init__(self, app: Callable, api: ServedModel) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.api.api_path:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:  # the whole body, keeping at most MAX_BODY_BYTES: a client reads no answer before it has sent
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            chunks += [message.get("body", b"")] if size <= MAX_BODY_BYTES else []
            more = message.get("more_body", False)
        media = dict(scope["headers"]).get(b"content-type", b"application/json").decode("latin-1")
        media = media.split(";")[0].strip().lower()
        try:
            # curl -d sends JSON as a form unless told otherwise: read that as the JSON it is
            json_like = media in ("application/json", "application/x-www-form-urlencoded", "text/plain")
            if not json_like and not (media.startswith("application/") and media.endswith("+json")):
                raise BadRequest(415, f"The body must be JSON, sent with Content-Type: application/json, not {media}.")
            if size > MAX_BODY_BYTES:
                raise BadRequest(413, f"The body has {size} bytes: at most {MAX_BODY_BYTES} are read.")
            try:
                parsed = json.loads(b"".join(chunks))
            except (ValueError, RecursionError) as error:  # RecursionError: arrays nested thousands deep
                example = self.api.example
                raise BadRequest(400, f"The body is not JSON ({error}): send a JSON object like {example}.") from None
            self.api.check(parsed)
        except BadRequest as error:
            status, message = error.args
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            return await send({"type": "http.response.body", "body": json.dumps({"detail": message}).encode()})
        replayed = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
        # the body is JSON now, whatever curl called it: FastAPI reads a body by its declared type
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"] + [
            (b"content-type", b"application/json")
        ]
        # LitServe reads the body once more; after it, the client's own messages (a disconnect)
        await self.app({**scope, "headers": headers}, lambda: _first(replayed, receive), send)


async def _first(replayed: list[dict[str, Any]], receive: Callable) -> dict[str, Any]:
    return replayed.pop() if replayed else await receive()


def build_parser() -> OneLineParser:
    """``fizzlightning serve``'s options (also its shell completion's)."""
    about = 'Serves a trained checkpoint at POST /predict: JSON {"numbers": [...]} for FizzBuzz, {"inputs": [[...]]}'
    about += ' for the regressor, {"ideas": [[...]]} for the GAN (pydoc fizzlightning.deploy.serve: formats, limits).'
    parser = OneLineParser(prog="fizzlightning serve", description=about, allow_abbrev=False)
    parser.add_argument("-c", "--config", required=True, metavar="PATH", help="the config the run was fit with")
    parser.add_argument("--ckpt_path", metavar="PATH", help="default: the newest finished run's chosen checkpoint")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default: this machine only), 0.0.0.0, ::")
    parser.add_argument("--port", type=int, default=8000, help="default: 8000")
    parser.add_argument(
        "--max-batch-size", type=int, default=64, metavar="N", help="requests per forward pass (default: 64)"
    )
    parser.add_argument(
        "--batch-timeout", type=float, default=0.005, metavar="S", help="seconds to fill a batch (0.005)"
    )
    return parser


def parse(args: list[str]) -> argparse.Namespace:
    options = build_parser().parse_args(args)
    require(options.host in HOSTS, "--host", options.host, "127.0.0.1, 0.0.0.0 or :: (LitServe binds no other)")
    require(1024 <= options.port <= 65535, "--port", options.port, "a port from 1024 to 65535 (LitServe's range)")
    require(options.max_batch_size >= 1, "--max-batch-size", options.max_batch_size, "1 (no batching) or more")
    require(0 <= options.batch_timeout <= 60, "--batch-timeout", options.batch_timeout, "0 to 60 seconds")
    return options


def _check_port(host: str, port: int) -> None:
    """A port already taken is a config mistake: one line now, not uvicorn's log and exit 1 later."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror}).") from None


def _stop_on_signals(watch: WorkerWatch) -> None:
    """Ctrl-C and SIGTERM stop the server by LitServer's own shutdown, which runs on KeyboardInterrupt.

    Without it SIGTERM would end this process alone, and its HTTP and inference processes would keep the port.
    The HTTP processes are forks that inherit the handler: there a signal keeps its default meaning. ``watch``
    sends SIGTERM too, when the inference worker dies; from the first signal on, a worker's end is the shutdown's.
    """
    server_pid = os.getpid()

    def stop(signum: int, frame: Any) -> None:
        if os.getpid() != server_pid:
            signal.signal(signum, signal.SIG_DFL)
            return os.kill(os.getpid(), signum)
        for each in (signal.SIGINT, signal.SIGTERM):  # one shutdown: a second signal would break it in two
            signal.signal(each, signal.SIG_IGN)
        watch.stop()
        raise KeyboardInterrupt

    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, stop)


def main(args: list[str], typed: list[str]) -> None:
    """``fizzlightning serve``: every mistake is a ``ConfigError`` raised before any server starts."""
    extras.need("serve")
    options, typed_config = parse(args), parse(typed).config  # messages name the config as the user typed it
    ckpt_path, model_class = layout.start_of_config("serve", Path(options.config), options.ckpt_path, typed_config)
    checkpoint = load_checkpoint(ckpt_path)
    check_config_model(checkpoint, model_class, ckpt_path, typed_config)
    model = rebuild_model(checkpoint, ckpt_path)  # refuses here what the inference worker could not serve
    hparams = checkpoint["hyper_parameters"]
    held = hparams["_class_path"]
    served = next((SERVED[cls] for cls in type(model).__mro__ if cls in SERVED), None)  # the nearest API
    if served is None:
        raise CheckpointError(
            f"{ckpt_path} holds {describe_model(held, hparams)}, which has no serving API: define "
            f"`class {type(model).__name__}API(ServedModel, serves={type(model).__name__})` (docs/development.md)."
        )
    _check_port(options.host, options.port)
    api = served(ckpt_path, hparams, options.max_batch_size, options.batch_timeout)
    server = LitServer(api, accelerator="auto", devices=1, middlewares=[(RequestCheck, {"api": api})])
    url = f"http://{f'[{options.host}]' if ':' in options.host else options.host}:{options.port}{api.api_path}"
    batching = f"batches of up to {options.max_batch_size} requests, {options.batch_timeout} s to fill"
    print(f"Serving {describe_model(held, hparams)} from {ckpt_path} at {url} ({batching}; Ctrl-C stops)", flush=True)
    watch = WorkerWatch(server, again=shlex.join(["fizzlightning", "serve", *typed]))
    _stop_on_signals(watch)
    try:
        server.run(host=options.host, port=options.port, generate_client_file=False, access_log=False)
    except RuntimeError as error:  # "One or more workers failed to start": the worker has logged why
        raise RunError(f"The server stopped: {error}.") from None
    except KeyboardInterrupt:  # the watch's SIGTERM before LitServe's try (a worker dead during its setup)
        if watch.death is None:
            raise
    finally:  # a failed start leaves LitServe's processes running: no process outlives the command
        watch.close()
        for child in multiprocessing.active_children():
            child.terminate()
    if watch.death:
        raise RunError(watch.death)
