"""`decks push`, `status` and `pull`: the project and the collection open in Anki, through AnkiConnect.

Their options and help; the push's body and the session every one of them opens are in ``anki_body``, free of
Click.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from builder.commands.anki_body import run_push, session
from builder.errors import echo

if TYPE_CHECKING:
    from builder.commands.context import Context


def _anki_options(function):
    """The options every command that talks to Anki takes: where AnkiConnect is, its key, the profile."""
    function = click.option(
        "--profile",
        metavar="NAME",
        help="The Anki profile to work on (must be the one open in Anki). Needed once to push to a second profile.",
    )(function)
    function = click.option(
        "--api-key",
        metavar="KEY",
        envvar="DECKS_ANKI_KEY",
        help="AnkiConnect's API key, when its config sets one. Env: DECKS_ANKI_KEY.",
    )(function)
    function = click.option(
        "--url",
        metavar="URL",
        envvar="DECKS_ANKI_URL",
        default="http://127.0.0.1:8765",
        show_default=True,
        help="Where AnkiConnect listens. Env: DECKS_ANKI_URL.",
    )(function)
    return function


@click.command("push")
@_anki_options
@click.option("-n", "--dry-run", is_flag=True, help="Print what would change in Anki, and change nothing.")
@click.option(
    "--delete", is_flag=True, help="Delete the notes of removed entries (default: tag them decks::removed, suspend)."
)
@click.option(
    "--overwrite", is_flag=True, help="Also update notes changed on both sides, with the YAML's text (Anki's is lost)."
)
@click.pass_obj
def push_command(
    obj: Context, url: str, api_key: str | None, profile: str | None, dry_run: bool, delete: bool, overwrite: bool
) -> None:
    """Build, then bring the collection open in Anki to the project's state, through AnkiConnect.

    New and changed notes go in through Anki's own package import (review
    history kept); cards of entries moved to another topic move with them;
    a renamed topic renames its deck; entries removed from the YAML are
    tagged decks::removed and suspended (deleted with --delete). Tags added
    in Anki are kept. Edits made in Anki are never overwritten: an entry
    changed on both sides is reported as a conflict and left alone. The
    plan is printed before anything changes; only this project's notes are
    touched.

    \b
    Examples:
      decks push --dry-run
      decks push
      decks push --delete
      decks push --url http://127.0.0.1:8766
    """
    run_push(obj, url=url, api_key=api_key, profile=profile, dry_run=dry_run, delete=delete, overwrite=overwrite)


@click.command("status")
@_anki_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status_command(obj: Context, url: str, api_key: str | None, profile: str | None, as_json: bool) -> None:
    """What differs between the YAML and the collection open in Anki, per topic.

    New entries, entries changed in the YAML since the last push, notes
    edited in Anki since the last push, both (conflicts, with both texts),
    removed and moved entries, and notes carrying tags added in Anki.
    Builds first (incrementally); changes nothing in Anki.

    \b
    Examples:
      decks status
      decks status --json
    """
    import json

    from builder.anki.push import plan_push
    from builder.anki.status import status_data, status_lines

    opened = session(obj, url, api_key, profile)
    data = status_data(plan_push(opened), opened.topics)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        echo("\n".join(status_lines(data)))


@click.command("pull")
@_anki_options
@click.option("-n", "--dry-run", is_flag=True, help="Print the changes to the YAML as a diff, and write nothing.")
@click.pass_obj
def pull_command(obj: Context, url: str, api_key: str | None, profile: str | None, dry_run: bool) -> None:
    """Write edits made in Anki back into the YAML, keeping every other byte of each file.

    Each field edited in Anki since the last push becomes the new value of
    the entry key it is built from, reported as FILE:LINE. A field changed
    on both sides, or an edit the entry's format cannot express, is a
    conflict: both texts are shown and nothing is written for it. Exit 1
    when any conflict was reported (after writing every other edit).

    \b
    Examples:
      decks pull --dry-run
      decks pull
    """
    from builder.anki.pull import apply_pull, plan_pull
    from builder.anki.push import plan_push

    opened = session(obj, url, api_key, profile)
    result = apply_pull(obj.config, plan_pull(obj.config, plan_push(opened)), dry_run=dry_run)
    if dry_run:
        for diff in result.diffs.values():
            echo(diff, nl=False)
    for edit in result.edits:
        verb = "would set" if dry_run else "set"
        obj.say(f"{edit.path}:{edit.line}: {verb} '{edit.key}' of '{edit.entry}' from Anki")
    for conflict in result.conflicts:
        echo(f"conflict: '{conflict.entry}' field '{conflict.field}': {conflict.reason}; nothing written", err=True)
        echo(f"  YAML: {conflict.yaml_text}", err=True)
        echo(f"  Anki: {conflict.anki_text}", err=True)
    if result.conflicts:
        from builder.errors import DecksError

        # A script must tell a pull that left Anki edits behind from one that took them all.
        count, edits = len(result.conflicts), len(result.edits)
        done = "would be written" if dry_run else "written"
        raise DecksError(
            f"{count} conflict{'s' if count != 1 else ''} left as {'they are' if count != 1 else 'it is'} "
            f"(see above); {edits} edit{'s' if edits != 1 else ''} {done}"
        )
    if not result.edits:
        obj.say("Nothing edited in Anki since the last push.")


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"push": push_command, "status": status_command, "pull": pull_command}
