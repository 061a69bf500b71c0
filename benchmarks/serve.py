"""Load test of ``fizzlightning serve``: concurrent clients against a real server, every answer checked.

    python benchmarks/serve.py              # fits FizzBuzz for 3 epochs in a scratch directory, then 16 clients
                                            # send 2000 requests in all
    python benchmarks/serve.py --quick      # 4 clients, 100 requests: checks that the load test runs (CI)
    python benchmarks/serve.py --root DIR   # serves the newest finished run of --config under DIR, fits nothing
    python benchmarks/serve.py --api-key    # the server asks for a random LIT_SERVER_API_KEY, which clients send

The server is ``python -m fizzlightning serve --config CONFIG`` on 127.0.0.1 and a free port, started as a user
starts it; the load starts once ``/health`` says ok and one request was answered. Each request holds 1 to
``--numbers`` random numbers from 1..100. "wrong answers" counts served answers that differ from what the same
checkpoint answers in-process (loaded with ``fizzlightning.runs.checkpoints`` and the model class): faults of the
serving path (batching, splitting, encoding), not of the model, whose own score on 1..100 is printed below the
table. Clients and server share this machine's cores. Exits 1 unless errors and wrong answers are both 0.
Everything it writes (the fit, the server's logs) is in a temporary directory that is removed at the end.
"""

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import launch
import torch

from fizzlightning import extras
from fizzlightning.errors import MissingExtra
from fizzlightning.lessons import fizzbuzz as game
from fizzlightning.runs.checkpoints import load_checkpoint, rebuild_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import fizz_buzz_encode  # noqa: E402  the lessons' if/else: the one copy of the oracle

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "lightning_configs" / "fizzbuzz.yaml"
FIT = ["--trainer.max_epochs", "3", "--trainer.enable_progress_bar", "false"]


def fizzbuzz(n: int) -> str:
    """The game as the lessons play it: their if/else label, said as a word."""
    return game.decode(n, fizz_buzz_encode(n))


def in_process_answers(ckpt_path: str) -> dict[int, str]:
    """What the checkpoint answers for 1..100 without the server: its class, its weights, eval mode."""
    model = rebuild_model(load_checkpoint(ckpt_path), ckpt_path)
    numbers = torch.arange(1, 101)
    with torch.no_grad():
        labels = model(game.binary_encode(numbers, model.hparams.num_digits)).argmax(dim=1)
    return {n: game.decode(n, label) for n, label in zip(numbers.tolist(), labels.tolist())}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    root: Path, logs: Path, config: Path, port: int, extra: list[str], key: str | None
) -> subprocess.Popen:
    """The server, asking for ``key`` (``LIT_SERVER_API_KEY``) or, whatever this environment holds, for none."""
    args = ["serve", "--config", str(config), "--port", str(port), *extra]
    env = {name: value for name, value in launch.environment().items() if name != "LIT_SERVER_API_KEY"}
    env.update({"LIT_SERVER_API_KEY": key} if key else {})
    with (logs / "server.out").open("w") as out, (logs / "server.err").open("w") as err:
        # its own process group: stop() reaches LitServe's HTTP and inference processes too
        return launch.start(args, root, env, stdout=out, stderr=err, start_new_session=True)


def stop(server: subprocess.Popen) -> None:
    """SIGTERM (the server's own shutdown), then SIGKILL to whatever of its process group is left."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def wait_until_ready(
    httpx, server: subprocess.Popen, url: str, logs: Path, headers: dict[str, str], timeout: float = 120
) -> str:
    """The checkpoint the server printed that it serves, once it answers; the server's stderr if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited {server.returncode}:\n{(logs / 'server.err').read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).text == "ok":
                httpx.post(f"{url}/predict", json={"numbers": [1]}, headers=headers, timeout=30).raise_for_status()
                return re.search(r" from (.+) at http", (logs / "server.out").read_text())[1]
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


async def load(
    httpx, url: str, requests: list[list[int]], clients: int, expected: dict[int, str], headers: dict[str, str]
) -> dict:
    """``clients`` concurrent clients share out ``requests``; each answer is timed and checked."""
    queue = iter(range(len(requests)))
    latencies, errors, wrong = [], [], 0

    async def client(http) -> None:
        nonlocal wrong
        for index in queue:  # one shared iterator: each request is sent once, by whichever client is free
            numbers = requests[index]
            start = time.perf_counter()
            try:
                response = await http.post(f"{url}/predict", json={"numbers": numbers})
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text[:200]}")
            elif response.json() != {"answers": [expected[n] for n in numbers]}:
                wrong += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "latencies": latencies, "errors": errors, "wrong": wrong}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=2000, help="requests in all (default 2000)")
    parser.add_argument("--numbers", type=int, default=10, help="at most this many numbers per request (10)")
    parser.add_argument("--quick", action="store_true", help="4 clients, 100 requests: checks the test runs")
    parser.add_argument("--root", type=Path, help="a directory with a finished run of --config (default: fit one)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="a FizzBuzz config (default: fizzbuzz.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="of the random numbers (default 0)")
    parser.add_argument("--serve-args", default="", help="more arguments for serve, e.g. '--max-batch-size 1'")
    parser.add_argument("--api-key", action="store_true", help="serve with a random LIT_SERVER_API_KEY, sent by all")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.requests = 4, 100
    try:
        extras.need("benchmarks/serve.py")
        extras.need("serve")
    except MissingExtra as error:
        print(f"fizzlightning: error: {error}", file=sys.stderr)
        return 2
    import httpx

    rng = random.Random(args.seed)
    requests = [[rng.randint(1, 100) for _ in range(rng.randint(1, args.numbers))] for _ in range(args.requests)]
    config = args.config.resolve()
    with tempfile.TemporaryDirectory(prefix="serve-benchmark-") as scratch:
        logs = Path(scratch)
        root = args.root.resolve() if args.root else logs
        if args.root is None:
            launch.run(["fit", "--config", str(config), *FIT], root)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        key = secrets.token_urlsafe(32) if args.api_key else None
        headers = {"X-API-Key": key} if key else {}
        server = start_server(root, logs, config, port, shlex.split(args.serve_args), key)
        try:
            ckpt_path = wait_until_ready(httpx, server, url, logs, headers)
            expected = in_process_answers(ckpt_path)
            result = asyncio.run(load(httpx, url, requests, args.clients, expected, headers))
        finally:
            stop(server)
        serving = (logs / "server.out").read_text().splitlines()[0]

    latencies = sorted(result["latencies"]) or [float("nan")]
    p50, p99 = (statistics.quantiles(latencies, n=100, method="inclusive")[q] * 1000 for q in (49, 98))
    errors, wrong = len(result["errors"]), result["wrong"]
    numbers = sum(len(r) for r in requests)
    print(
        "| clients | requests | numbers | seconds | requests/s | p50 latency | p99 latency | errors | wrong answers |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.clients} | {args.requests} | {numbers} | {result['seconds']:.2f} | "
        f"{args.requests / result['seconds']:.0f} | {p50:.1f} ms | {p99:.1f} ms | {errors} | {wrong} |"
    )
    skill = sum(expected[n] == fizzbuzz(n) for n in range(1, 101))
    print(
        f"\nwrong answers: served answers that differ from the same checkpoint's answers in-process (the serving "
        f"path, not the model). The model itself plays {skill}/100 of 1..100 right."
    )
    print(f"Server: {serving}")
    print(
        f"Command: {shlex.join([Path(sys.executable).name, *sys.argv])}" + (" (fit: 3 epochs)" if not args.root else "")
    )
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("fizzlightning", "torch", "litserve", "httpx"))
    print(
        f"Versions: python {platform.python_version()}, {versions}; {os.cpu_count()} CPU cores, shared by the "
        "clients and the server"
    )
    for error in result["errors"][:5]:
        print(f"error: {error}", file=sys.stderr)
    return 0 if errors == 0 and wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
