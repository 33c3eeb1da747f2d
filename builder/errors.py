"""One family of errors: every failure a user can cause is a DecksError with a clear message."""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one file, at a line and column when the file has them."""

    path: str
    line: int | None
    col: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        if self.col is None:
            return f"{self.path}:{self.line}: {self.message}"
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class DecksError(click.ClickException):
    """A failure the user can fix; shown without a traceback, exit code 1."""

    def show(self, file=None) -> None:  # noqa: D401 - click's signature
        click.echo(self.format_message(), err=True, file=file)


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
