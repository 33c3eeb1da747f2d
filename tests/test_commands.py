"""The command line as a whole: documented commands, help with examples, quiet, progress, completion."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.commands import build as build_command
from tests.conftest import REPO

COMMANDS = cli.list_commands(click.Context(cli))


def test_commands_are_the_expected_ones():
    assert set(COMMANDS) >= {"build", "check", "add", "list", "stats", "new", "init", "schema"}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    examples = result.output.split("Examples:\n", 1)
    assert len(examples) == 2, f"`decks {name} --help` shows no examples"
    assert re.search(rf"^\s+(cat .* \| )?decks( -\S+)* {name}\b", examples[1], re.M)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_documented(name):
    docs = (REPO / "docs/cli.md").read_text(encoding="utf-8")
    section = docs.split(f"\n## decks {name}\n", 1)
    assert len(section) == 2, f"docs/cli.md has no section '## decks {name}'"
    body = section[1].split("\n## ", 1)[0]
    assert f"decks {name}" in body.split("```", 1)[1], f"the section on decks {name} has no example"
    for option in cli.get_command(click.Context(cli), name).params:
        if isinstance(option, click.Option) and option.name not in ("help",):
            assert any(o in docs for o in option.opts), f"docs/cli.md does not mention {option.opts}"


def test_readme_lists_commands_and_completion():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"`decks {name}" in readme
    assert "## Shell completion" in readme
    assert "_DECKS_COMPLETE=bash_source decks" in readme


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated(shell):
    result = CliRunner().invoke(cli, [], prog_name="decks", env={"_DECKS_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert "_DECKS_COMPLETE" in result.output


def test_quiet_prints_nothing_but_errors(project):
    for args in (("-q", "build"), ("build", "--quiet")):
        result = project.run(*args)
        assert (result.exit_code, result.output) == (0, "")
    project.write("cards/bad.yaml", "title: Bad\nentries: []\n")
    result = project.run("-q", "build")
    assert result.exit_code == 1
    assert result.output == (
        "cards/bad.yaml:2:10: 'entries' is empty; a topic needs at least one entry\n"
        "1 error in 1 file; nothing was written.\n"
    )


class _Terminal:
    """A stderr that says it is a terminal, keeping what is written."""

    def __init__(self):
        self.parts: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_only_on_a_terminal(project, monkeypatch):
    project.write("cards/second.yaml", "title: Second\nentries:\n  - {kind: qa, id: s, question: Q?, answer: A}\n")
    result = project.build()
    assert result.exit_code == 0
    assert "Building" not in result.output  # CliRunner's stderr is no terminal

    terminal = _Terminal()
    monkeypatch.setattr(build_command, "_terminal_stderr", lambda: terminal)
    result = project.build()
    assert result.exit_code == 0
    shown = "".join(terminal.parts)
    assert "Building" in shown and "2/2" not in result.output
    assert result.output.startswith("Built 2 topics")

    terminal.parts.clear()
    assert project.run("-q", "build").exit_code == 0
    assert terminal.parts == []
