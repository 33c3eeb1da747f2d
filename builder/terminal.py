"""What the builder prints passes through here: a project's text reaches the terminal with its control characters
shown escaped. Apart from errors.py so that a command that only reports (a no-change build) loads nothing more.

Free of Click, so that `decks build` and `decks push` run without loading it: ``echo`` writes what ``click.echo``
writes, and ``ProgressBar`` draws what ``click.progressbar`` draws, byte for byte (tests/test_commands.py
holds them equal), so a command looks the same whichever way it runs. On Windows, whose console Click writes to
its own way, ``echo`` goes through Click's.
"""

from __future__ import annotations

import os
import re
import sys

# Control characters other than tab and line feed: printed raw, a project's text could move the cursor,
# retitle the terminal or hide lines. Shown as \x1b, \x9b and so on instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (but tab and line feed) shown escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def echo(message: str = "", *, err: bool = False, nl: bool = True, file=None) -> None:
    """Print a line that may hold a project's text, with control characters shown escaped, on stdout (stderr
    with ``err``, or ``file``), and flush it."""
    if sys.platform.startswith("win"):
        import click

        # Click writes to a Windows console through its own Unicode-aware stream: left to it there.
        click.echo(printable(message), err=err, nl=nl, file=file)
        return
    text = printable(message) + "\n" if nl else printable(message)
    if file is None:
        file = sys.stderr if err else sys.stdout
        if file is None:
            return  # no stream to write to (pythonw on Windows)
        if _misconfigured(file):
            # As Click does: a stream that would encode as ASCII (or says nothing of how) gets UTF-8 instead,
            # characters it cannot encode replaced, rather than an error halfway through a report.
            binary = getattr(file, "buffer", None)
            if binary is not None:
                file.flush()
                binary.write(text.encode("utf-8", "replace"))
                binary.flush()
                return
    # The control characters above are shown escaped, so no terminal code is left for Click's echo to strip.
    if text:
        file.write(text)
    file.flush()


def _misconfigured(stream) -> bool:
    """Whether Click would write to ``stream`` through a UTF-8 wrapper of its bytes rather than as it is."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    if getattr(stream, "errors", None) is None:
        return True
    import codecs

    try:
        return codecs.lookup(encoding).name == "ascii"
    except LookupError:
        return False


class _Pacified:
    """A standard stream whose reader has gone (a closed pipe): flushing it at exit says nothing, as with Click."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def flush(self) -> None:
        import errno

        try:
            self._stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def pacify_streams() -> None:
    """Once a pipe the command wrote to has closed: stdout and stderr flushed at exit without complaint."""
    sys.stdout = _Pacified(sys.stdout)
    sys.stderr = _Pacified(sys.stderr)


# Drawn on a terminal as Click draws its bar: the cursor hidden while the bar is drawn, shown again after it
# (on Windows only the carriage return and the line break, as there).
_BEFORE_BAR, _AFTER_BAR = ("\r", "\n") if os.name == "nt" else ("\r\033[?25l", "\033[?25h\n")


class ProgressBar:
    """A progress bar over ``items`` on a terminal, drawn as ``click.progressbar`` draws one with a label, an item
    shown and its other settings left as they are: the label, a bar of 36, the percentage, the time left once an
    item has taken a second, the item; redrawn in place as each item is done. Used in a ``with`` block."""

    def __init__(self, items: list, *, label: str, file, show_item) -> None:
        import time

        self._items = items
        self._length = len(items)
        self._label = label
        self._file = file
        self._show_item = show_item
        self._pos = 0
        self._finished = False
        self._current = None
        self._steps: list[float] = []
        self._start = self._last_step = time.time()
        self._eta_known = False
        self._widest: int | None = None
        self._last_line: str | None = None

    def __enter__(self) -> ProgressBar:
        self._draw()
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.write(_AFTER_BAR)
        self._file.flush()

    def __iter__(self):
        self._draw()
        for item in self._items:
            self._current = item
            self._draw()
            yield item
            self._step()
            self._draw()
        self._eta_known = False
        self._current = None
        self._finished = True
        self._draw()

    def _step(self) -> None:
        import time

        self._pos += 1
        if self._pos >= self._length:
            self._finished = True
        if time.time() - self._last_step < 1.0:
            return
        self._last_step = time.time()
        # The time left: the average of the last seven readings of the time per item so far.
        self._steps = [*self._steps[-6:], (time.time() - self._start) / self._pos]
        self._eta_known = True

    def _line(self) -> str:
        done = 1.0 if self._finished else min(self._pos / (float(self._length) or 1.0), 1.0)
        filled = int(done * 36)
        info = [f"{int(done * 100): 4}%"[1:]]
        if self._eta_known and not self._finished:
            left = int(sum(self._steps) / len(self._steps) * (self._length - self._pos))
            days, left = divmod(left, 86400)
            hours, left = divmod(left, 3600)
            clock = f"{hours:02}:{left // 60:02}:{left % 60:02}"
            info.append(f"{days}d {clock}" if days else clock)
        shown = self._show_item(self._current)
        if shown is not None:
            info.append(shown)
        return f"{self._label}  [{'#' * filled}{'-' * (36 - filled)}]  {'  '.join(info)}".rstrip()

    def _draw(self) -> None:
        # Padded to the widest line drawn before this one, so that a shorter line leaves nothing of a longer one.
        clear = 36 if self._widest is None else self._widest
        line = self._line()
        if self._widest is None or self._widest < len(line):
            self._widest = len(line)
        drawn = f"{_BEFORE_BAR}{line}{' ' * (clear - len(line))}"
        if drawn != self._last_line:
            self._last_line = drawn
            self._file.write(drawn)
            self._file.flush()
