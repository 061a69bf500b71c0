"""What a user's browser would show: a real TensorBoard server on loopback, read through its HTTP API."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .test_cli import TINY_FIZZBUZZ, only_run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tensorboard(tmp_path):
    """Starts TensorBoard on ``tmp_path/lightning_logs`` when called; returns a GET/POST function for its API."""
    processes = []

    def start():
        port = free_port()
        command = [Path(sys.executable).parent / "tensorboard", "--logdir", tmp_path / "lightning_logs"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def request(path: str, body: dict | None = None):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
                return json.loads(raw) if response.headers.get_content_type() == "application/json" else raw

        def up(_):
            try:
                request("/data/runs")
                return True
            except OSError:
                assert processes[-1].poll() is None, "TensorBoard exited"
                return False

        wait_for(lambda: None, up)
        return request

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def wait_for(fetch, ready, timeout: float = 60):
    """TensorBoard loads event files in the background: poll until ``ready(fetch())``."""
    deadline = time.monotonic() + timeout
    while not ready(value := fetch()):
        assert time.monotonic() < deadline, f"TensorBoard never showed it; last answer: {value}"
        time.sleep(0.5)
    return value


def test_dashboards_show_curves_board_images_and_hparams(cli, tmp_path, tensorboard):
    assert cli("fit", *TINY_FIZZBUZZ) == 0
    assert cli("test", *TINY_FIZZBUZZ) == 0
    run_dir = only_run(tmp_path)
    run = f"{run_dir.parent.name}/{run_dir.name}"
    request = tensorboard()

    wanted = {"train/loss", "val/loss", "val/acc", "test/acc", "hp/val_acc", "hp/test_acc"}
    tags = wait_for(lambda: request("/data/plugin/scalars/tags"), lambda t: wanted <= set(t.get(run, {})))
    assert wanted <= set(tags[run])
    points = request(f"/data/plugin/scalars/scalars?run={run}&tag=val/acc")
    assert len(points) == 3  # one per epoch: [wall_time, step, value]
    assert all(0 <= value <= 1 for _, _, value in points)

    images = wait_for(lambda: request("/data/plugin/images/tags"), lambda t: "board/1-100" in t.get(run, {}))
    assert "board/1-100 test" in images[run]
    boards = request(f"/data/plugin/images/images?run={run}&tag=board/1-100")
    assert len(boards) == 3  # the slider: one board per validation
    png = request(f"/data/plugin/images/individualImage?{boards[-1]['query']}")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    experiment = request("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {info["name"] for info in experiment["hparamInfos"]}
    assert {"hidden", "num_digits", "optimizer", "lr", "data/batch_size"} <= hparams
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"hp/val_acc", "hp/test_acc"} <= metrics
    groups = request(
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 10,
        },
    )
    (session,) = [s for g in groups["sessionGroups"] for s in g["sessions"] if s["name"] == run]
    values = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}
    assert 0 <= values["hp/test_acc"] <= 1 and 0 <= values["hp/val_acc"] <= 1  # real scores, not -1
