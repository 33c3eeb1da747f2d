"""The ``decks`` command line: the group, its options, and where each command lives.

Each command is a module of ``builder.commands``, imported only when it runs (or its help is asked for):
`decks --version` and `decks --help` load Click and this module, nothing else of the builder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import click

from builder import __version__

if TYPE_CHECKING:
    from builder.errors import DecksError

# Command name -> (its module in builder.commands, the first paragraph of its help). The help is the
# command's own, repeated so that `decks --help` lists every command without importing them;
# tests/test_cli.py checks that each still matches its command.
COMMANDS: dict[str, tuple[str, str]] = {
    "add": ("add", "Add entries to a topic file, keeping the rest of it byte for byte."),
    "build": ("build", "Build the decks: validate every topic file, then write .apkg files."),
    "check": (
        "check",
        "Check the project without writing anything: every validation of the build, then quality rules.",
    ),
    "copy-templates": ("scaffold", "Copy packaged templates into the project's templates/ folder, to edit them."),
    "init": (
        "scaffold",
        "Create a deck project that builds at once: deck.yaml with freshly drawn note-type ids, one example "
        "topic, the topic schema and a .gitignore.",
    ),
    "list": ("catalog", "List entries per topic: id, kind and question (or term, or cloze text)."),
    "new": ("scaffold", "Create a topic file, with one example entry to replace."),
    "preview": ("preview", "Write an HTML preview of every card to output/preview/."),
    "pull": ("anki", "Write edits made in Anki back into the YAML, keeping every other byte of each file."),
    "push": (
        "anki",
        "Build, then bring the collection open in Anki to the project's state, through AnkiConnect.",
    ),
    "schema": ("schema", "Print the JSON Schema of topic files (editors use it to complete and check YAML)."),
    "stats": (
        "catalog",
        "Count notes and cards per topic and per kind (a concept with a reverse card, or a cloze with several "
        "deletions, is one note and several cards).",
    ),
    "status": ("anki", "What differs between the YAML and the collection open in Anki, per topic."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run or completed, named by ``COMMANDS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"builder.commands.{COMMANDS[cmd_name][0]}")
            self.add_command(module.COMMANDS[cmd_name], cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        """Run the command; a DecksError it raises is shown and ends the process as Click's own errors do."""
        from builder.errors import DecksError

        try:
            return super().invoke(ctx)
        except DecksError as exc:
            raise _Shown(exc) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their short help, as Click writes them, from ``COMMANDS`` alone."""
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx) if name in COMMANDS]
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        # Shortened as Click shortens a command's help, by a stand-in command holding only that text.
        shown = [(name, click.Command(name, help=text).get_short_help_str(limit)) for name, text in rows]
        with formatter.section("Commands"):
            formatter.write_dl(shown)


class _Shown(click.ClickException):
    """A DecksError as Click takes its own errors: shown by the error itself, with its exit code."""

    def __init__(self, error: DecksError) -> None:
        super().__init__(error.format_message())
        self.error = error
        self.exit_code = error.exit_code

    def format_message(self) -> str:
        return self.error.format_message()

    def show(self, file=None) -> None:
        self.error.show(file)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  decks build                     one .apkg per topic into output/
  decks build --single            one .apkg with every topic as a subdeck
  decks build --topic deepseek    only cards/01-deepseek.yaml (the number may be left out)
  decks build --watch             rebuild on every save
  decks preview --open            see every card in the browser
  decks check                     find mistakes and weak cards, write nothing
  decks add 01-deepseek           add an entry, asking for its fields
  decks -C ~/my-deck build        a project in another folder
  decks init ~/my-deck            start a new project

Shell completion for bash, zsh and fish: see docs/cli.md.
""",
)
@click.version_option(__version__, "-V", "--version", prog_name="decks")
@click.option(
    "-C",
    "--project",
    "project",
    # A str, made a Path when the project is loaded: neither `--version` nor a no-change build imports pathlib.
    type=click.Path(file_okay=False),
    help="Project folder (holds deck.yaml). Default: the current folder or the nearest one above it.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def cli(ctx: click.Context, project: str | None, quiet: bool) -> None:
    """Build Anki decks from YAML topic files: one deck per topic, ready to import."""
    from builder.commands.context import Context

    ctx.obj = Context(project, quiet)


def main(prog_name: str | None = None) -> None:
    """Entry point of the ``decks`` console script."""
    cli(prog_name=prog_name or "decks")
