"""0.2.0's path of the regressor, which its configs and checkpoints name (``fizzlightning.models`` now)."""

from fizzlightning.models.regressor import Regressor as Regressor
