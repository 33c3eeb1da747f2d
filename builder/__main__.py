"""Allow ``python -m builder``; also the ``decks`` console script's entry point."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    """Start the command line; Ctrl-C while its modules load ends as it does later, without a traceback."""
    try:
        # A build that will make its note types starts making them now, before Click and PyYAML load (ahead.py).
        from builder.ahead import start_early

        start_early(sys.argv[1:])
        # A push sends its first request to Anki now, which answers while the rest loads (anki/early.py).
        from builder.anki.early import send_early

        send_early(sys.argv[1:])
        from builder.cli import main as run
    except (KeyboardInterrupt, RuntimeError) as exc:
        _aborted_by(exc)
    try:
        run(prog_name="decks")
    except RuntimeError as exc:
        _aborted_by(exc)
    except SystemExit as done:
        # A build or push that has reported ends without the interpreter's teardown (see builder.ending).
        ending = sys.modules.get("builder.ending")
        if ending is not None:
            ending.end_process(done.code)
        raise
    finally:
        # At exit the interpreter walks every object still alive for garbage cycles, a tenth of a
        # small build's time; nothing left needs it (a build runs with the collector off throughout).
        gc.freeze()


def _aborted_by(exc: BaseException) -> None:
    """End as Click does for Ctrl-C when it caused ``exc``; else raise it again.

    Python wraps Ctrl-C landing in a class's making (``__set_name__``, as a module loads) in a RuntimeError,
    which Click does not take for Ctrl-C.
    """
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        raise exc
    print("\nAborted!", file=sys.stderr)  # what click prints for Ctrl-C once it runs
    sys.exit(1)


if __name__ == "__main__":
    main()
