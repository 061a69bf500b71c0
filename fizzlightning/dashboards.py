"""0.2.0's path of the pictures' callbacks, which its configs name (``fizzlightning.callbacks``, ``.models`` now)."""

from fizzlightning.callbacks.dashboards import CurvePlot
from fizzlightning.models.classifier import BoardImage
from fizzlightning.models.gan import PaintingsImage

__all__ = ["BoardImage", "CurvePlot", "PaintingsImage"]
