"""One family of errors: every failure a user can cause is a DecksError with a clear message.

The builder's own, free of Click: `decks build` and `decks push` run without loading it (``builder.cmdline``),
and the Click group shows a DecksError as Click shows its own (``builder.cli``).
"""

from __future__ import annotations

from typing import NamedTuple

from builder.rules import INVALID
from builder.terminal import echo as echo


class Location(NamedTuple):
    """A place in a file, 1-based, as shown to users."""

    # A named tuple rather than a dataclass: a build makes several for every entry, and this is
    # the cheapest immutable record to make.
    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class Problem:
    """One problem in one file, at a line and column when the file has them, and the rule it breaks."""

    # A plain class rather than a dataclass, which would cost every build the making of its methods at import.
    # Problems are values: equal and hashed by all their fields (a set drops repeats), never changed once made.
    __slots__ = ("path", "line", "col", "message", "rule")

    def __init__(self, path: str, line: int | None, col: int | None, message: str, rule: str = INVALID) -> None:
        # One problem, one line: a line break quoted from a project (a tag, a file name) is shown as \n.
        if "\n" in path or "\r" in path:
            path = path.replace("\r", "\\r").replace("\n", "\\n")
        if "\n" in message or "\r" in message:
            message = message.replace("\r", "\\r").replace("\n", "\\n")
        self.path = path
        self.line = line
        self.col = col
        self.message = message
        # The rule name `decks check` reports and the project's `rules:` refer to.
        self.rule = rule

    @classmethod
    def at(cls, loc: Location, message: str, rule: str = INVALID) -> Problem:
        """A problem at a location."""
        return cls(loc.path, loc.line, loc.col, message, rule)

    def _key(self) -> tuple:
        return (self.path, self.line, self.col, self.message, self.rule)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if type(other) is Problem else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        if self.col is None:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class DecksError(Exception):
    """A failure the user can fix; shown without a traceback, exit code 1.

    It speaks Click's protocol for its errors (``message``, ``exit_code``, ``format_message``, ``show``), so that
    the Click group shows it as one of its own and a command run without Click shows it alike.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        """The message as shown."""
        return self.message

    def __str__(self) -> str:
        return self.message

    def show(self, file=None) -> None:
        """Print the message on stderr (or ``file``), control characters shown escaped."""
        echo(self.format_message(), err=True, file=file)


class UsageError(DecksError):
    """The command line asks for something impossible; shown without a traceback, exit code 2."""

    exit_code = 2


class ProblemsError(DecksError):
    """Every problem found in a project, reported together."""

    def __init__(self, problems: list[Problem], what: str = "nothing was written"):
        self.problems = sorted(set(problems), key=_sort_key)
        count = len(self.problems)
        files = len({p.path for p in self.problems})
        noun = "error" if count == 1 else "errors"
        fnoun = "file" if files == 1 else "files"
        lines = [str(p) for p in self.problems]
        lines.append(f"{count} {noun} in {files} {fnoun}; {what}.")
        super().__init__("\n".join(lines))


def _sort_key(p: Problem) -> tuple:
    return (p.path, p.line or 0, p.col or 0, p.message)
