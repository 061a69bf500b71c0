"""A trained run outside training: ``fizzlightning export`` and ``fizzlightning serve``."""
