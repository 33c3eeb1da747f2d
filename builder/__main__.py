"""Allow ``python -m builder``; also the ``decks`` console script's entry point."""

from __future__ import annotations

import sys


def main() -> None:
    """Start the command line; Ctrl-C while its modules load ends as it does later, without a traceback."""
    try:
        from builder.cli import main as run
    except KeyboardInterrupt:
        print("\nAborted!", file=sys.stderr)  # what click prints for Ctrl-C once it runs
        sys.exit(1)
    run(prog_name="decks")


if __name__ == "__main__":
    main()
