"""`decks schema`."""

from __future__ import annotations

import click


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of topic files (editors use it to complete and check YAML).

    A topic file whose first line is
    `# yaml-language-server: $schema=../schema/topic.schema.json` gets
    completion and checks in editors using the YAML language server.

    \b
    Examples:
      decks schema
      decks schema > schema/topic.schema.json
    """
    from builder.schema import schema_text

    click.echo(schema_text(), nl=False)


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"schema": schema_command}
