"""Configuration errors that reach the user as one clear paragraph, not a traceback."""

from typing import Any


class ConfigError(ValueError):
    """A setting the user can fix; the CLI prints the message and exits non-zero."""


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raise a ``ConfigError`` naming ``key``, its ``value`` and what is ``allowed`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{key} = {value!r} is not allowed: expected {allowed}.")
