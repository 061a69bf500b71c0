"""0.2.0's path of the FizzBuzz classifier, which its configs and checkpoints name (``fizzlightning.models`` now)."""

from fizzlightning import FizzBuzzClassifier

__all__ = ["FizzBuzzClassifier"]
