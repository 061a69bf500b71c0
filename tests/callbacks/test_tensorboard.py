"""What a user's browser shows: a real TensorBoard server on loopback, read through its HTTP API and in Chromium."""

import os
import sys
import time
from contextlib import ExitStack

import pytest

from tests.helpers import ROOT, TINY_FIZZBUZZ, only_run

sys.path.insert(0, str(ROOT / "scripts"))  # the browser steps the README's screenshots are taken with
from browser import CHROMIUM, chromium_page, get, show_hparams, show_images, show_scalars, tensorboard_server  # noqa: E402


@pytest.fixture
def tensorboard(tmp_path):
    """Starts TensorBoard on ``tmp_path/lightning_logs`` when called; returns a GET/POST function for its API."""
    with ExitStack() as servers:

        def start():
            base = servers.enter_context(tensorboard_server(tmp_path / "lightning_logs"))
            return lambda path, body=None: get(f"{base}{path}", body)

        yield start


def session_hparam(groups: dict, run: str, name: str):
    """The value of setting ``name`` in the HPARAMS row of ``run``."""
    (group,) = [g for g in groups["sessionGroups"] if any(s["name"] == run for s in g["sessions"])]
    return group["hparams"][name]


def wait_for(fetch, ready, timeout: float = 60):
    """TensorBoard loads event files in the background: poll until ``ready(fetch())``."""
    deadline = time.monotonic() + timeout
    while not ready(value := fetch()):
        assert time.monotonic() < deadline, f"TensorBoard never showed it; last answer: {value}"
        time.sleep(0.5)
    return value


def test_dashboards_show_curves_board_images_and_hparams(cli, tmp_path, tensorboard):
    assert cli("fit", *TINY_FIZZBUZZ, "--optimizer.init_args.weight_decay", "0.03") == 0
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
    # the slider: the config draws the board every 5th epoch and after the last: epochs 0 and 2 (7 steps each)
    assert [board["step"] for board in boards] == [7, 21]
    png = request(f"/data/plugin/images/individualImage?{boards[-1]['query']}")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    experiment = request("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {info["name"] for info in experiment["hparamInfos"]}
    assert {
        "hidden",
        "num_digits",
        "optimizer/class",
        "optimizer/lr",
        "data/batch_size",
        "trainer/max_epochs",
    } <= hparams
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
    assert session_hparam(groups, run, "optimizer/weight_decay") == 0.03  # the override, not the config's 0.1


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium); CI installs it and fails without it",
)
def test_dashboards_in_a_real_browser(cli, tmp_path):
    assert CHROMIUM is not None, "CI must run the browser test: .ci/run installs Debian's chromium"
    # two runs that differ only in weight decay: the HPARAMS table must tell them apart
    for weight_decay in ("0.1", "0.03"):
        assert cli("fit", *TINY_FIZZBUZZ, "--optimizer.init_args.weight_decay", weight_decay) == 0
        assert cli("test", *TINY_FIZZBUZZ) == 0
    shots = {tab: tmp_path / f"tensorboard_{tab}.png" for tab in ("scalars", "images", "hparams")}
    with tensorboard_server(tmp_path / "lightning_logs") as base, chromium_page() as page:
        drawn = show_scalars(page, base, ["train/loss", "val/acc", "test/acc"], shots["scalars"])
        assert all(lines >= 2 for lines in drawn.values()), drawn  # a line for each of the two runs

        width, height, sliders = show_images(page, base, "board/1-100", shots["images"])
        assert (width, height) == (240, 240) and sliders == 1  # the whole board, and its step slider

        columns = ["optimizer/weight_decay", "hp/val_acc", "hp/test_acc"]
        cells = show_hparams(page, base, columns, "fizzbuzz/", shots["hparams"])
    runs = [cell for cell in cells if cell.startswith("fizzbuzz/")]
    assert len(runs) == 2  # one row per run
    assert {"0.10000", "0.030000"} <= set(cells), cells  # TensorBoard's own number format
    assert {"hp/val_acc", "hp/test_acc", "optimizer/weight_decay"} <= set(cells)
    for shot in shots.values():
        assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
