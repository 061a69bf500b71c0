"""0.2.0's path of the FizzBuzz classifier, which its configs and checkpoints name (``fizzlightning.models`` now)."""

from fizzlightning.models.classifier import FizzBuzzClassifier as FizzBuzzClassifier
