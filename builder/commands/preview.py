"""`decks preview`: the HTML preview, once or served and rebuilt on every save."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from builder.errors import echo

if TYPE_CHECKING:
    from builder.commands.context import Context
    from builder.config import Config
    from builder.errors import DecksError
    from builder.preview import PreviewResult


@click.command("preview")
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
    from builder.preview import build_preview

    result = build_preview(config)
    obj.say(_preview_line(config, result))
    if open_browser:
        _open(result.index.as_uri(), str(result.index))


def _preview_line(config: Config, result: PreviewResult) -> str:
    return (
        f"Preview of {result.topics} topic{'s' if result.topics != 1 else ''}: "
        f"{result.notes} notes, {result.cards} cards -> {config.rel(result.index)}"
    )


def _open(url: str, shown: str) -> None:
    """Open a page in the web browser; without one, say so and print where the page is."""
    import webbrowser

    try:
        opened = webbrowser.get().open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        echo(f"No web browser found to open the preview; open this in one: {shown}", err=True)


def _serve(config: Config, port: int, open_browser: bool) -> None:
    import threading

    from builder.errors import DecksError

    def report(outcome: PreviewResult | DecksError) -> None:
        if isinstance(outcome, DecksError):
            outcome.show()
        else:
            echo(_preview_line(config, outcome))

    def ready(url: str) -> None:
        echo(f"Serving {url} ; rebuilds on every save and reloads the page, Ctrl+C stops.")
        if open_browser:
            _open(url, url)

    # Imported here: the web server's modules would slow the start of every other command.
    from builder.serve import serve_preview

    try:
        serve_preview(config, port=port, report=report, on_ready=ready, stop=threading.Event())
    except KeyboardInterrupt:
        echo("Stopped.")


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"preview": preview_command}
