"""What the builder prints passes through here: a project's text reaches the terminal with its control characters
shown escaped. Apart from errors.py so that a command that only reports (a no-change build) loads nothing more."""

from __future__ import annotations

import re

import click

# Control characters other than tab and line feed: printed raw, a project's text could move the cursor,
# retitle the terminal or hide lines. Shown as \x1b, \x9b and so on instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (but tab and line feed) shown escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line that may hold a project's text, with control characters shown escaped."""
    click.echo(printable(message), err=err, nl=nl)
