"""`decks add`: entries into a topic file, from options, prompts or a YAML file."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from builder.commands.complete import complete_tags, complete_topics
from builder.errors import echo
from builder.kinds import FLAG, KINDS

if TYPE_CHECKING:
    from builder.commands.context import Context


def _entry_options(function):
    """One option per key of any kind, so that every field can be given on the command line."""
    keys: dict[str, dict[str, list[str]]] = {}
    types: dict[str, str] = {}
    for kind in KINDS.values():
        for key in kind.keys:
            keys.setdefault(key.name, {}).setdefault(key.help, []).append(kind.name)
            types[key.name] = key.type
    for name, helps in reversed(keys.items()):
        # One meaning per kind group: "--answer: the claim (claim); the answer (qa)".
        text = "; ".join(f"{meaning} ({', '.join(kinds)})" for meaning, kinds in helps.items())
        text = text[:1].upper() + text[1:] + "."
        if types[name] == FLAG:
            function = click.option(f"--{name}/--no-{name}", default=None, help=text)(function)
        else:
            function = click.option(f"--{name}", metavar="TEXT", help=text)(function)
    return function


def _interactive() -> bool:
    return sys.stdin.isatty()


@click.command("add")
@click.argument("topic", shell_complete=complete_topics)
@click.option("-k", "--kind", type=click.Choice(list(KINDS)), help="Entry kind.")
@click.option("--id", "entry_id", metavar="ID", help="The entry's id. Default: made from the question or term.")
@_entry_options
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    shell_complete=complete_tags,
    help="A tag for this entry. Repeatable.",
)
@click.option("--source", metavar="TEXT", help="Where the fact comes from (default: the topic's source).")
@click.option(
    "--allow", "allow", multiple=True, metavar="RULE", help="A quality rule this entry is an exception to. Repeatable."
)
@click.option(
    "--from",
    "from_file",
    type=click.File("rb"),
    metavar="FILE.yaml",
    help="Add every entry of a YAML list (or of a topic-like file's entries); - reads stdin.",
)
@click.pass_obj
def add_command(
    obj: Context,
    topic: str,
    kind: str | None,
    entry_id: str | None,
    tags: tuple[str, ...],
    source: str | None,
    allow: tuple[str, ...],
    from_file,
    **values,
) -> None:
    """Add entries to a topic file, keeping the rest of it byte for byte.

    TOPIC is a topic's file name without .yaml (the number may be left out),
    its title, or a path to it. Fields not
    given as options are asked for when stdin is a terminal; otherwise a
    missing required field is an error. The id is made from the question or
    term unless --id is given. The entry and the whole file are checked
    before the file is written, in one atomic step.

    \b
    Examples:
      decks add 01-deepseek --kind qa --question "Who founded Adept?" --answer "David Luan"
      decks add 01-deepseek --kind concept --term "Mixture of experts" --definition "..." --reverse
      decks add 01-deepseek --kind cloze --text "Founded in {{c1::2022}}." --tag history
      decks add 01-deepseek                  asks for the kind and each field
      decks add 01-deepseek --from new.yaml  several entries at once
      cat new.yaml | decks add 01-deepseek --from -
    """
    from builder import add as adding

    config = obj.config
    path = adding.resolve_topic(config, topic)
    given = {k: v for k, v in values.items() if v is not None}
    common = {k: v for k, v in (("tags", list(tags)), ("source", source), ("allow", list(allow))) if v}
    if from_file is not None:
        if kind or entry_id or common or given:
            raise click.UsageError("--from takes the entries from the file; give no entry options with it")
        entries = adding.entries_from_yaml(from_file.read(), getattr(from_file, "name", "-"))
    else:
        entries = [_entry_from_options(kind, entry_id, common, given)]
    added_entries, warnings = adding.add_entries(config, path, entries)
    for added in added_entries:
        obj.say(f"Added {added.kind} '{added.id}' to {config.rel(path)}:{added.line}")
    for warning in [] if obj.quiet else warnings:
        echo(warning, err=True)


def _entry_from_options(
    kind: str | None, entry_id: str | None, common: dict[str, object], given: dict[str, object]
) -> dict[str, object]:
    interactive = _interactive()
    if kind is None:
        if not interactive:
            raise click.UsageError(f"missing --kind (one of: {', '.join(KINDS)})")
        kind = click.prompt("kind", type=click.Choice(list(KINDS)))
    spec = KINDS[kind]
    foreign = sorted(k for k in given if k not in spec.key_names)
    if foreign:
        raise click.UsageError(
            f"{', '.join('--' + k for k in foreign)} does not apply to a {kind} entry "
            f"(its fields: {', '.join(spec.key_names)})"
        )
    from builder import add as adding

    missing = adding.missing_keys(kind, given)
    if missing and not interactive:
        raise click.UsageError(
            f"a {kind} entry needs {' and '.join('--' + k for k in missing)} "
            "(nothing is asked when stdin is not a terminal)"
        )
    for key in missing:
        help_text = next(k.help for k in spec.keys if k.name == key)
        given[key] = click.prompt(f"{key} ({help_text})")
    return {"kind": kind, **({"id": entry_id} if entry_id else {}), **given, **common}


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"add": add_command}
