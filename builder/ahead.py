"""The note types made ahead: in a process forked at the start of `decks build`, before Click and PyYAML load.

Making the note types (importing Jinja2, making the card templates, the CSS and which fields each card needs)
costs a clean build about 50 ms and needs nothing but the templates: no setting of deck.yaml enters them, only
the note types' ids and names, which the build adds (package.py's ``note_types_from_parts``). When the command
line is plainly a build that will make them (``start_early``, called by the console entry point first thing), a
process is forked at once: it finds the template folders (the one deck.yaml names read from its text, without
PyYAML) and makes them while the build's own process imports Click, PyYAML and its modules, reads the build state
and reads its first topics, which need no note type. The build takes that process when it was forked for the same
project and output folder (``NoteTypesAhead.start``), else forks one then, once the config is read (a build
started otherwise: tests, `--watch`, an option the early reading does not know). The build (and a worker forked
later to read topics) takes what was made once the process is done (its end of a pipe, closed as it ends, is
the sign that they are there, and that its core is free again): they cross as plain JSON through shared memory,
and are taken only when made from the template folders the config names, under the layout stamp
(templatedirs.layout_stamp) the build took itself. Whatever goes wrong there (a template problem, a folder
guessed wrong), the build makes the note types itself, as a build in one process does, and reports what it finds.

Only where the build cannot take them from its cache: with no cache in the output folder (a clean build).
"""

from __future__ import annotations

import os

from builder.ctrlc import ctrl_c_held

# Read at the very start of every command (start_early): nothing else is imported here until it is needed.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from builder.config import Config

# What the shared memory can hold; the note types of every kind take about 30 KB. Only the pages written cost.
_SIZE = 16 << 20
# The output folder's build cache (manifest.py's CACHE_NAME), which keeps the note types of the last build.
_CACHE_NAME = ".decks-cache.json"
# The process forked by start_early, until the build takes it (NoteTypesAhead.start): its id, the pipe's end
# that tells when it ended, its shared memory, and the project and output folders it was forked for.
_early: tuple[int, int, object, str, str] | None = None
_early_owner = 0


class NoteTypesAhead:
    """A process making the note types; ``ready`` tells when they are in, ``made`` holds them (None: not made)."""

    def __init__(self, pid: int, fd: int, shared) -> None:
        self._pid = pid
        self._fd = fd
        self._shared = shared
        self._owner = os.getpid()
        self._done = False
        # What notetypes.layout_parts gives, by kind (None: not made).
        self.made: dict | None = None
        # The layout stamp (templatedirs.py) of the templates and builder, taken before the templates were read: the
        # build takes what was made only under the stamp it took itself, so that it is never older than the stamp
        # the cache keeps it under (a template saved meanwhile is rendered again by the build).
        self.stamp = ""
        # The template folders they were made from, in order.
        self.folders: list[str] = []

    @classmethod
    def start(cls, config: Config, output: Path | None, jobs: int) -> NoteTypesAhead | None:
        """Fork the process that makes the note types, when the build will need them made and a core is free.

        The one forked at the start of the command (``start_early``) is taken instead, when it was forked for
        this project and output folder; otherwise it is let go, and this decides afresh.
        """
        early = _take_early()
        if early is not None:
            pid, fd, shared, root, out = early
            taken = cls(pid, fd, shared)
            if root == str(config.root) and out == os.path.realpath(output or config.output_dir):
                return taken.held()
            taken.close()
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
        from builder.templatedirs import template_dirs

        folders = [str(folder) for folder in template_dirs(config.templates_dir)]
        with ctrl_c_held():
            made = cls(*_fork(_make, folders)).held()
        return made

    def held(self) -> NoteTypesAhead:
        """This, let go when the command ends at the latest: Ctrl-C may land before its caller holds it."""
        import atexit

        atexit.register(self.close)
        return self

    def ready(self, wait: bool) -> bool:
        """Whether the process is done (``made`` then holds what it made); ``wait`` for it if not."""
        if self._done:
            return True
        if not wait:
            import select

            if not select.select([self._fd], [], [], 0)[0]:
                return False
        # The process writes nothing to the pipe: reading returns once it has closed its end, as it ends.
        while os.read(self._fd, 1):  # pragma: no cover - nothing is ever written
            pass
        size = int.from_bytes(self._shared[:8], "little")
        if size:
            import contextlib
            import json

            with contextlib.suppress(ValueError, TypeError):
                self.stamp, self.folders, self.made = json.loads(self._shared[8 : 8 + size])
        self._done = True
        return True

    def ending(self) -> int:
        """1 while the process, done, is still ending (the system freeing its memory): it is counted among the
        tasks runnable now, though what it held is in and its core as good as free; else 0."""
        if not self._done or self._pid == 0:
            return 0
        try:
            # Looked at only (WNOWAIT): it is waited for as before, when let go (close).
            gone = os.waitid(os.P_PID, self._pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except (OSError, AttributeError):  # no waitid (macOS), or not this process's child
            return 0
        return 0 if gone is not None else 1

    def note_types(self, config: Config, layouts: str) -> dict | None:
        """The note types made, once ``ready``, as this config makes them (package.py's ``NoteType``s by kind);
        None unless made from the template folders it names, under the layout stamp the build took (``layouts``)."""
        from builder.templatedirs import template_dirs

        if self.made is None or self.stamp != layouts:
            return None
        if self.folders != [str(folder) for folder in template_dirs(config.templates_dir)]:
            return None
        from builder.package import note_types_from_parts

        try:
            return note_types_from_parts(config, self.made)
        except (ValueError, TypeError, LookupError):
            return None

    def close(self) -> None:
        """Let the process go (ended, or stopped now) and free what it held; only its parent does it."""
        if os.getpid() != self._owner or self._pid == 0:
            return
        import atexit

        atexit.unregister(self.close)
        pid, self._pid = self._pid, 0
        _end(pid, self._fd, self._shared, stop=not self._done)


def _fork(make, arg) -> tuple[int, int, object]:
    """Fork a process that runs ``make(arg, shared, done)`` and ends: its id, the pipe's end that tells when it
    is done (``done``, the other end, closed), and the shared memory it writes the note types to. Called with
    Ctrl-C held."""
    import mmap

    shared = mmap.mmap(-1, _SIZE)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked process, which ends by os._exit
        os.close(read)
        make(arg, shared, write)
    os.close(write)
    return pid, read, shared


def _end(pid: int, fd: int, shared, stop: bool) -> None:
    """Stop the process unless it ended (SIGTERM: what it makes is not needed), wait for it, free what it held."""
    import contextlib

    if stop:
        with contextlib.suppress(OSError):
            os.kill(pid, 15)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        os.close(fd)
    shared.close()


def _make(folders: list[str], shared, done: int) -> None:  # pragma: no cover - runs in the forked process
    import gc
    import json
    import signal

    try:
        gc.disable()
        # Ctrl-C reaches every process of the terminal's group; only the build's own process reports it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        from pathlib import Path

        from builder.notetypes import layout_parts
        from builder.render import Renderer
        from builder.templatedirs import layout_stamp

        dirs = [Path(folder) for folder in folders]
        stamp = layout_stamp(dirs)
        parts = layout_parts(Renderer(dirs).layouts())
        data = json.dumps([stamp, folders, parts]).encode("utf-8")
        if len(data) <= len(shared) - 8:
            shared[8 : 8 + len(data)] = data
            shared[:8] = len(data).to_bytes(8, "little")
    except BaseException:  # noqa: S110 - the build makes them itself, and reports what goes wrong
        pass
    finally:
        # Told now, not once the process is gone: the system freeing its memory as it ends takes about 1.3 ms,
        # which the build need not wait for (it takes nothing more from here).
        os.close(done)
        os._exit(0)


def start_early(argv: list[str]) -> None:
    """At the start of the command, before Click and PyYAML load: fork the process that makes the note types now,
    when ``argv`` is a `decks build` that will make them (as ``NoteTypesAhead.start`` decides, which takes it).

    The command line is read only as far as it is plainly a build: anything this does not know (an option
    it does not read, a value it could misread, `--watch`, `--help`) leaves the decision to the build, as
    does a project or output folder it finds otherwise than the build later does (the build lets it go).
    """
    global _early, _early_owner
    wanted = _build_argv(argv)
    if wanted is None or not hasattr(os, "fork"):
        return
    project, output, jobs = wanted
    if jobs == 1:
        return
    try:
        from builder.nochange import configured_output
        from builder.projectroot import nearest_root

        root = nearest_root(project or os.getcwd())
        if root is None:
            return
        out = os.path.realpath(output) if output is not None else configured_output(root)
        if os.path.lexists(os.path.join(out, _CACHE_NAME)):
            return
    except (OSError, ValueError):
        return
    if (jobs == 0 and idle_cores() < 0.5) or other_threads():
        return
    import atexit

    with ctrl_c_held():
        pid, read, shared = _fork(_make_early, root)
        # Recorded before Ctrl-C can land: not taken by a build (a usage error, bad YAML in deck.yaml, Ctrl-C
        # first), the process is stopped when the command ends.
        _early, _early_owner = (pid, read, shared, root, out), os.getpid()
        atexit.register(_let_early_go)


# The options of `decks build` read by start_early: those taking a value (kept by name; -t is not), and flags.
_BUILD_VALUES = {"-o": "output", "--output": "output", "-j": "jobs", "--jobs": "jobs", "-t": "", "--topic": ""}
_BUILD_FLAGS = frozenset({"--single", "-q", "--quiet", "--timings", "--new-identity"})


def _build_argv(argv: list[str]) -> tuple[str | None, str | None, int] | None:
    """The project folder (-C), output folder (-o) and -j of a plain `decks build` command line; None otherwise."""
    from builder.cmdline import read_command_line

    read = read_command_line(argv, "build", _BUILD_VALUES, _BUILD_FLAGS)
    if read is None:
        return None
    found = read[0]
    jobs = found.get("jobs", "0")
    if not (jobs.isascii() and jobs.isdigit()):
        return None
    return found.get("project"), found.get("output"), int(jobs)


def _take_early() -> tuple[int, int, object, str, str] | None:
    """The process start_early forked, taken once (None: none, or taken already)."""
    global _early
    early, _early = _early, None
    # A process forked since holds a copy of the record, and has no such child.
    return early if _early_owner == os.getpid() else None


def _let_early_go() -> None:
    early = _take_early()
    if early is not None:
        pid, fd, shared, _, _ = early
        _end(pid, fd, shared, stop=True)


def _make_early(root: str, shared, done: int) -> None:  # pragma: no cover - runs in the forked process
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # It shows nothing, and holds none of the command's output open (a caller reading it to its end
        # would wait for this process too): whatever goes wrong, the build meets it again and reports it.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        from pathlib import Path

        from builder.nochange import configured_folder
        from builder.templatedirs import template_dirs

        # The project's folder as the config names it (its root resolved, the value as written): the build takes
        # what is made from these folders only when they are those the config names.
        inside = Path(os.path.realpath(root))
        project = inside / configured_folder(root, "templates")
        if not project.resolve().is_relative_to(inside):
            # A folder the config refuses (out of the project, or a link out of it): nothing of it is read.
            os._exit(0)
        folders = [str(folder) for folder in template_dirs(project)]
    except BaseException:
        os._exit(0)
    _make(folders, shared, done)


def idle_cores(ending: int = 0) -> float:
    """Cores free for a second process: on a busy machine it just adds the cost of handing results over.

    Busy is what both the last minute's load average and the tasks runnable right now say, each counting this
    build too: a build lasts a fraction of a second, so a machine busy a minute ago but idle now has a core free.
    ``ending`` processes of this build, done but still ending, are not counted among those runnable now.
    """
    try:
        recent = os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average to read (Windows)
        return 0.0
    return (os.cpu_count() or 1) - min(recent, runnable_now() - ending)


def other_threads() -> bool:
    """Whether this process runs threads besides this one, started by Python or by a library (Linux counts both)."""
    import sys

    threading = sys.modules.get("threading")
    # A thread Python has joined may still be ending in the system for a moment: given up to about 2 ms to go,
    # when Python runs no other thread.
    for _ in range(10 if threading is not None and threading.active_count() == 1 else 1):
        try:
            if len(os.listdir("/proc/self/task")) == 1:
                return False
        except OSError:
            return threading is not None and threading.active_count() > 1
        if threading is not None and threading.active_count() == 1:
            import time

            time.sleep(0.0002)
    return True


def runnable_now(source: str = "/proc/loadavg") -> float:
    """How many tasks can run at this moment, this process among them; infinity where the system does not say."""
    try:
        with open(source, "rb") as handle:
            return float(handle.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return float("inf")
