"""`decks build`'s body: the no-change check, one build (or one on every save) and its report.

Free of Click: the Click command (``builder.commands.build``) calls it with the options it parsed, and so does
the console entry point when it reads a plain `decks build` itself (``builder.cmdline``), without loading Click.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from builder.ending import reported
from builder.terminal import echo

if TYPE_CHECKING:
    from pathlib import Path

    from builder.commands.context import Context
    from builder.config import Config


def run_build(
    obj: Context,
    *,
    single: bool,
    topics: tuple[str, ...],
    output: str | None,
    quiet: bool,
    jobs: int,
    timings: bool,
    watch: bool,
    new_identity: bool,
) -> None:
    """Build the decks as the options of `decks build` ask, and report; raises a DecksError on failure."""
    obj.quiet = obj.quiet or quiet
    if not watch:
        from builder.nochange import options_key, unchanged_build

        # Nothing changed since the last build with these options: told without loading the project.
        key = options_key(single=single, topics=topics, new_identity=new_identity)
        unchanged = unchanged_build(obj.project, output, key)
        if unchanged is not None:
            with contextlib.ExitStack() as stack:
                track = _progress(obj, stack)
                for _ in track([]) if track else ():
                    pass  # shown as the full build shows it: no package to write
            _report(obj, unchanged.where, unchanged, timings)
            reported()
            return
    from pathlib import Path

    options = {
        "topics": topics,
        "single": single,
        "output": Path(output) if output is not None else None,
        "jobs": jobs,
        "timings": timings,
        "new_identity": new_identity,
    }
    if watch:
        _watch_builds(obj, options)
        return
    # The one build of this command: the process ends right after its report.
    _build_once(obj, obj.config, **options, freeze=True)
    reported()


def _watch_builds(obj: Context, options: dict) -> None:
    """Build, then again after each save; a failed build is reported and the last good decks stay."""
    import threading

    from builder.config import load_config
    from builder.errors import DecksError
    from builder.watch import changes, source_folders

    config = obj.config

    def attempt(first: bool = False) -> None:
        nonlocal config
        try:
            # deck.yaml may have changed: it is read again for each build.
            config = load_config(config.root)
            _build_once(obj, config, **options)
        except DecksError as exc:
            if first and exc.exit_code == 2:
                raise  # a mistake on the command line: watching would repeat it on every save
            exc.show()

    def started() -> None:
        attempt(first=True)
        folders = ", ".join(f"{config.rel(p)}/" for p in source_folders(config))
        echo(f"Watching {folders} and deck.yaml; Ctrl+C stops.", err=True)

    try:
        for changed in changes(config, threading.Event(), started=started):
            shown = ", ".join(config.rel(p) for p in changed[:3]) + (" ..." if len(changed) > 3 else "")
            echo(f"Changed: {shown}", err=True)
            attempt()
    except KeyboardInterrupt:
        echo("Stopped.", err=True)


def _build_once(
    obj: Context,
    config: Config,
    *,
    topics: tuple[str, ...],
    single: bool,
    output: Path | None,
    jobs: int,
    timings: bool,
    new_identity: bool = False,
    freeze: bool = False,
) -> None:
    from builder.ahead import NoteTypesAhead

    # Forked before the build's modules load: the note types are made there meanwhile (see ahead.py).
    ahead = NoteTypesAhead.start(config, output, jobs)
    with contextlib.ExitStack() as stack:
        if ahead is not None:
            stack.callback(ahead.close)
        from builder.build import build

        result = build(
            config,
            topics=topics,
            single=single,
            output_dir=output,
            progress=_progress(obj, stack),
            jobs=jobs,
            new_identity=new_identity,
            ahead=ahead,
            freeze=freeze,
        )
    _report(obj, config.rel(result.output_dir), result, timings, config.rel)


def _progress(obj: Context, stack: contextlib.ExitStack):
    """What shows each package as it is written: a progress bar on a terminal's stderr (None elsewhere)."""
    terminal = None if obj.quiet else _terminal_stderr()
    if terminal is None:
        return None

    from builder.terminal import ProgressBar, printable

    def track(packages):
        return stack.enter_context(
            ProgressBar(
                packages,
                label="Building",
                file=terminal,
                show_item=lambda package: printable(package.path.name) if package else None,
            )
        )

    return track


def _report(obj: Context, where: str, result, timings: bool, rel=None) -> None:
    """Print what a build did (``rel`` shows a path as the project does; needed only when it wrote or removed)."""
    obj.say(
        f"Built {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {where}/ "
        f"({len(result.written)} written, {len(result.unchanged)} unchanged)"
    )
    for path in result.written:
        obj.say(f"  wrote {rel(path)}")
    for path in result.removed:
        obj.say(f"  removed {rel(path)} (its topic is gone)")
    # Each tells of something Anki will not do on import; --quiet keeps to errors only.
    for notice in [] if obj.quiet else result.notices:
        echo(f"note: {notice}", err=True)
    if timings:
        stages = ", ".join(f"{stage} {seconds:.3f}" for stage, seconds in result.timings.items())
        echo(f"Timings (s): {stages}; {result.read} topic files read", err=True)


def _terminal_stderr():
    """stderr when it is a terminal (where progress bars go), else None."""
    return sys.stderr if sys.stderr.isatty() else None
