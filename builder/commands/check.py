"""`decks check`: every validation of the build and the quality rules, writing nothing."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from builder.errors import echo

if TYPE_CHECKING:
    from builder.commands.context import Context


@click.command("check")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@click.pass_obj
def check_command(obj: Context, strict: bool) -> None:
    """Check the project without writing anything: every validation of the build, then quality rules.

    Each finding is one line, FILE:LINE:COL: error|warning: message [rule].
    Exit 0 when there are no errors (and, with --strict, no warnings), else 1.
    Rules are set per project in deck.yaml (`rules: {missing-source: off}`)
    and per entry with `allow: [rule, ...]`. The rules are listed in docs/cli.md.

    \b
    Examples:
      decks check
      decks check --strict          in CI: warnings fail too
      decks -q check                print errors only
    """
    from builder.check import check, config_report
    from builder.errors import ProblemsError

    try:
        config = obj.config
    except ProblemsError as exc:
        # A broken deck.yaml is reported like any other finding, so editors and CI read one format.
        report = config_report(exc.problems)
    else:
        report = check(config)
    for finding in report.findings:
        if finding.severity == "error" or not obj.quiet:
            echo(str(finding))
    obj.say(report.summary())
    if report.errors or (strict and report.warnings):
        sys.exit(1)


# The commands of this module, by name (see builder.cli.COMMANDS).
COMMANDS = {"check": check_command}
