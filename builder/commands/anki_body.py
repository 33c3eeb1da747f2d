"""The body of `decks push`, and the session with Anki that `push`, `status` and `pull` open.

Free of Click: the Click commands (``builder.commands.anki``) call them with the options they parsed, and the
console entry point runs a plain `decks push` it reads itself (``builder.cmdline``) without loading Click.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from builder.terminal import echo

if TYPE_CHECKING:
    from builder.commands.context import Context


def session(obj: Context, url: str, api_key: str | None, profile: str | None, *, quick: bool = False, **options):
    """The push session (``anki.push.open_session``) with the collection open in Anki; its notes shown on stderr."""
    from builder.anki.client import AnkiConnect
    from builder.anki.push import ask_ahead, open_session, recorded_build

    client = AnkiConnect(url, api_key)
    # A push's first question to Anki goes out before the project's config is even loaded.
    ahead = ask_ahead(obj.project, client, profile=profile, delete=options.get("delete", False)) if quick else None
    # With nothing to build, the config comes from the build's no-change record, which signs deck.yaml.
    recorded = recorded_build(obj.project) if quick else None
    config, unchanged, hashes = recorded if recorded is not None else (obj.config, None, None)
    opened = open_session(
        config, client, profile=profile, quick=quick, ahead=ahead, unchanged=unchanged, hashes=hashes, **options
    )
    for message in opened.messages:
        echo(f"note: {message}", err=True)
    return opened


def run_push(
    obj: Context, *, url: str, api_key: str | None, profile: str | None, dry_run: bool, delete: bool, overwrite: bool
) -> None:
    """Push as the options of `decks push` ask, and report; raises a DecksError on failure."""
    from builder.anki.push import apply_plan, collector_off, plan_lines, plan_push, refuse_if_needed
    from builder.ending import reported

    # Off from the first read to the last word: turned back on between the steps, the collector would walk
    # every record and note the push holds, again and again.
    with collector_off(freeze=True):
        opened = session(obj, url, api_key, profile, quick=True, delete=delete)
        plan = plan_push(opened, overwrite=overwrite)
        lines = plan_lines(plan, delete=delete)
        head = f"Push to Anki profile '{plan.profile}'" + (" (dry run: nothing changes)" if dry_run else "") + ":"
        obj.say("\n".join([head, *lines]))
        refuse_if_needed(plan)
        if dry_run:
            reported()
            return
        if delete and (plan.removed or plan.already_removed):
            obj.say(f"Deleting {len(plan.removed) + len(plan.already_removed)} notes of removed entries.")
        report = apply_plan(opened, plan, delete=delete)
        obj.say("Done: " + ("; ".join(report.done) if report.done else "nothing to change") + ".")
        if plan.conflicts:
            echo(
                f"note: {len(plan.conflicts)} notes changed both in the YAML and in Anki were left as they are in "
                "Anki: `decks status` shows both texts; `decks push --overwrite` takes the YAML's.",
                err=True,
            )
    # Everything is written and said: the process may end without the interpreter's teardown.
    reported()
