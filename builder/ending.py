"""Ending the process once a command has reported, without the interpreter's teardown."""

from __future__ import annotations

import sys

# Whether a command that may end early (a build, not --watch; a push) has run to its report in this process:
# nothing is left to do but end it.
_done = False


def reported() -> None:
    """Mark the command as done: everything it writes is written and everything it says is said."""
    global _done
    _done = True


def end_process(code: object) -> None:
    """As the process exits, from the console entry point: once the command has reported, end it now, without
    the interpreter's teardown (every module and object freed one by one: a few ms of a small build or a push
    that changed nothing); the exit handlers run first and the output is flushed. Anything else (a failed
    command, a thread the interpreter would wait for, a profiler or coverage tool at work) exits as usual."""
    threading = sys.modules.get("threading")
    if not _done or code not in (0, None) or sys.getprofile() is not None or sys.gettrace() is not None:
        return  # a profiler or coverage tool reports as the process ends, after this
    if threading is not None and any(not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        return  # a thread the interpreter would wait for
    import atexit
    import os

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # reported by the interpreter's own exit, as before
    os._exit(0)
