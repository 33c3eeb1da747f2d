"""Where a project is: the nearest folder holding deck.yaml. Apart from config.py, which loads it, so that
finding the project costs no YAML, nor pathlib (the no-change check finds it before anything is loaded)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

CONFIG_NAME = "deck.yaml"


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding a config file."""
    from pathlib import Path

    folder, problem = _search(str(start))
    if problem is not None:
        from builder.errors import DecksError

        raise DecksError(problem)
    return Path(folder)


def nearest_root(start: str) -> str | None:
    """``find_root``'s folder, or None where it fails."""
    folder, problem = _search(start)
    return None if problem is not None else folder


def _search(start: str) -> tuple[str, str | None]:
    """The project's folder, or why there is none."""
    start = os.path.realpath(start)
    folder = start
    while True:
        config = os.path.join(folder, CONFIG_NAME)
        if os.path.isfile(config):
            return folder, None
        if os.path.lexists(config):
            # Never a build of the project above: this one's config is broken, and that is the error.
            what = (
                "a folder"
                if os.path.isdir(config)
                else "not a regular file"
                if os.path.exists(config)
                else "a broken link"
            )
            return "", f"{config} is {what}; {CONFIG_NAME} must be a file"
        parent = os.path.dirname(folder)
        if parent == folder:
            return "", (
                f"not inside a deck project: no {CONFIG_NAME} in {start} or any folder above it "
                "(start one with `decks init FOLDER`, or point at one with `decks -C FOLDER`)"
            )
        folder = parent
