"""``python -m fizzlightning``: the same as the ``fizzlightning`` command."""

from fizzlightning.commands.main import main

main()
