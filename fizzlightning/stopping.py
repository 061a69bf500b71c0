"""0.2.0's path of the stopping rule, which its configs name (``fizzlightning.callbacks`` now)."""

from fizzlightning.callbacks.stopping import StreakStopping as StreakStopping
