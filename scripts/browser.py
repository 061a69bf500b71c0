"""TensorBoard as a person sees it: a real server on loopback, opened in headless Chromium.

Used by ``scripts/screenshots.py`` (the README's pictures) and checked by ``tests/callbacks/test_tensorboard.py``.
Chromium is Debian's (``apt-get install chromium``), driven by Playwright; Playwright's own browser download is
not needed.
TensorBoard draws its dashboards in shadow DOM after loading data in the background, so every step waits
for an element to appear (Playwright's locators pierce shadow roots) instead of sleeping.
"""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium")
# Headless as root, and no background connections: this machine refuses them, many at a time.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000  # TensorBoard reloads event files every second; a loaded machine draws slowly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, body: dict | None = None):
    """GET (or POST ``body`` to) TensorBoard's HTTP API; JSON answers are decoded."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if response.headers.get_content_type() == "application/json" else raw


@contextmanager
def tensorboard_server(logdir: Path, timeout: float = 60) -> Iterator[str]:
    """``tensorboard --logdir logdir`` on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    command = [Path(sys.executable).parent / "tensorboard", "--logdir", logdir, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--reload_interval", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                get(f"{base}/data/runs")
                break
            except OSError:
                assert process.poll() is None, "TensorBoard exited"
                assert time.monotonic() < deadline, "TensorBoard did not answer"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def chromium_page(width: int = 1400, height: int = 900):
    """A page in headless Chromium, with every wait bounded by ``TIMEOUT_MS``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def show_scalars(page, base: str, tags: list[str], screenshot: Path | None = None) -> dict[str, int]:
    """Open SCALARS filtered to ``tags``; wait until each chart has drawn its line. Returns tag -> drawn lines."""
    from playwright.sync_api import expect

    page.goto(f"{base}/#scalars")
    page.locator("tf-tag-filterer input").fill("^(" + "|".join(tags) + ")$")
    drawn = {}
    for tag in tags:
        card = page.locator("tf-scalar-card").filter(has_text=tag)
        expect(card.first).to_be_visible()
        line = card.first.locator("path.line[d]")
        expect(line.first).to_be_attached()  # the line has a path: the chart is drawn, not just its frame
        drawn[tag] = line.count()
    if screenshot:
        page.screenshot(path=screenshot)
    return drawn


def show_images(page, base: str, tag: str, screenshot: Path | None = None) -> tuple[int, int, int]:
    """Open IMAGES; wait for ``tag``'s picture to load. Returns its natural width, height, and the slider count."""
    from playwright.sync_api import expect

    page.goto(f"{base}/#images")
    card = page.locator("tf-image-loader").filter(has_text=tag).first
    image = card.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image.element_handle())
    width, height = image.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    if screenshot:
        page.screenshot(path=screenshot)
    return width, height, card.locator("paper-slider").count()


def show_hparams(page, base: str, columns: list[str], experiment: str, screenshot: Path | None = None) -> list[str]:
    """Open HPARAMS' table and add ``columns`` to the ones TensorBoard shows, ticked as a person would.

    Returns the table's cell texts. ``experiment``: the runs' common name (``fizzbuzz/``); the table redraws
    its rows after each change of columns, so the screenshot waits for them.
    """
    from playwright.sync_api import expect

    page.goto(f"{base}/#hparams")
    grid = page.locator("tf-hparams-table-view vaadin-grid")
    expect(grid).to_be_visible()
    for column in columns:
        page.get_by_role("checkbox", name=column, exact=True).check()
        expect(page.locator("vaadin-grid-cell-content").filter(has_text=column).first).to_be_attached()
    expect(page.locator("vaadin-grid-cell-content").filter(has_text=experiment, visible=True).first).to_be_visible()
    if screenshot:
        page.screenshot(path=screenshot)
    return [text.strip() for text in page.locator("vaadin-grid-cell-content").all_inner_texts() if text.strip()]
