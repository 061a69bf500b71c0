"""The LightningModules: thin wrappers around the lessons' networks, each with its metrics and pictures.

Importing this package registers the shipped models (``base.MODELS``); a model of your own registers when its
module is imported, as LightningCLI does for a config's ``model.class_path``.
"""

from fizzlightning.models.base import TrainingModule
from fizzlightning.models.classifier import FizzBuzzClassifier
from fizzlightning.models.gan import GAN
from fizzlightning.models.regressor import Regressor

__all__ = ["GAN", "FizzBuzzClassifier", "Regressor", "TrainingModule"]

# 0.2.0's paths of the models, in sys.modules: Lightning loads a checkpoint's ``_class_path`` only from there
from fizzlightning import classifier, gan, regressor  # noqa: E402, F401, I001
