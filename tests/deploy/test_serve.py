"""``fizzlightning serve``: a real server in a subprocess per network, asked good and bad requests over HTTP.

Each network's server starts once (module-scoped fixtures: a start costs seconds) after a tiny fit, and the
expected answers come from the same checkpoint loaded in-process here, without fizzlightning.deploy.serve.
"""

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks import launch
from fizzlightning.commands.main import main
from fizzlightning.deploy import apis, serve, serving_worker
from fizzlightning.lessons import artist, fizzbuzz
from fizzlightning.models.classifier import FizzBuzzClassifier
from fizzlightning.models.gan import GAN
from fizzlightning.models.regressor import Regressor
from fizzlightning.runs.checkpoints import load_checkpoint, rebuild_model
from tests.helpers import CONFIGS, FIZZBUZZ, REGRESSOR, ROOT, clean_env, fit_in, write

BENCHMARK = ROOT / "benchmarks" / "serve.py"
GAN_FIT = [
    "--trainer.max_epochs", "1",
    "--data.init_args.steps_per_epoch", "5",
    "--data.init_args.eval_paintings", "20",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port``, from the kernel's table (Linux)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN; the address is in native byte order
            found.add(socket.inet_ntoa(struct.pack("=I", int(address, 16))))
    return found


def live_processes(group: int) -> list[str]:
    """The processes of process group ``group`` that are still running (zombies left for init to reap excepted)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(stat.parent.name)
    return alive


def family(pid: int) -> dict[tuple[int, str], str]:
    """Every descendant of ``pid`` now, by (pid, start time: a pid can be reused), with its command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields[1]: the parent's pid (this kernel has no /proc/PID/task/*/children)
            child = int(stat.parent.name)
            found[(child, fields[19])] = command  # fields[19]: start time, in clock ticks since boot
            found.update(family(child))
    return found


def still_running(processes: dict[tuple[int, str], str]) -> list[str]:
    """Those of ``processes`` (from ``family``) still running: not gone, not a zombie left for init to reap."""
    alive = []
    for pid, started in processes:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == started and fields[0] != "Z":
            alive.append(processes[pid, started])
    return alive


def inference_worker(processes: dict[tuple[int, str], str]) -> int:
    """The pid of LitServe's inference worker among a server's ``processes``: its one spawned process."""
    (pid,) = [pid for (pid, _), command in processes.items() if "multiprocessing.spawn" in command]
    return pid


def wait_until_gone(processes: dict[tuple[int, str], str], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while still_running(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return still_running(processes)


def killed_worker_line(pid: int, port: int) -> str:
    """What a SIGKILLed inference worker of ``serve --config fizzbuzz.yaml --port PORT`` leaves on stderr."""
    return (
        f"fizzlightning: error: The server stopped: its inference worker (pid {pid}) was killed by SIGKILL, often "
        "the out-of-memory killer (the kernel log, `dmesg`, says if it was). Free some memory or lower "
        f"--max-batch-size, then serve again: `fizzlightning serve --config fizzbuzz.yaml --port {port}`."
    )


class Server:
    """``python -m fizzlightning serve ARGS --port P`` in ``cwd``, in its own process group, once it answers.

    ``port``: a free one unless given; ``name``: of its output files in ``cwd``, ``NAME.out`` and ``NAME.err``;
    ``key``: its ``LIT_SERVER_API_KEY`` (none by default, whatever this environment holds), sent with every
    request but raw ones; ``ca``: the certificate of a server started with ``--ssl_certfile``, to trust it.
    """

    def __init__(
        self, cwd: Path, *args: str, port: int | None = None, name: str = "serve", key: str | None = None,
        ca: Path | None = None,
    ) -> None:  # fmt: skip
        self.port = port or free_port()
        self.url = f"{'https' if ca else 'http'}://127.0.0.1:{self.port}"
        self.out, self.err = cwd / f"{name}.out", cwd / f"{name}.err"
        self.headers = {"X-API-Key": key} if key else {}
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        env = {k: v for k, v in clean_env().items() if k != serve.KEY_VARIABLE}
        env.update({serve.KEY_VARIABLE: key} if key else {})
        with self.out.open("w") as out, self.err.open("w") as err:
            command = ["serve", *args, "--port", str(self.port)]
            self.process = launch.start(command, cwd, env, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 120
        while not self.ready():
            assert self.process.poll() is None, f"serve exited {self.process.returncode}: {self.err.read_text()}"
            assert time.monotonic() < deadline, "serve did not answer /health within 120 s"
            time.sleep(0.2)

    def ready(self) -> bool:
        try:  # no key: /health needs none
            return httpx.get(f"{self.url}/health", timeout=2, verify=self.verify).text == "ok"
        except httpx.HTTPError:
            return False

    def post(self, **request) -> httpx.Response:
        headers = {**self.headers, **request.pop("headers", {})}
        return httpx.post(f"{self.url}/predict", timeout=30, headers=headers, verify=self.verify, **request)

    def raw(self, request: bytes) -> bytes:
        """``request`` sent as it is on a new connection (TLS if the server has it); what came back until the
        server closed the connection."""
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        if isinstance(self.verify, ssl.SSLContext):
            connection = self.verify.wrap_socket(connection, server_hostname="127.0.0.1")
        with connection:
            connection.sendall(request)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        return answer

    def stop(self, signum: int = signal.SIGTERM, group: bool = False) -> int:
        """Send ``signum`` to the server (or, as Ctrl-C does, to its whole group); its exit code."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=60)
        finally:
            if live_processes(self.process.pid):
                os.killpg(self.process.pid, signal.SIGKILL)


def best_checkpoint(root: Path) -> str:
    return launch.fit_record(root)["best_checkpoint"]


def in_process(model_class: type, ckpt_path: str) -> torch.nn.Module:
    model = rebuild_model(load_checkpoint(ckpt_path), ckpt_path)
    assert isinstance(model, model_class)
    return model


@pytest.fixture(scope="module")
def fizzbuzz_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-fizzbuzz")
    fit_in(root, "fizzbuzz.yaml", FIZZBUZZ)
    return root


@pytest.fixture(scope="module")
def fizzbuzz_server(fizzbuzz_root):
    # no --host: the default; a batch waits 50 ms to fill, so that requests sent together share a batch
    server = Server(fizzbuzz_root, "--config", "fizzbuzz.yaml", "--batch-timeout", "0.05")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def play(fizzbuzz_root):
    """The checkpoint's own answers, in-process."""
    model = in_process(FizzBuzzClassifier, best_checkpoint(fizzbuzz_root))

    def answers(numbers: list[int]) -> list[str]:
        with torch.no_grad():
            labels = model(fizzbuzz.binary_encode(torch.tensor(numbers), 8)).argmax(dim=1).tolist()
        return [fizzbuzz.decode(n, label) for n, label in zip(numbers, labels)]

    return answers


def test_fizzbuzz_answers_are_the_checkpoints_and_the_run_rule_picks_it(fizzbuzz_server, fizzbuzz_root, play):
    numbers = [1, 2, 3, 5, 15, 100, 255, 3]
    response = fizzbuzz_server.post(json={"numbers": numbers})
    assert response.status_code == 200, response.text
    assert response.json() == {"answers": play(numbers)}
    every = list(range(1, 256))
    answers = fizzbuzz_server.post(json={"numbers": every}).json()["answers"]
    assert answers == play(every)
    assert all(a == str(n) or a in fizzbuzz.CLASSES[1:] for n, a in zip(every, answers))
    served = fizzbuzz_server.out.read_text().splitlines()[0]
    assert served.startswith("Serving FizzBuzzClassifier(num_digits=8, hidden=[8]")
    assert f"from {best_checkpoint(fizzbuzz_root)} at {fizzbuzz_server.url}/predict" in served


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_plain_curl_d_plays_the_game(fizzbuzz_server, play):
    # the README's command: curl -d sends its JSON as a form, which the server reads as the JSON it is
    url = f"{fizzbuzz_server.url}/predict"
    done = subprocess.run(["curl", "-s", "-d", '{"numbers": [1, 2, 3, 15]}', url], capture_output=True, text=True)
    assert json.loads(done.stdout) == {"answers": play([1, 2, 3, 15])}


def test_the_server_listens_on_127_0_0_1_only_by_default(fizzbuzz_server):
    assert serve.parse(["--config", "x.yaml"]).host == "127.0.0.1"
    assert listening(fizzbuzz_server.port) == {"127.0.0.1"}  # not 0.0.0.0: no other machine can reach it


FORM = {"content-type": "application/x-www-form-urlencoded"}  # what curl -d sends
MULTIPART = {"content-type": "multipart/form-data; boundary=x"}
BAD_REQUESTS = {  # name: (request, status, what the message says)
    "not JSON": ({"content": b'{"numbers": [1,'}, 400, ["The body is not JSON", '{"numbers": [1, 2, 3, 15]}']),
    "empty body": ({"content": b""}, 400, ["The body is not JSON"]),
    "an array": ({"json": [1, 2]}, 400, ["must be a JSON object", "not a JSON array"]),
    "missing key": ({"json": {"number": [1]}}, 422, ['Missing key "numbers"', '{"numbers": [1, 2, 3, 15]}']),
    "unknown key": ({"json": {"numbers": [1], "n": 2}}, 422, ['Unknown key "n"', 'with the one key "numbers"']),
    "not a list": ({"json": {"numbers": 15}}, 422, ['"numbers" must be a JSON array', "not a JSON number"]),
    "a boolean": ({"json": {"numbers": [1, True]}}, 422, ["numbers[1] = true", "an integer from 1 to 255"]),
    "a float": ({"json": {"numbers": [3.0]}}, 422, ["numbers[0] = 3.0", "an integer from 1 to 255"]),
    "a string": ({"json": {"numbers": ["3"]}}, 422, ['numbers[0] = "3"', "an integer from 1 to 255"]),
    "NaN": ({"content": b'{"numbers": [NaN]}'}, 422, ["numbers[0] = NaN", "an integer from 1 to 255"]),
    "zero": ({"json": {"numbers": [4, 0]}}, 422, ["numbers[1] = 0", "from 1 to 255 (2**8 - 1"]),
    "too large": ({"json": {"numbers": [256]}}, 422, ["numbers[0] = 256", "from 1 to 255"]),
    "negative": ({"json": {"numbers": [-3]}}, 422, ["numbers[0] = -3", "from 1 to 255"]),
    "empty list": ({"json": {"numbers": []}}, 422, ['"numbers" holds 0 items', "expected 1 to 10000"]),
    "too many": ({"json": {"numbers": [1] * 10_001}}, 422, ['"numbers" holds 10001 items', "expected 1 to 10000"]),
    "a form": ({"content": b"numbers=1", "headers": FORM}, 400, ["The body is not JSON"]),
    "multipart": ({"content": b"x", "headers": MULTIPART}, 415, ["Content-Type: application/json"]),
    # sent chunked, its length undeclared: read through, and refused (a declared one: test_a_declared_body_...)
    "too large a body": ({"content": [b" " * (serve.MAX_BODY_BYTES + 1)]}, 413, ["at most 33554432 are read"]),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_a_bad_request_gets_one_clear_message_and_the_next_good_one_is_answered(fizzbuzz_server, play, name):
    request, status, says = BAD_REQUESTS[name]
    response = fizzbuzz_server.post(**request)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    for words in says:
        assert words in detail
    good = fizzbuzz_server.post(json={"numbers": [9, 10, 30]})
    assert good.status_code == 200 and good.json() == {"answers": play([9, 10, 30])}


def test_concurrent_requests_share_batches_and_a_bad_one_fails_no_other(fizzbuzz_server, play):
    good = [list(range(1 + i, 2 + 3 * i)) for i in range(20)]  # 20 requests of 1 to 58 numbers
    bad = [{"numbers": [0]}, {"numbers": [True]}, {"ideas": [1]}, {"numbers": []}, [7]]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            requests = [{"numbers": numbers} for numbers in good] + bad
            return await asyncio.gather(*(http.post(f"{fizzbuzz_server.url}/predict", json=r) for r in requests))

    responses = asyncio.run(send_all())
    for numbers, response in zip(good, responses):
        assert response.status_code == 200, response.text
        assert response.json() == {"answers": play(numbers)}
    assert [r.status_code for r in responses[len(good) :]] == [422, 422, 422, 422, 400]


def test_batch_concatenates_requests_and_unbatch_gives_each_its_own_answers(fizzbuzz_root, play):
    api = apis.FizzBuzzAPI(best_checkpoint(fizzbuzz_root), {"num_digits": 8}, max_batch_size=8, batch_timeout=0)
    handler, threads = signal.getsignal(signal.SIGINT), torch.get_num_threads()
    try:
        api.setup("cpu")  # a worker's setup ignores Ctrl-C and uses one thread: undone below for pytest
    finally:
        signal.signal(signal.SIGINT, handler)
        torch.set_num_threads(threads)
    requests = [[1, 2, 3], [15], [5, 6, 7, 8, 9, 10, 11]]
    numbers, sizes = api.batch([api.decode_request({"numbers": r}) for r in requests])
    assert numbers.tolist() == sum(requests, []) and sizes == [3, 1, 7]
    answers = [api.encode_response(each) for each in api.unbatch(api.predict((numbers, sizes)))]
    assert answers == [{"answers": play(r)} for r in requests]


def test_option_mistakes_are_one_line_and_exit_2(cli, tmp_path, capsys):
    config = write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    mistakes = {
        (): "No trained run to serve: found none under",  # without --config, the newest finished run
        ("--port", "abc"): "argument --port: invalid int value: 'abc'",
        ("--port", "80"): "--port = 80 is not allowed: expected a port from 1024 to 65535",
        ("--host", "10.0.0.1"): "--host = '10.0.0.1' is not allowed: expected 127.0.0.1, 0.0.0.0 or ::",
        ("--max-batch-size", "0"): "--max-batch-size = 0 is not allowed",
        ("--batch-timeout", "-1"): "--batch-timeout = -1.0 is not allowed",
        ("--body-timeout", "0"): "--body-timeout = 0.0 is not allowed",
        ("--bogus",): "unrecognized arguments: --bogus",
    }
    for args, says in mistakes.items():
        assert cli("serve", *(("--config", config) if args else ()), *args) == 2
        err = capsys.readouterr().err
        assert err.startswith("fizzlightning: error: ") and err.count("\n") == 1 and says in err, err


def test_a_port_in_use_or_a_checkpoint_of_another_network_is_one_line_and_exit_2(fizzbuzz_root, monkeypatch, capsys):
    monkeypatch.chdir(fizzbuzz_root)

    def serve_(*args: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exit_:
            main(["serve", *args])
        return exit_.value.code, capsys.readouterr().err

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = serve_("--config", "fizzbuzz.yaml", "--port", str(port))
    assert code == 2
    assert err == f"fizzlightning: error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use).\n"
    code, err = serve_("--config", "gan", "--ckpt_path", best_checkpoint(fizzbuzz_root))
    assert code == 2 and err.count("\n") == 1
    assert "--config gan: model = fizzlightning.models.gan.GAN changes the network or its data" in err
    assert "was trained with FizzBuzzClassifier(num_digits=8" in err


def test_without_a_finished_run_serve_says_what_to_fit_and_starts_nothing(tmp_path):
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    port = free_port()
    done = launch.start(["serve", "--config", "fizzbuzz.yaml", "--port", str(port)], tmp_path, clean_env())
    done.stdout, done.stderr = done.communicate(timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fizzlightning: error: No trained checkpoint to serve: found no finished run under ")
    assert str(tmp_path / "lightning_logs" / "fizzbuzz") in done.stderr
    assert "`fizzlightning fit --config fizzbuzz.yaml`" in done.stderr and done.stderr.count("\n") == 1
    assert listening(port) == set()


def test_without_litserve_serve_names_the_extra_to_install(tmp_path):
    # `sys.modules["litserve"] = None` makes `import litserve` raise ImportError and find_spec return None,
    # as in an environment without the package; the rest of the command runs as usual.
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    script = "import sys; sys.modules['litserve'] = None; "
    script += "from fizzlightning.commands.main import main; main(sys.argv[1:])"
    command = [sys.executable, "-c", script, "serve", "--config", "fizzbuzz.yaml"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 2
    expected = "serve needs litserve, which is not installed: pip install 'fizzlightning[serve]'"
    assert done.stderr == f"fizzlightning: error: {expected}\n"


def test_a_sigkilled_worker_stops_the_server_in_one_line_and_the_same_command_serves_again(fizzbuzz_root, play):
    server = Server(fizzbuzz_root, "--config", "fizzbuzz.yaml", name="killed")
    again = None
    try:
        assert server.post(json={"numbers": [1, 2, 3, 15]}).json() == {"answers": play([1, 2, 3, 15])}
        processes = family(server.process.pid)
        worker = inference_worker(processes)
        os.kill(worker, signal.SIGKILL)  # as the out-of-memory killer does
        closed = (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)  # not a timeout
        with pytest.raises(closed):  # sent to a dead worker: no answer, and its connection closes
            httpx.post(f"{server.url}/predict", json={"numbers": [3]}, timeout=120)
        code = server.process.wait(timeout=120)
        err, out = server.err.read_text(), server.out.read_text()
        assert code == 1, err
        errors = [line for line in err.splitlines() if "error" in line.lower()]
        assert errors == [killed_worker_line(worker, server.port)], err
        assert err.endswith(killed_worker_line(worker, server.port) + "\n")
        for never in ("Traceback", "EOFError", "died; shutting down", "KeyboardInterrupt"):
            assert never not in err + out, err + out
        assert wait_until_gone(processes) == []  # every process of the server, the worker's siblings too
        assert live_processes(server.process.pid) == [] and listening(server.port) == set()
        # a supervisor runs the same command again: it binds the same port and answers
        again = Server(fizzbuzz_root, "--config", "fizzbuzz.yaml", port=server.port, name="killed-again")
        assert again.post(json={"numbers": [9, 10, 30]}).json() == {"answers": play([9, 10, 30])}
        assert again.stop() == 0
    finally:
        server.stop(signal.SIGKILL, group=True)
        if again:
            again.stop(signal.SIGKILL, group=True)


def test_a_worker_killed_while_it_loads_the_checkpoint_stops_the_server_in_one_line(fizzbuzz_root):
    port = free_port()
    command = ["serve", "--config", "fizzbuzz.yaml", "--port", str(port)]
    process = launch.start(command, fizzbuzz_root, clean_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        processes = family(process.pid)
        while not any("multiprocessing.spawn" in command for command in processes.values()):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.02)
            processes = family(process.pid)
        worker = inference_worker(processes)
        os.kill(worker, signal.SIGKILL)  # before the worker is ready: LitServe would wait for it for ever
        out, err = process.communicate(timeout=120)
        assert process.returncode == 1, err
        assert "Traceback" not in out + err and err.count("fizzlightning: error:") == 1
        assert err.endswith(killed_worker_line(worker, port) + "\n"), err
        assert wait_until_gone(processes) == [] and live_processes(process.pid) == []
        assert listening(port) == set()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_how_a_worker_ended_in_words():
    assert serving_worker.how_it_ended(-signal.SIGKILL).startswith("was killed by SIGKILL, often the out-of-memory")
    assert serving_worker.how_it_ended(-signal.SIGSEGV) == "was killed by SIGSEGV (Segmentation fault)"
    assert serving_worker.how_it_ended(3) == "exited with code 3"


@pytest.fixture(scope="module")
def regressor_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-regressor")
    fit_in(root, "regressor.yaml", REGRESSOR)
    server = Server(root, "--config", "regressor.yaml")
    server.model = in_process(Regressor, best_checkpoint(root))
    yield server
    server.stop()


def test_the_regressor_serves_its_outputs_and_refuses_a_short_row(regressor_server):
    inputs = torch.randn(3, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = regressor_server.model(inputs)
    response = regressor_server.post(json={"inputs": inputs.tolist()})
    assert response.status_code == 200, response.text
    assert torch.allclose(torch.tensor(response.json()["outputs"]), expected, rtol=1e-5, atol=1e-6)
    short = regressor_server.post(json={"inputs": [inputs[0].tolist(), inputs[1, :19].tolist()]})
    assert short.status_code == 422
    assert (
        short.json()["detail"]
        == "inputs[1] has 19 numbers: expected a list of d_in = 20 numbers (the model's input width)."
    )
    text = regressor_server.post(json={"inputs": [[0.5, "x", *[0.0] * 18]]})
    assert (
        text.status_code == 422
        and 'inputs[0][1] = "x" is not allowed: expected a finite number' in text.json()["detail"]
    )
    again = regressor_server.post(json={"inputs": inputs[:1].tolist()})
    assert torch.allclose(torch.tensor(again.json()["outputs"]), expected[:1], rtol=1e-5, atol=1e-6)


def test_sigterm_stops_the_server_and_all_its_processes_without_a_traceback(regressor_server):
    assert regressor_server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in regressor_server.err.read_text() + regressor_server.out.read_text()
    deadline = time.monotonic() + 10
    while live_processes(regressor_server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_processes(regressor_server.process.pid) == []
    assert listening(regressor_server.port) == set()


@pytest.fixture(scope="module")
def gan_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-gan")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        main(["fit", "--config", str(CONFIGS / "gan.yaml"), *GAN_FIT])
    server = Server(root, "--config", str(CONFIGS / "gan.yaml"))
    server.model = in_process(GAN, best_checkpoint(root))
    yield server
    server.stop()


def test_the_gan_paints_an_idea_judges_it_and_refuses_a_boolean(gan_server):
    ideas = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        paintings = gan_server.model(ideas)
    a, rms, inside = artist.judge(paintings, gan_server.model.points)
    response = gan_server.post(json={"ideas": ideas.tolist()})
    assert response.status_code == 200, response.text
    served = response.json()
    assert set(served) == {"paintings", "a", "rms", "inside"}
    assert torch.allclose(torch.tensor(served["paintings"]), paintings, rtol=1e-5, atol=1e-6)
    assert torch.allclose(torch.tensor(served["a"]), a, rtol=1e-5, atol=1e-6)
    assert torch.allclose(torch.tensor(served["rms"]), rms, rtol=1e-4, atol=1e-6)
    assert served["inside"] == [bool(v) for v in inside.tolist()]
    refused = gan_server.post(json={"ideas": [[0.1, 0.2, 0.3, 0.4, True]]})
    assert refused.status_code == 422 and "ideas[0][4] = true is not allowed" in refused.json()["detail"]
    again = gan_server.post(json={"ideas": ideas[:2].tolist()})
    assert torch.allclose(torch.tensor(again.json()["paintings"]), paintings[:2], rtol=1e-5, atol=1e-6)


def test_ctrl_c_stops_the_server_and_all_its_processes_without_a_traceback(gan_server):
    assert gan_server.stop(signal.SIGINT, group=True) == 0  # a terminal's Ctrl-C signals the whole group
    assert "Traceback" not in gan_server.err.read_text() + gan_server.out.read_text()
    deadline = time.monotonic() + 10
    while live_processes(gan_server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_processes(gan_server.process.pid) == []


@pytest.mark.parametrize("key", [[], ["--api-key"]], ids=["no key", "a key"])
def test_the_quick_load_test_gets_every_answer_right(tmp_path, key):
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", *key], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    header, _, row = done.stdout.splitlines()[:3]
    cells = {key.strip(): value.strip() for key, value in zip(header.split("|")[1:-1], row.split("|")[1:-1])}
    assert cells["clients"] == "4" and cells["requests"] == "100"
    assert cells["errors"] == "0" and cells["wrong answers"] == "0"
    assert float(cells["requests/s"]) > 0
    assert ("(the X-API-Key of LIT_SERVER_API_KEY;" in done.stdout) == bool(key), done.stdout
    assert not list(tmp_path.iterdir())  # the fit and the server's logs lived in a temporary directory


KEY = "fizzlightning-test-key-3b1f"  # the keyed server's LIT_SERVER_API_KEY


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own new key: (certificate file, key file), PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"), "server")


@pytest.fixture(scope="module")
def keyed_server(fizzbuzz_root, tls):
    """The API key from the environment, TLS with a certificate made here, 2 s for a body to arrive."""
    cert, key = tls
    args = ["--config", "fizzbuzz.yaml", "--ssl_certfile", str(cert), "--ssl_keyfile", str(key), "--body-timeout", "2"]
    server = Server(fizzbuzz_root, *args, name="keyed", key=KEY, ca=cert)
    yield server
    server.stop()


WRONG = {"X-API-Key": "wrong"}
RIGHT = {"X-API-Key": KEY}
MATRIX = {  # request: (method, path, headers, JSON body, status)
    "predict, no key": ("POST", "/predict", {}, {"numbers": [3, 5]}, 401),
    "predict, wrong key": ("POST", "/predict", WRONG, {"numbers": [3, 5]}, 401),
    "predict, right key": ("POST", "/predict", RIGHT, {"numbers": [3, 5]}, 200),
    "predict, no key, a bad body": ("POST", "/predict", {}, {"numbers": [0]}, 401),
    "predict, right key, a bad body": ("POST", "/predict", RIGHT, {"numbers": [0]}, 422),
    "health, no key": ("GET", "/health", {}, None, 200),
    "health, wrong key": ("GET", "/health", WRONG, None, 200),
    "info, no key": ("GET", "/info", {}, None, 401),
    "info, right key": ("GET", "/info", RIGHT, None, 200),
}


def test_the_request_matrix_over_tls_with_a_key(keyed_server, play):
    served = keyed_server.out.read_text().splitlines()[0]
    assert f"at {keyed_server.url}/predict (the X-API-Key of LIT_SERVER_API_KEY;" in served
    assert keyed_server.url.startswith("https://")
    with httpx.Client(base_url=keyed_server.url, verify=keyed_server.verify, timeout=30) as http:
        got = {
            name: http.request(method, path, headers=headers, json=body)
            for name, (method, path, headers, body, _) in MATRIX.items()
        }
    assert {name: r.status_code for name, r in got.items()} == {name: case[-1] for name, case in MATRIX.items()}
    assert got["predict, right key"].json() == {"answers": play([3, 5])}
    assert got["health, no key"].text == "ok"  # and nothing more: no model, no configuration
    for name in ("predict, no key", "predict, no key, a bad body"):
        assert got[name].json() == {"detail": "The X-API-Key header is missing: send the server's API key."}
    assert got["predict, wrong key"].json()["detail"].startswith("The X-API-Key header is wrong")
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port: no answer at all
        httpx.get(f"http://127.0.0.1:{keyed_server.port}/health", timeout=30)


def test_every_route_but_health_needs_the_key(keyed_server):
    with httpx.Client(base_url=keyed_server.url, verify=keyed_server.verify, timeout=30) as http:
        schema = http.get("/openapi.json", headers=RIGHT).json()  # every route LitServe registered
        routes = [(method.upper(), path) for path, methods in schema["paths"].items() for method in methods]
        routes += [("GET", "/docs"), ("GET", "/openapi.json")]
        assert ("GET", "/health") in routes and ("POST", "/predict") in routes
        for method, path in routes:
            status = http.request(method, path).status_code
            assert status == (200 if path == "/health" else 401), (method, path, status)


def test_any_other_key_gets_401(keyed_server):
    # the key with each of its characters changed in turn, cut short, lengthened, in capitals, empty
    flipped = [KEY[:i] + chr(ord(KEY[i]) ^ 1) + KEY[i + 1 :] for i in range(len(KEY))]
    with httpx.Client(base_url=keyed_server.url, verify=keyed_server.verify, timeout=30) as http:
        for key in [*flipped, KEY[:-1], KEY + "f", KEY.upper(), f"{KEY} {KEY}", ""]:
            response = http.post("/predict", json={"numbers": [15]}, headers={"X-API-Key": key})
            assert response.status_code == 401, key
            assert response.json() == {"detail": "The X-API-Key header is wrong: send the server's API key."}


@pytest.mark.parametrize("name", ["fizzbuzz_server", "keyed_server"])
def test_a_declared_body_over_the_limit_gets_413_before_a_byte_is_sent(request, name):
    # 100 MB declared, nothing sent: a server that waited for the body would answer 408 at --body-timeout
    server = request.getfixturevalue(name)
    head = "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
    head += "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    answer = server.raw(f"POST /predict HTTP/1.1\r\nHost: x\r\n{head}".encode())
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.split(b"\r\n")[0] == b"HTTP/1.1 413 Request Entity Too Large", answer
    assert json.loads(body) == {
        "detail": f"The body declares 100000000 bytes (Content-Length): at most {serve.MAX_BODY_BYTES} are read."
    }
    assert server.post(json={"numbers": [15]}).status_code == 200


def test_a_stalled_body_gets_408_after_the_body_timeout(keyed_server):
    answer = keyed_server.raw(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode()
        + b'\r\nContent-Length: 100\r\n\r\n{"numbers": ['
    )  # fmt: skip
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout", answer
    assert json.loads(body)["detail"] == "The body did not arrive within 2 s (--body-timeout): send it whole."


@pytest.mark.parametrize("host", [host for host in serve.HOSTS if host != "127.0.0.1"])
def test_an_open_bind_without_a_key_is_refused_before_it_binds(cli, tmp_path, capsys, monkeypatch, host):
    monkeypatch.delenv(serve.KEY_VARIABLE, raising=False)
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    assert cli("serve", "--config", "fizzbuzz.yaml", "--host", host) == 2
    err = capsys.readouterr().err
    assert err == (
        f"fizzlightning: error: --host {host} serves every machine that can reach this one: set LIT_SERVER_API_KEY "
        "in the environment (clients send it as X-API-Key), or pass --insecure_no_api_key_on_open_bind on a "
        "trusted network.\n"
    )
    monkeypatch.setenv(serve.KEY_VARIABLE, "")  # an empty key is no key
    assert cli("serve", "--config", "fizzbuzz.yaml", "--host", host) == 2
    monkeypatch.setenv(serve.KEY_VARIABLE, KEY)
    assert serve.api_key(serve.parse(["--config", "x.yaml", "--host", host])) == KEY.encode()


def test_the_open_bind_flag_serves_every_address_without_a_key(fizzbuzz_root, play):
    # binds 0.0.0.0, as the flag asks; every request goes to 127.0.0.1
    server = Server(fizzbuzz_root, "--config", "fizzbuzz.yaml", "--host", "0.0.0.0", serve.OPEN_FLAG, name="open")
    try:
        assert listening(server.port) == {"0.0.0.0"}
        assert server.post(json={"numbers": [3, 5]}).json() == {"answers": play([3, 5])}
        assert "(no API key;" in server.out.read_text().splitlines()[0]
    finally:
        server.stop()


def test_tls_file_mistakes_are_one_line_and_exit_2(cli, tmp_path, capsys, tls):
    write(tmp_path, "fizzbuzz.yaml", FIZZBUZZ)
    cert, key = tls
    other_cert, other_key = self_signed(tmp_path, "other")
    missing = tmp_path / "missing.pem"
    mistakes = {
        ("--ssl_certfile", missing): f"--ssl_certfile {missing}: no readable file there.",
        ("--ssl_certfile", tmp_path): f"--ssl_certfile {tmp_path}: no readable file there.",
        ("--ssl_certfile", cert, "--ssl_keyfile", missing): f"--ssl_keyfile {missing}: no readable file there.",
        ("--ssl_keyfile", key): "--ssl_keyfile = '" + str(key) + "' is not allowed: expected --ssl_certfile beside it",
        ("--ssl_certfile", cert, "--ssl_keyfile", other_key): "not a PEM certificate and its private key",
        ("--ssl_certfile", key): f"--ssl_certfile {key}: not a PEM certificate and its private key",
        ("--ssl_certfile", tmp_path / "fizzbuzz.yaml"): "not a PEM certificate and its private key",
    }
    for args, says in mistakes.items():
        assert cli("serve", "--config", "fizzbuzz.yaml", *map(str, args)) == 2
        err = capsys.readouterr().err
        assert err.startswith("fizzlightning: error: ") and err.count("\n") == 1 and says in err, err


def test_the_key_is_compared_by_secrets_compare_digest(monkeypatch):
    # a comparison's time cannot be asserted (tests never time): the check is that the constant-time function
    # is the one that decides, called in-process on a request without a server
    compared, answered = [], []
    real = serve.secrets.compare_digest
    monkeypatch.setattr(serve.secrets, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))

    async def app(scope, receive, send) -> None:
        answered.append(scope["path"])

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    check = serve.RequestCheck(app, api=None, key=KEY.encode())
    for key in (KEY, "wrong"):
        scope = {"type": "http", "method": "GET", "path": "/info", "headers": [(b"x-api-key", key.encode())]}
        asyncio.run(check(scope, None, send))
    assert compared == [(KEY.encode(), KEY.encode()), (b"wrong", KEY.encode())]
    assert answered == ["/info", 401]
