"""0.2.0's path of the pictures' callbacks, which its configs name (``fizzlightning.callbacks``, ``.models`` now)."""

from fizzlightning import BoardImage, CurvePlot, PaintingsImage

__all__ = ["BoardImage", "CurvePlot", "PaintingsImage"]
