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
``extras``, ``internals``.
"""

import importlib
import importlib.machinery
import sys
import types
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
    if name in _MOVED:  # ``import fizzlightning.classifier`` finds it in sys.modules, which sets no attribute
        return sys.modules[f"{__name__}.{name}"]
    if name not in _EXPORTS:  # submodules (``from fizzlightning import lessons``) are found by the import system
        raise AttributeError(f"module 'fizzlightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


# 0.2.0's flat modules -> where their names live now: configs, checkpoints and scripts that name
# ``fizzlightning.classifier.FizzBuzzClassifier`` and the like keep working (CHANGELOG.md lists the moves).
_MOVED = {
    "fizzbuzz": ["lessons.fizzbuzz"],
    "artist": ["lessons.artist"],
    "nets": ["lessons.nets"],
    "pictures": ["lessons.pictures"],
    "batches": ["data.batches"],
    "base": ["models.base"],
    "classifier": ["models.classifier"],
    "regressor": ["models.regressor"],
    "gan": ["models.gan"],
    "dashboards": ["callbacks.dashboards", "models.classifier", "models.regressor", "models.gan"],
    "stopping": ["callbacks.stopping"],
    "predictions": ["callbacks.predictions"],
    "checkpointing": ["runs.run_checkpoint"],
    "checkpoints": ["runs.checkpoints", "files", "errors"],
    "ranks": ["runs.ranks"],
    "loggers": ["runs.loggers"],
    "finish": ["commands.finish"],
    "failures": ["commands.failures"],
    "checks": ["commands.checks", "errors"],
    "completion": ["commands.completion"],
    "cli": ["commands.cli"],
    "app": ["commands.main"],
    "export": ["deploy.export"],
    "serve": ["deploy.serve", "deploy.apis"],
    "serving_worker": ["deploy.serving_worker"],
}


def current_path(path: str) -> str:
    """A class's dotted name as 0.2.0 wrote it (``fizzlightning.classifier.FizzBuzzClassifier``), in today's
    layout; any other name as it is."""
    module, _, name = path.rpartition(".")
    old = module.removeprefix(f"{__name__}.")
    if module.startswith(f"{__name__}.") and old in _MOVED:
        value = getattr(importlib.import_module(module), name, None)
        if isinstance(value, type):
            return f"{value.__module__}.{value.__qualname__}"
    return path


def _moved_module(old: str) -> types.ModuleType:
    """``fizzlightning.<old>``: a module whose names are looked up, on first use, in the modules they moved to."""
    homes = [f"{__name__}.{home}" for home in _MOVED[old]]
    module = types.ModuleType(f"{__name__}.{old}", f"0.2.0's module; its names are in {', '.join(homes)}.")
    module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)  # find_spec and -m read it
    missing = object()

    def lookup(name: str) -> Any:
        if name.startswith("__"):  # inspect and pickle probe every module's __file__ and the like: no imports
            raise AttributeError(name)
        for home in homes:
            value = getattr(importlib.import_module(home), name, missing)
            if value is not missing:
                return value
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r} (it moved: see CHANGELOG.md)")

    module.__getattr__ = lookup  # type: ignore[method-assign]
    return module


# In sys.modules from the start: Lightning resolves a checkpoint's ``_class_path`` there without importing.
for _old in _MOVED:
    sys.modules.setdefault(f"{__name__}.{_old}", _moved_module(_old))
