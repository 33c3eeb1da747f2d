"""`decks build`: once, or again on every save; its options and help (its body is ``build_body``, free of Click)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from builder.commands.build_body import run_build
from builder.commands.complete import complete_topics

if TYPE_CHECKING:
    from builder.commands.context import Context


@click.command("build")
@click.option("--single", is_flag=True, help="Write one .apkg holding every topic as a subdeck.")
@click.option(
    "-t",
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    shell_complete=complete_topics,
    help="Build only this topic: its file name without .yaml (the number may be left out) or its title. Repeatable.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False),
    help="Folder for the .apkg files. Default: output/ in the project.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (same as `decks -q build`).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes that read and render topics; 0: two when there is enough to do and a core is idle.",
)
@click.option("--timings", is_flag=True, help="Print on stderr how long each stage of the build took.")
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Build, then build again on every save of topic files, templates, media or deck.yaml, until Ctrl+C.",
)
@click.option(
    "--new-identity",
    is_flag=True,
    help=(
        "Build even though entry ids or the project name changed since the last build, giving those "
        "notes a new identity in Anki. You lose their link to the old notes: Anki adds them as new "
        "notes with no review history, and the old notes stay in your collection beside them. "
        "To keep a renamed entry's history, give it `was: OLD-ID` instead."
    ),
)
@click.pass_obj
def build_command(
    obj: Context,
    single: bool,
    topics: tuple[str, ...],
    output: str | None,
    quiet: bool,
    jobs: int,
    timings: bool,
    watch: bool,
    new_identity: bool,
) -> None:
    """Build the decks: validate every topic file, then write .apkg files.

    Every problem in every file is reported as FILE:LINE:COL: message, and
    nothing is written while any remains. Rebuilding unchanged cards gives
    byte-identical files; edited cards update their notes in place when
    re-imported into Anki, keeping review history. A progress bar shows on
    stderr when it is a terminal.

    \b
    Examples:
      decks build
      decks build --single -o ~/Desktop
      decks build -t 01-deepseek -t 05-large-action-model
      decks build --quiet
      decks build --watch           rebuild on every save; errors show as they appear
    """
    run_build(
        obj,
        single=single,
        topics=topics,
        output=output,
        quiet=quiet,
        jobs=jobs,
        timings=timings,
        watch=watch,
        new_identity=new_identity,
    )


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"build": build_command}
