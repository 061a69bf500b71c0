"""0.2.0's path of the pictures' callbacks, which its configs name (``fizzlightning.callbacks``, ``.models`` now)."""

from fizzlightning.callbacks.dashboards import CurvePlot as CurvePlot
from fizzlightning.models.classifier import BoardImage as BoardImage
from fizzlightning.models.gan import PaintingsImage as PaintingsImage
