"""Allow ``python -m builder``."""

from builder.cli import main

main(prog_name="decks")
