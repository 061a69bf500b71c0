"""The README's TensorBoard pictures: real screenshots of a real run, taken in headless Chromium.

    pip install -e '.[dev]' && apt-get install chromium
    python scripts/screenshots.py        # fit + test lightning_configs/fizzbuzz.yaml, then docs/tensorboard_*.png

The browser steps are the ones ``tests/callbacks/test_tensorboard.py`` checks (``scripts/browser.py``).
"""

import tempfile
from pathlib import Path

from browser import chromium_page, show_hparams, show_images, show_scalars, tensorboard_server

from benchmarks import launch

ROOT = Path(__file__).resolve().parent.parent

CONFIG = ROOT / "lightning_configs" / "fizzbuzz.yaml"
DOCS = ROOT / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for command in ("fit", "test"):
            launch.run([command, "--config", str(CONFIG)], Path(tmp))
        with tensorboard_server(Path(tmp) / "lightning_logs") as base:
            with chromium_page(1280, 800) as page:
                show_scalars(page, base, ["train/loss", "val/acc", "test/acc"], DOCS / "tensorboard_scalars.png")
                show_images(page, base, "board/1-100", DOCS / "tensorboard_images.png")
            with chromium_page(2700, 500) as page:  # wide: the ticked columns join the ones TensorBoard shows
                columns = [
                    "hidden",
                    "optimizer/class",
                    "optimizer/lr",
                    "optimizer/weight_decay",
                    "hp/val_acc",
                    "hp/test_acc",
                ]
                show_hparams(page, base, columns, "fizzbuzz/", DOCS / "tensorboard_hparams.png")
    print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in sorted(DOCS.glob('tensorboard_*.png')))}")


if __name__ == "__main__":
    main()
