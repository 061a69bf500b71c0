"""``python -m fizzlightning``: the same as the ``fizzlightning`` command."""

from fizzlightning.app import main

main()
