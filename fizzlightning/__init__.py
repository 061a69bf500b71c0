"""fizzlightning: the PyTorch lessons' three networks (a two-layer regressor, a FizzBuzz classifier, a small GAN)
as a Lightning application, and as a library for your own ``Trainer``::

    import lightning as L
    from fizzlightning import FizzBuzzClassifier, FizzBuzzDataModule

    L.Trainer(max_epochs=2).fit(FizzBuzzClassifier(num_digits=12, hidden=[256]), FizzBuzzDataModule(num_digits=12))

The names below load on first use (PEP 562): ``import fizzlightning`` imports neither torch nor Lightning, so
``fizzlightning.lessons`` loads with torch alone, and ``fizzlightning --version`` answers at once. The layers are
in docs/development.md; ``classifier``, ``regressor``, ``gan``, ``stopping`` and ``dashboards`` are 0.2.0's paths.
"""

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

__version__ = metadata.version("fizzlightning")

# the module that defines each public name
_MODULES = {
    "fizzlightning.models": ("FizzBuzzClassifier", "Regressor", "GAN", "TrainingModule"),
    "fizzlightning.data": ("FizzBuzzDataModule", "RegressionDataModule", "CurveDataModule", "ArtistDataModule"),
    "fizzlightning.data.base": ("InMemoryDataModule",),
    "fizzlightning.callbacks.stopping": ("StreakStopping",),
    "fizzlightning.callbacks.dashboards": ("CurvePlot",),
    "fizzlightning.runs.run_checkpoint": ("RunCheckpoint",),
    "fizzlightning.models.classifier": ("BoardImage",),
    "fizzlightning.models.gan": ("PaintingsImage",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

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
