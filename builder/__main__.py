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
        import os

        from builder.cmdline import plain_command

        # A plain `decks build` or `decks push` runs without Click, which would cost it some 18 ms to load.
        plain = plain_command(sys.argv[1:], os.environ)
        if plain is None:
            from builder.cli import main as run
    except (KeyboardInterrupt, RuntimeError) as exc:
        _aborted_by(exc)
    try:
        if plain is None:
            run(prog_name="decks")
        else:
            _run_plain(*plain)
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


def _run_plain(command: str, group: dict, params: dict) -> None:
    """Run `decks build` or `decks push` as read by ``cmdline.plain_command``, ending as Click ends a command:
    a DecksError shown with its exit code, Ctrl-C as "Aborted!" (exit 1), a closed pipe silently (exit 1)."""
    report = None
    code = 1
    try:
        try:
            # Imported here, where Ctrl-C landing as they load ends as it does later.
            if command == "build":
                from builder.commands.build_body import run_build as body
            else:
                from builder.commands.anki_body import run_push as body
            from builder.commands.context import Context

            body(Context(group["project"], group["quiet"]), **params)
            code = 0
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr, flush=True)  # the blank line closes the terminal's ^C, as Click writes it
            report = _say_aborted
        except OSError as exc:
            import errno

            if exc.errno != errno.EPIPE:
                raise
            # The reader has gone: nothing more is said, and flushing at exit must not complain (as Click does).
            from builder.terminal import pacify_streams

            pacify_streams()
        except Exception as exc:
            error = _decks_error(exc)
            if error is None:
                raise
            report, code = error.show, error.exit_code
        if report is not None:
            report()
        sys.exit(code)
    except (EOFError, KeyboardInterrupt):
        sys.exit(code)


def _decks_error(exc: BaseException):
    """``exc`` when it is a DecksError, else None; without importing the errors (a no-change build never does:
    one raised was imported by its raiser)."""
    errors = sys.modules.get("builder.errors")
    return exc if errors is not None and isinstance(exc, errors.DecksError) else None


def _say_aborted() -> None:
    print("Aborted!", file=sys.stderr, flush=True)


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
