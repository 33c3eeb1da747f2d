"""Waiting for a project's sources to change: topic files, templates, media and deck.yaml.

The folders are watched with watchfiles (inotify and its kin: no polling of every file). deck.yaml
and the folders' existence are looked at between waits instead: watching the project folder itself
would mean watching everything under it (the virtual environment, the output, git).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import watchfiles

from builder.config import CONFIG_NAME, Config
from builder.media import media_dir


def source_folders(config: Config) -> list[Path]:
    """The folders a build reads: topic files, the project's templates, media."""
    return [config.cards_dir, config.templates_dir, media_dir(config)]


def _state(config: Config) -> tuple[tuple[Path, ...], tuple[int, int] | None]:
    folders = tuple(p for p in source_folders(config) if p.is_dir())
    try:
        stat = (config.root / CONFIG_NAME).stat()
        deck = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        deck = None
    return folders, deck


class _Filter(watchfiles.DefaultFilter):
    """Editors' swap and backup files, and files a build writes through a temp name, are not saves."""

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return super().__call__(change, path) and not Path(path).name.startswith(".")


def _saved(batch: set[tuple[watchfiles.Change, str]]) -> list[Path]:
    """The paths of a batch of changes, without files that came and went in it (an editor's temp file)."""
    added = {path for change, path in batch if change == watchfiles.Change.added}
    deleted = {path for change, path in batch if change == watchfiles.Change.deleted}
    transient = {path for path in added & deleted if not Path(path).exists()}
    return sorted({Path(path) for _, path in batch if path not in transient})


def changes(
    config: Config,
    stop: threading.Event,
    *,
    interval: float = 0.3,
    started: Callable[[], None] | None = None,
) -> Iterator[list[Path]]:
    """Yield the source files changed (or the folder, or deck.yaml) each time some are saved, until ``stop``.

    Saves made within a moment of each other come as one change, so a rebuild starts once an editor
    (or a `git checkout`) is done writing; saves made while the caller rebuilds come next time.
    ``interval`` is how often deck.yaml and the folders' existence are looked at. ``started`` is called
    once the watching has begun (a first build there misses no save made while it runs).
    """
    folders, deck = _state(config)
    while not stop.is_set():
        if not folders:
            if stop.wait(interval):
                return
            batches: Iterator[set] = iter([set()])
        else:
            # The watcher stays open while the caller works on a change, so nothing saved meanwhile is missed.
            batches = watchfiles.watch(
                *folders,
                watch_filter=_Filter(),
                stop_event=stop,
                rust_timeout=max(1, int(interval * 1000)),
                yield_on_timeout=True,
                step=50,
                raise_interrupt=True,
            )
        for batch in batches:
            if started is not None:
                started()
                started = None
            changed = _saved(batch)
            now_folders, now_deck = _state(config)
            if now_deck != deck:
                changed.append(config.root / CONFIG_NAME)
            moved = sorted(set(now_folders) ^ set(folders))
            changed += [p for p in moved if p not in changed]
            deck = now_deck
            if changed:
                yield changed
            if moved:
                folders = now_folders
                break  # watch the folders there are now
        else:
            if folders:
                return  # stopped
