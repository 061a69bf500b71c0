"""fizzlightning: the PyTorch lessons' three networks (a two-layer regressor, a FizzBuzz classifier, a small GAN)
as a Lightning application, and as a library for your own ``Trainer``::

    import lightning as L
    from fizzlightning import FizzBuzzClassifier, FizzBuzzDataModule

    L.Trainer(max_epochs=2).fit(FizzBuzzClassifier(num_digits=12, hidden=[256]), FizzBuzzDataModule(num_digits=12))

The names below load on first use (PEP 562): ``import fizzlightning`` imports neither torch nor Lightning, so
``fizzlightning.lessons`` loads with torch alone, and ``fizzlightning --version`` answers at once.

The folders are the layers, each importing only from those below it (``tests/test_layers.py``):
``commands`` (the CLI) > ``deploy`` (export, serve) > ``runs`` (a run's files) > ``models`` >
``callbacks`` and ``data`` > ``lessons`` (the lessons' maths: torch and numpy only) > ``errors``, ``files``,
``extras``, ``internals``. The flat modules beside them (``classifier``, ``regressor``, ``gan``, ``stopping``,
``dashboards``) are 0.2.0's paths, which its configs and checkpoints name.
"""

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

__version__ = metadata.version("fizzlightning")

# public name -> the module that defines it
_EXPORTS = {
    "FizzBuzzClassifier": "fizzlightning.models.classifier",
    "Regressor": "fizzlightning.models.regressor",
    "GAN": "fizzlightning.models.gan",
    "TrainingModule": "fizzlightning.models.base",
    "FizzBuzzDataModule": "fizzlightning.data",
    "RegressionDataModule": "fizzlightning.data",
    "CurveDataModule": "fizzlightning.data",
    "ArtistDataModule": "fizzlightning.data",
    "InMemoryDataModule": "fizzlightning.data",
    "StreakStopping": "fizzlightning.callbacks.stopping",
    "RunCheckpoint": "fizzlightning.runs.run_checkpoint",
    "BoardImage": "fizzlightning.models.classifier",
    "CurvePlot": "fizzlightning.callbacks.dashboards",
    "PaintingsImage": "fizzlightning.models.gan",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers and IDEs see (``X as X``: a re-export); at run time, __getattr__
    from fizzlightning.callbacks.dashboards import CurvePlot as CurvePlot
    from fizzlightning.callbacks.stopping import StreakStopping as StreakStopping
    from fizzlightning.data import ArtistDataModule as ArtistDataModule
    from fizzlightning.data import CurveDataModule as CurveDataModule
    from fizzlightning.data import FizzBuzzDataModule as FizzBuzzDataModule
    from fizzlightning.data import InMemoryDataModule as InMemoryDataModule
    from fizzlightning.data import RegressionDataModule as RegressionDataModule
    from fizzlightning.models.base import TrainingModule as TrainingModule
    from fizzlightning.models.classifier import BoardImage as BoardImage
    from fizzlightning.models.classifier import FizzBuzzClassifier as FizzBuzzClassifier
    from fizzlightning.models.gan import GAN as GAN
    from fizzlightning.models.gan import PaintingsImage as PaintingsImage
    from fizzlightning.models.regressor import Regressor as Regressor
    from fizzlightning.runs.run_checkpoint import RunCheckpoint as RunCheckpoint


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # submodules (``from fizzlightning import lessons``) are found by the import system
        raise AttributeError(f"module 'fizzlightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
