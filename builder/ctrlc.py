"""Ctrl-C held back for a short block, and delivered right after it."""

from __future__ import annotations


class ctrl_c_held:
    """Hold Ctrl-C back for the block: a fork, whose own bookkeeping it must never land in, or work whose
    objects Python frees as it goes, where Ctrl-C landing in a finalizer would be printed and then lost."""

    # A class, not a generator made a context manager: imported at the start of every command, before contextlib.
    def __enter__(self) -> None:
        import signal

        if hasattr(signal, "pthread_sigmask"):  # not on Windows
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        import signal

        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
