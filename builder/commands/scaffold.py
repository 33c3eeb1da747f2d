"""`decks new`, `decks init` and `decks copy-templates`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from builder.commands.context import Context


@click.command("new")
@click.argument("title")
@click.option(
    "--slug",
    metavar="SLUG",
    help="File name without .yaml. Default: from the title, numbered like the other topic files when they all are.",
)
@click.option("--description", metavar="TEXT", help="Shown in Anki's deck overview.")
@click.option("--source", metavar="TEXT", help="Default source of the topic's entries.")
@click.pass_obj
def new_command(obj: Context, title: str, slug: str | None, description: str | None, source: str | None) -> None:
    """Create a topic file, with one example entry to replace.

    \b
    Examples:
      decks new "Scaling Laws"
      decks new "Scaling Laws" --slug scaling --source "Part 3"
    """
    config = obj.config
    from builder.scaffold import new_topic

    created = new_topic(config, title, slug=slug, description=description, source=source)
    obj.say(f"Created {config.rel(created.path)}; add entries with: decks add {created.slug}")
    obj.say("Replace its example entry: `decks check` flags it until then.")
    if source is None and config.rules.get("missing-source") != "off":
        obj.say(
            "It has no source: add `source: ...` under its title (or give --source), "
            "or `decks check --strict` fails on entries without one."
        )


@click.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--project-name",
    "project_name",
    metavar="SLUG",
    help="The project's identity in Anki (lowercase, dashes). Default: from the folder name.",
)
@click.option("--root-deck", metavar="NAME", help="The deck every topic goes under. Default: from the folder name.")
@click.option(
    "--templates",
    "copy_all_templates",
    is_flag=True,
    help="Also copy every packaged template into templates/ to edit (they then override the packaged ones).",
)
@click.pass_obj
def init_command(
    obj: Context, folder: Path, project_name: str | None, root_deck: str | None, copy_all_templates: bool
) -> None:
    """Create a deck project that builds at once: deck.yaml with freshly drawn
    note-type ids, one example topic, the topic schema and a .gitignore.

    Templates are not copied: the project uses the packaged ones (and gets
    their fixes) until it copies one to change it, with `decks copy-templates`.

    \b
    Examples:
      decks init my-deck
      decks init ~/decks/biology --root-deck "Biology 101"
      decks init . --templates      here, with a copy of every template
      cd my-deck && decks build
    """
    from builder.scaffold import init_project

    files = init_project(folder, project=project_name, root_deck=root_deck, templates=copy_all_templates)
    here = folder.resolve() == Path.cwd().resolve()
    command = "decks build" if here else f"decks -C {folder} build"
    obj.say(f"Created a deck project in {folder} ({len(files)} files); build it with: {command}")


@click.command("copy-templates")
@click.argument("names", nargs=-1, required=True, metavar="KIND|FILE...")
@click.pass_obj
def copy_templates_command(obj: Context, names: tuple[str, ...]) -> None:
    """Copy packaged templates into the project's templates/ folder, to edit them.

    NAME is an entry kind (its folder of templates: concept, claim, qa, cloze)
    or a shared file such as style.css. A copy overrides the packaged template
    from then on, and no longer gets its fixes: copy only what you change.
    An existing file is never overwritten.

    \b
    Examples:
      decks copy-templates qa
      decks copy-templates style.css cloze
    """
    from builder.scaffold import copy_templates

    config = obj.config
    for path in copy_templates(config, names):
        obj.say(f"  copied {config.rel(path)}")


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"new": new_command, "init": init_command, "copy-templates": copy_templates_command}
