"""`decks list` and `decks stats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from builder.commands.complete import complete_tags, complete_topics
from builder.errors import echo
from builder.kinds import KINDS

if TYPE_CHECKING:
    from builder.commands.context import Context


@click.command("list")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    shell_complete=complete_tags,
    help="Only entries with this tag. Repeatable (any).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(list(KINDS)),
    help="Only entries of this kind. Repeatable (any).",
)
@click.option(
    "-t",
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    shell_complete=complete_topics,
    help="Only this topic (file name, with or without its number, or title). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of entries.")
@click.pass_obj
def list_command(
    obj: Context, tags: tuple[str, ...], kinds: tuple[str, ...], topics: tuple[str, ...], as_json: bool
) -> None:
    """List entries per topic: id, kind and question (or term, or cloze text).

    \b
    Examples:
      decks list
      decks list --tag economics --kind claim
      decks list -t 01-deepseek --json
    """
    import json

    from builder.catalog import list_entries, prompt

    listed = list_entries(obj.config, tags=tags, kinds=kinds, topics=topics)
    if as_json:
        echo(json.dumps([item.as_json() for item in listed], indent=2, ensure_ascii=False))
        return
    current = None
    for item in listed:
        if item.topic is not current:
            current = item.topic
            echo(f"{current.slug}: {current.title}")
        text = " ".join(prompt(item.entry).split())
        echo(f"  {item.entry.id}  [{item.entry.kind}]  {_clip(text, 80)}")
    obj.say(f"{len(listed)} entr{'y' if len(listed) == 1 else 'ies'}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def stats_command(obj: Context, as_json: bool) -> None:
    """Count notes and cards per topic and per kind (a concept with a reverse card,
    or a cloze with several deletions, is one note and several cards).

    \b
    Examples:
      decks stats
      decks stats --json | jq .total
    """
    import json

    from builder.catalog import stats

    counts = stats(obj.config)
    if as_json:
        echo(json.dumps(counts, indent=2, ensure_ascii=False))
        return
    kinds = list(KINDS)
    width = max([len("total"), *(len(row["topic"]) for row in counts["topics"])])
    # The kind columns count notes (a note of some kinds makes several cards): the header says so.
    lead = f"{'':<{width}}  {'':>5}  {'':>5}  "
    echo((lead + "notes of each kind".center(9 * len(kinds) - 2)).rstrip())
    header = f"{'topic':<{width}}  {'notes':>5}  {'cards':>5}  " + "  ".join(f"{k:>7}" for k in kinds)
    echo(header)
    for row in counts["topics"]:
        echo(
            f"{row['topic']:<{width}}  {row['notes']:>5}  {row['cards']:>5}  "
            + "  ".join(f"{row['kinds'][k]:>7}" for k in kinds)
        )
    total = counts["total"]
    echo(
        f"{'total':<{width}}  {total['notes']:>5}  {total['cards']:>5}  "
        + "  ".join(f"{counts['kinds'][k]['notes']:>7}" for k in kinds)
    )


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"list": list_command, "stats": stats_command}
