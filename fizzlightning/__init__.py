"""fizzlightning: the PyTorch lessons' three networks (a two-layer regressor, a FizzBuzz classifier, a small GAN)
as a Lightning application, and as a library for your own ``Trainer``::

    import lightning as L
    from fizzlightning import FizzBuzzClassifier, FizzBuzzDataModule

    L.Trainer(max_epochs=2).fit(FizzBuzzClassifier(num_digits=12, hidden=[256]), FizzBuzzDataModule(num_digits=12))

The names below load on first use (PEP 562): ``import fizzlightning`` imports neither torch nor Lightning, so
``fizzlightning.nets`` and ``fizzlightning.fizzbuzz`` load with torch alone, and ``fizzlightning --version``
answers at once.
"""

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

__version__ = metadata.version("fizzlightning")

# public name -> the module that defines it
_EXPORTS = {
    "FizzBuzzClassifier": "fizzlightning.classifier",
    "Regressor": "fizzlightning.regressor",
    "GAN": "fizzlightning.gan",
    "TrainingModule": "fizzlightning.base",
    "FizzBuzzDataModule": "fizzlightning.data",
    "RegressionDataModule": "fizzlightning.data",
    "CurveDataModule": "fizzlightning.data",
    "ArtistDataModule": "fizzlightning.data",
    "InMemoryDataModule": "fizzlightning.data",
    "StreakStopping": "fizzlightning.stopping",
    "RunCheckpoint": "fizzlightning.checkpointing",
    "BoardImage": "fizzlightning.dashboards",
    "CurvePlot": "fizzlightning.dashboards",
    "PaintingsImage": "fizzlightning.dashboards",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers and IDEs see (``X as X``: a re-export); at run time, __getattr__
    from fizzlightning.base import TrainingModule as TrainingModule
    from fizzlightning.checkpointing import RunCheckpoint as RunCheckpoint
    from fizzlightning.classifier import FizzBuzzClassifier as FizzBuzzClassifier
    from fizzlightning.dashboards import BoardImage as BoardImage
    from fizzlightning.dashboards import CurvePlot as CurvePlot
    from fizzlightning.dashboards import PaintingsImage as PaintingsImage
    from fizzlightning.data import ArtistDataModule as ArtistDataModule
    from fizzlightning.data import CurveDataModule as CurveDataModule
    from fizzlightning.data import FizzBuzzDataModule as FizzBuzzDataModule
    from fizzlightning.data import InMemoryDataModule as InMemoryDataModule
    from fizzlightning.data import RegressionDataModule as RegressionDataModule
    from fizzlightning.gan import GAN as GAN
    from fizzlightning.regressor import Regressor as Regressor
    from fizzlightning.stopping import StreakStopping as StreakStopping


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # submodules (``from fizzlightning import nets``) are found by the import system
        raise AttributeError(f"module 'fizzlightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
