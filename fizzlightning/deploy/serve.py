"""``fizzlightning serve``: a trained checkpoint behind ``POST /predict``, served by LitServe. JSON in and out:

- FizzBuzzClassifier: ``{"numbers": [1, 2, 3, 15]}`` -> ``{"answers": ["1", "2", "fizz", "fizzbuzz"]}``, for
  integers (not booleans, not floats such as 3.0) from 1 to 2**num_digits - 1.
- Regressor: ``{"inputs": [[d_in numbers], ...]}`` -> ``{"outputs": [[d_out numbers], ...]}``.
- GAN: ``{"ideas": [[n_ideas numbers], ...]}`` -> ``{"paintings": [[art_components numbers], ...], "a": [...],
  "rms": [...], "inside": [true, ...]}``: a painting per idea and ``artist.judge``'s verdict on it.

A request holds 1 to ``MAX_ITEMS`` numbers or rows in at most ``MAX_BODY_BYTES``. Regressor and GAN inputs are
finite float32 numbers; an output that overflows float32 is ``null``. A refused request gets ``{"detail": "<one
sentence>"}``: 400 for a body that is not a JSON object, 413 for one too large, 415 for a Content-Type that
cannot hold JSON (none, a form as ``curl -d`` sends, or text is read as JSON), 422 for wrong content (a missing
or unknown key, a type, a range, a width, a count), 408 for a body not whole ``--body-timeout`` s after its headers,
401 without the API key of ``LIT_SERVER_API_KEY`` when it is set. The API key, TLS and open binds: docs/serving.md.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shlex
import socket
import ssl
from collections.abc import Callable
from typing import Any

from fizzlightning import extras
from fizzlightning.deploy.apis import SERVED, BadRequest, ServedModel
from fizzlightning.deploy.export import FitConfig, run_model, run_parser
from fizzlightning.deploy.serving_worker import WorkerWatch
from fizzlightning.errors import CheckpointError, ConfigError, OneLineParser, RunError, require
from fizzlightning.runs.checkpoints import describe_model

try:  # the optional extra `serve`: main() names it (extras.need) before anything here needs it
    from litserve import LitServer
except ImportError:
    LitServer = None

MAX_BODY_BYTES = 32 * 2**20
BODY_SECONDS = 30.0  # the default --body-timeout: a whole body within this long after its headers
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # the only addresses LitServer.run binds
KEY_VARIABLE = "LIT_SERVER_API_KEY"  # LitServe's own name for its API key, which clients send as X-API-Key
KEY_HEADER = b"x-api-key"
HEALTH_PATH = "/health"  # LitServer's healthcheck_path: "ok" once the inference worker is ready, needing no key
OPEN_FLAG = "--insecure_no_api_key_on_open_bind"
JSON_MEDIA = ("application/json", "application/x-www-form-urlencoded", "text/plain")  # curl -d: a form, of JSON


async def _refuse(send: Callable, status: int, message: str, close: bool = False) -> None:
    """Answers ``{"detail": message}``; ``close``: the connection ends with it, the rest of the body unread."""
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(b"connection", b"close")] if close else []
    headers += [(b"www-authenticate", b"X-API-Key")] if status == 401 else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestCheck:
    """ASGI middleware in the HTTP process: the API key (``key``; None: none asked) on every request but ``GET
    /health``, compared in constant time before anything else is read; then each ``POST`` to the API's path, whose
    body must arrive whole within ``body_timeout`` s, before LitServe queues it. Not in ``decode_request``:
    LitServe 0.2.19's batched loop decodes a batch inside one ``try`` and sends an ``HTTPException`` raised for one
    request to every request of the batch, failing the good ones with it.
    """

    def __init__(self, app: Callable, api: ServedModel, key: bytes | None = None, body_timeout: float = 30) -> None:
        self.app, self.api, self.key, self.body_timeout = app, api, key, body_timeout

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        health = scope["method"] in ("GET", "HEAD") and scope["path"] == HEALTH_PATH
        if self.key is not None and not health and not secrets.compare_digest(headers.get(KEY_HEADER, b""), self.key):
            why = "missing" if KEY_HEADER not in headers else "wrong"
            return await _refuse(send, 401, f"The X-API-Key header is {why}: send the server's API key.", close=True)
        if scope["method"] != "POST" or scope["path"] != self.api.api_path:
            return await self.app(scope, receive, send)
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # before a byte is read
            message = f"The body declares {declared} bytes (Content-Length): at most {MAX_BODY_BYTES} are read."
            return await _refuse(send, 413, message, close=True)
        chunks, size, more = [], 0, True
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while more:  # the whole body, keeping at most MAX_BODY_BYTES: a client reads no answer before it has sent
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                why = f"The body did not arrive within {self.body_timeout:g} s (--body-timeout): send it whole."
                return await _refuse(send, 408, why, close=True)
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            chunks += [message.get("body", b"")] if size <= MAX_BODY_BYTES else []
            more = message.get("more_body", False)
        media = headers.get(b"content-type", b"application/json").decode("latin-1").split(";")[0].strip().lower()
        body = b"".join(chunks)
        try:
            if media not in JSON_MEDIA and not (media.startswith("application/") and media.endswith("+json")):
                raise BadRequest(415, f"The body must be JSON, sent with Content-Type: application/json, not {media}.")
            if size > MAX_BODY_BYTES:
                raise BadRequest(413, f"The body has {size} bytes: at most {MAX_BODY_BYTES} are read.")
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError) as error:  # RecursionError: arrays nested thousands deep
                example = self.api.example
                raise BadRequest(400, f"The body is not JSON ({error}): send a JSON object like {example}.") from None
            self.api.check(parsed)
        except BadRequest as error:
            return await _refuse(send, *error.args)
        replayed = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> dict[str, Any]:  # LitServe reads the body once more; then the client's own messages
            return replayed.pop() if replayed else await receive()

        # the body is JSON now, whatever curl called it: FastAPI reads a body by its declared type
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"] + [
            (b"content-type", b"application/json")
        ]
        await self.app({**scope, "headers": headers}, replay, send)


def build_parser() -> OneLineParser:
    """``fizzlightning serve``'s options (also its shell completion's)."""
    about = 'Serves a trained checkpoint at POST /predict: JSON {"numbers": [...]} for FizzBuzz, {"inputs": [[...]]}'
    about += ' for the regressor, {"ideas": [[...]]} for the GAN (pydoc fizzlightning.deploy.serve: formats, limits).'
    parser = run_parser("serve", about)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"127.0.0.1 (default: this machine only); 0.0.0.0 or :: need {KEY_VARIABLE} in the environment",
    )
    parser.add_argument("--port", type=int, default=8000, help="default: 8000")
    parser.add_argument(
        "--max-batch-size", type=int, default=64, metavar="N", help="requests per forward pass (default: 64)"
    )
    parser.add_argument(
        "--batch-timeout", type=float, default=0.005, metavar="S", help="seconds to fill a batch (0.005)"
    )
    parser.add_argument(
        "--body-timeout", type=float, default=BODY_SECONDS, metavar="S",
        help=f"seconds for a request's body to arrive whole, else 408 (default: {BODY_SECONDS:g})",
    )  # fmt: skip
    parser.add_argument(
        "--ssl_certfile", "--ssl-certfile", metavar="PATH", help="serve HTTPS with this PEM certificate (uvicorn's)"
    )
    parser.add_argument(
        "--ssl_keyfile", "--ssl-keyfile", metavar="PATH", help="its private key, unless the certificate file holds it"
    )
    parser.add_argument(
        OPEN_FLAG,
        action="store_true",
        help=f"serve 0.0.0.0 or :: without {KEY_VARIABLE}: anyone who can reach the port can use it",
    )
    return parser


def parse(args: list[str]) -> argparse.Namespace:
    options = build_parser().parse_args(args)
    require(options.host in HOSTS, "--host", options.host, "127.0.0.1, 0.0.0.0 or :: (LitServe binds no other)")
    require(1024 <= options.port <= 65535, "--port", options.port, "a port from 1024 to 65535 (LitServe's range)")
    require(options.max_batch_size >= 1, "--max-batch-size", options.max_batch_size, "1 (no batching) or more")
    require(0 <= options.batch_timeout <= 60, "--batch-timeout", options.batch_timeout, "0 to 60 seconds")
    require(0 < options.body_timeout <= 3600, "--body-timeout", options.body_timeout, "more than 0, at most 3600 s")
    return options


def api_key(options: argparse.Namespace) -> bytes | None:
    """The key from the environment (never an option: ``ps`` shows a command line), or None; an open bind needs it."""
    key = os.environ.get(KEY_VARIABLE) or None
    if key is None and options.host != "127.0.0.1" and not getattr(options, OPEN_FLAG[2:]):
        raise ConfigError(
            f"--host {options.host} serves every machine that can reach this one: set {KEY_VARIABLE} in the "
            f"environment (clients send it as X-API-Key), or pass {OPEN_FLAG} on a trusted network."
        )
    return None if key is None else key.encode()


def _no_passphrase() -> str:
    raise ConfigError("--ssl_keyfile is encrypted with a passphrase: serve takes an unencrypted key file.")


def check_tls(options: argparse.Namespace) -> dict[str, str]:
    """uvicorn's TLS options, once a TLS context has loaded them here: a file missing, unreadable, not PEM, or a
    key that is not the certificate's is one line now, not a traceback of LitServe's HTTP process later."""
    if options.ssl_certfile is None:
        require(options.ssl_keyfile is None, "--ssl_keyfile", options.ssl_keyfile, "--ssl_certfile beside it")
        return {}
    files = {n: path for n in ("ssl_certfile", "ssl_keyfile") if (path := getattr(options, n)) is not None}
    for name, path in files.items():
        if os.path.isdir(path) or not os.access(path, os.R_OK):
            raise ConfigError(f"--{name} {path}: no readable file there.")
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(options.ssl_certfile, options.ssl_keyfile, password=_no_passphrase)
    except ssl.SSLError as error:
        given = " and ".join(f"--{name} {path}" for name, path in files.items())
        why = error.reason or "OpenSSL cannot read them as PEM"  # KEY_VALUES_MISMATCH: a key of another certificate
        raise ConfigError(f"{given}: not a PEM certificate and its private key ({why}).") from None
    return files


def _check_port(host: str, port: int) -> None:
    """A port already taken is a config mistake: one line now, not uvicorn's log and exit 1 later."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror}).") from None


def main(args: list[str], typed: list[str], fit_config: FitConfig) -> None:
    """``fizzlightning serve``: every mistake is a ``ConfigError`` raised before any server starts."""
    extras.need("serve")
    options = parse(args)
    typed_config = parse(typed).config or options.config  # messages name the config as the user typed it
    key, tls = api_key(options), check_tls(options)  # before the checkpoint: a mistake of this command line
    # fails here what the worker could not
    ckpt_path, checkpoint, model = run_model("serve", options, typed_config, fit_config)
    hparams = checkpoint["hyper_parameters"]
    held = describe_model(hparams["_class_path"], hparams)
    served = next((SERVED[cls] for cls in type(model).__mro__ if cls in SERVED), None)  # the nearest API
    if served is None:
        raise CheckpointError(
            f"{ckpt_path} holds {held}, which has no serving API: define `class {type(model).__name__}API("
            f"ServedModel, serves={type(model).__name__})` (docs/development.md)."
        )
    _check_port(options.host, options.port)
    api = served(ckpt_path, hparams, options.max_batch_size, options.batch_timeout)
    check = {"api": api, "key": key, "body_timeout": options.body_timeout}
    server = LitServer(
        api, accelerator="auto", devices=1, healthcheck_path=HEALTH_PATH, middlewares=[(RequestCheck, check)]
    )
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"{'https' if tls else 'http'}://{host}:{options.port}{api.api_path}"
    batching = f"batches of up to {options.max_batch_size} requests, {options.batch_timeout} s to fill"
    guard = f"the X-API-Key of {KEY_VARIABLE}" if key else "no API key"
    print(f"Serving {held} from {ckpt_path} at {url} ({guard}; {batching}; Ctrl-C stops)", flush=True)
    watch = WorkerWatch(server, again=shlex.join(["fizzlightning", "serve", *typed]))
    try:
        server.run(host=options.host, port=options.port, generate_client_file=False, access_log=False, **tls)
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
