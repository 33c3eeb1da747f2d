"""The state of one command: the project folder it was given, --quiet, and the config, loaded on first use.

Free of Click: the Click group makes it for every command, and `decks build` and `decks push` run without Click
(``builder.cmdline``) make it the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builder.config import Config


class Context:
    """Finds and loads the project on first use, so `--help` works anywhere."""

    def __init__(self, project: str | None, quiet: bool = False):
        # The -C folder as given (None: the current folder); made a Path only when the project is loaded.
        self.project = project
        self._config: Config | None = None
        self.quiet = quiet

    @property
    def config(self) -> Config:
        """The project's config, found from the -C folder (or the current one) and loaded once."""
        if self._config is None:
            from pathlib import Path

            from builder.config import find_root, load_config

            self._config = load_config(find_root(Path(self.project) if self.project else Path.cwd()))
        return self._config

    def say(self, message: str) -> None:
        """Report progress on stdout, unless --quiet."""
        if not self.quiet:
            from builder.terminal import echo

            echo(message)
