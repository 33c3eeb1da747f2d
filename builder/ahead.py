"""The note types made ahead: in a process forked as soon as the config is read, before the build loads its modules.

Making the note types (importing Jinja2, making the card templates, the CSS and their definitions) costs a clean
build about 60 ms and needs nothing but the config and the templates. Forked before the build imports PyYAML and its own
modules, a process makes them while the build's own process imports, reads the build state and reads its first
topics, which need no note type; the build (and a worker forked later to read topics) takes them once made.
They cross as the build cache keeps them (package.py's ``NoteType.cached``), through shared memory, and the
process ends: its end is the sign that they are there. Whatever goes wrong there (a template problem above all),
the build makes the note types itself, as a build in one process does, and reports what it finds.

Only where the build cannot take them from its cache: with no cache in the output folder (a clean build).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from builder.config import Config

# What the shared memory can hold; the note types of every kind take about 30 KB. Only the pages written cost.
_SIZE = 16 << 20
# The output folder's build cache (manifest.py's CACHE_NAME), which keeps the note types of the last build.
_CACHE_NAME = ".decks-cache.json"


class NoteTypesAhead:
    """A process making the note types; ``ready`` tells when they are in, ``made`` holds them (None: not made)."""

    def __init__(self, pid: int, fd: int, shared) -> None:
        self._pid = pid
        self._fd = fd
        self._shared = shared
        self._owner = os.getpid()
        self._done = False
        self.made: dict | None = None
        # The build stamp (incremental.py) of the config, templates and builder, taken before the templates were
        # read: the build takes the note types only under the stamp it took itself, so that they are never older
        # than the stamp the cache keeps them under (a template saved meanwhile is rendered again by the build).
        self.stamp = ""

    @classmethod
    def start(cls, config: Config, output: Path | None, jobs: int) -> NoteTypesAhead | None:
        """Fork the process that makes the note types, when the build will need them made and a core is free."""
        if jobs == 1 or not hasattr(os, "fork"):
            return None
        if ((output or config.output_dir) / _CACHE_NAME).exists():
            # A rebuild: its note types come from the cache (or, once the templates changed, from its worker).
            return None
        if jobs == 0 and idle_cores() < 0.5:
            return None
        if other_threads():
            # A fork copies only this thread: a lock another thread holds (the watcher of `build --watch`, a
            # push's request) would stay taken in the copy for good. The build then makes the note types itself.
            return None
        import mmap

        # Packing needs it in the build's process, and the note types in this one: imported once, before the fork.
        import builder.package  # noqa: F401

        shared = mmap.mmap(-1, _SIZE)
        read, write = os.pipe()
        with ctrl_c_held():
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked process, which ends by os._exit
            os.close(read)
            _make(config, shared)
        os.close(write)
        return cls(pid, read, shared)

    def ready(self, wait: bool) -> bool:
        """Whether the process has ended (``made`` then holds what it made); ``wait`` for it if not."""
        if self._done:
            return True
        if not wait:
            import select

            if not select.select([self._fd], [], [], 0)[0]:
                return False
        # The process writes nothing to the pipe: reading returns once it has ended, with its end closed.
        while os.read(self._fd, 1):  # pragma: no cover - nothing is ever written
            pass
        size = int.from_bytes(self._shared[:8], "little")
        if size:
            with contextlib.suppress(ValueError, TypeError):
                self.stamp, self.made = json.loads(self._shared[8 : 8 + size])
        self._done = True
        return True

    def close(self) -> None:
        """Let the process go (ended, or stopped now) and free what it held; only its parent does it."""
        if os.getpid() != self._owner or self._pid == 0:
            return
        pid, self._pid = self._pid, 0
        if not self._done:
            with contextlib.suppress(OSError):
                os.kill(pid, 15)  # SIGTERM: the build no longer needs what it makes
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._shared.close()


def _make(config: Config, shared) -> None:  # pragma: no cover - runs in the forked process
    import gc
    import signal

    try:
        gc.disable()
        # Ctrl-C reaches every process of the terminal's group; only the build's own process reports it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        from pathlib import Path

        from builder.incremental import build_stamp
        from builder.package import make_note_types
        from builder.render import Renderer
        from builder.templatedirs import template_dirs

        folders = template_dirs(config.templates_dir)
        stamp = build_stamp(config, folders)
        layouts = Renderer(folders, lambda p: config.rel(Path(p))).layouts()
        made = make_note_types(config, layouts)
        data = json.dumps([stamp, {kind: note_type.cached() for kind, note_type in made.items()}]).encode("utf-8")
        if len(data) <= len(shared) - 8:
            shared[8 : 8 + len(data)] = data
            shared[:8] = len(data).to_bytes(8, "little")
    except BaseException:  # noqa: S110 - the build makes them itself, and reports what goes wrong
        pass
    finally:
        os._exit(0)


def idle_cores() -> float:
    """Cores free for a second process: on a busy machine it just adds the cost of handing results over.

    Busy is what both the last minute's load average and the tasks runnable right now say, each counting this
    build too: a build lasts a fraction of a second, so a machine busy a minute ago but idle now has a core free.
    """
    try:
        recent = os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average to read (Windows)
        return 0.0
    return (os.cpu_count() or 1) - min(recent, runnable_now())


def other_threads() -> bool:
    """Whether this process runs threads besides this one, started by Python or by a library (Linux counts both)."""
    try:
        return len(os.listdir("/proc/self/task")) > 1
    except OSError:
        import threading

        return threading.active_count() > 1


def runnable_now(source: str = "/proc/loadavg") -> float:
    """How many tasks can run at this moment, this process among them; infinity where the system does not say."""
    try:
        with open(source, "rb") as handle:
            return float(handle.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return float("inf")


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C back for the block (a fork), so that it never lands inside fork's own bookkeeping."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows, where nothing is forked
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
