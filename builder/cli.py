"""The ``decks`` command line: parses options, calls the core, reports."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from builder import __version__
from builder.build import build
from builder.config import Config, find_root, load_config
from builder.errors import DecksError
from builder.preview import PreviewResult, build_preview


class Context:
    """Finds and loads the project on first use, so `--help` works anywhere."""

    def __init__(self, project: Path | None):
        self._project = project
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_root(self._project or Path.cwd()))
        return self._config


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  decks build                     one .apkg per topic into output/
  decks build --single            one .apkg with every topic as a subdeck
  decks build --topic deepseek    only cards/deepseek.yaml
  decks preview --open            see every card in the browser
  decks -C ~/my-deck build        a project in another folder
""",
)
@click.version_option(__version__, "-V", "--version", prog_name="decks")
@click.option(
    "-C",
    "--project",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project folder (holds deck.yaml). Default: the current folder or the nearest one above it.",
)
@click.pass_context
def cli(ctx: click.Context, project: Path | None) -> None:
    """Build Anki decks from YAML topic files: one deck per topic, ready to import."""
    ctx.obj = Context(project)


@cli.command("build")
@click.option("--single", is_flag=True, help="Write one .apkg holding every topic as a subdeck.")
@click.option(
    "-t",
    "--topic",
    "topics",
    multiple=True,
    metavar="SLUG",
    help="Build only this topic (its file name without .yaml). Repeatable.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .apkg files. Default: output/ in the project.",
)
@click.pass_obj
def build_command(obj: Context, single: bool, topics: tuple[str, ...], output: Path | None) -> None:
    """Build the decks: validate every topic file, then write .apkg files.

    Every problem in every file is reported as FILE:LINE:COL: message, and
    nothing is written while any remains. Rebuilding unchanged cards gives
    byte-identical files; edited cards update their notes in place when
    re-imported into Anki, keeping review history.

    \b
    Examples:
      decks build
      decks build --single -o ~/Desktop
      decks build -t 01-deepseek -t 05-large-action-model
    """
    config = obj.config
    result = build(config, topics=topics, single=single, output_dir=output)
    where = config.rel(result.output_dir)
    click.echo(
        f"Built {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {where}/ "
        f"({len(result.written)} written, {len(result.unchanged)} unchanged)"
    )
    for path in result.written:
        click.echo(f"  wrote {config.rel(path)}")


@cli.command("preview")
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in the web browser.")
@click.option("--serve", is_flag=True, help="Serve the preview on localhost and rebuild it on every save.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port for --serve (0: any free port).",
)
@click.pass_obj
def preview_command(obj: Context, open_browser: bool, serve: bool, port: int) -> None:
    """Write an HTML preview of every card to output/preview/.

    Each card shows its question side, then its answer side (click to reveal),
    with the HTML and CSS that go into the decks; cloze deletions show as
    blanks on the front, formulas render offline. The index lists topics with
    their counts and searches every entry by text and tag.

    \b
    Examples:
      decks preview
      decks preview --open
      decks preview --serve --open
    """
    config = obj.config
    if serve:
        _serve(config, port, open_browser)
        return
    result = build_preview(config)
    click.echo(_preview_line(config, result))
    if open_browser:
        click.launch(result.index.as_uri())


def _preview_line(config: Config, result: PreviewResult) -> str:
    return (
        f"Preview of {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {config.rel(result.index)}"
    )


def _serve(config: Config, port: int, open_browser: bool) -> None:
    def report(outcome: PreviewResult | DecksError) -> None:
        if isinstance(outcome, DecksError):
            outcome.show()
        else:
            click.echo(_preview_line(config, outcome))

    def ready(url: str) -> None:
        click.echo(f"Serving {url} ; rebuilds on every save, Ctrl+C stops.")
        if open_browser:
            click.launch(url)

    # Imported here: the web server's modules would slow the start of every other command.
    from builder.serve import serve_preview

    try:
        serve_preview(config, port=port, report=report, on_ready=ready, stop=threading.Event())
    except KeyboardInterrupt:
        click.echo("Stopped.")


def main(prog_name: str | None = None) -> None:
    """Entry point of the ``decks`` console script."""
    cli(prog_name=prog_name or "decks")
