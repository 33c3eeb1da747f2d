"""The command line as a whole: documented commands, help with examples, quiet, progress, completion."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.commands import build_body
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
    monkeypatch.setattr(build_body, "_terminal_stderr", lambda: terminal)
    result = project.build()
    assert result.exit_code == 0
    shown = "".join(terminal.parts)
    assert "Building" in shown and "2/2" not in result.output
    assert result.output.startswith("Built 2 topics")

    terminal.parts.clear()
    assert project.run("-q", "build").exit_code == 0
    assert terminal.parts == []


class _Clock:
    """time.time standing in: each reading ``step`` seconds after the last, so the time left shows."""

    def __init__(self, step: float):
        self.now = 1_000_000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _drawn(make, items, clock_step, monkeypatch, stop_at=None) -> list[str]:
    """What a bar made by ``make`` draws over ``items`` on a terminal (left after ``stop_at`` items if given)."""
    import time

    monkeypatch.setattr(time, "time", _Clock(clock_step))
    terminal = _Terminal()
    try:
        with make(items, terminal) as bar:
            for done, _ in enumerate(bar, 1):
                if done == stop_at:
                    raise KeyError("stop")
    except KeyError:
        pass
    return terminal.parts


@pytest.mark.parametrize("count", [0, 1, 2, 7, 40])
@pytest.mark.parametrize("clock_step", [0.0, 0.4, 1.7, 4000.0])
@pytest.mark.parametrize("stop_at", [None, 1])
def test_the_progress_bar_draws_what_clicks_draws(count, clock_step, stop_at, monkeypatch):
    """The build's own bar (so that a build on a terminal need not load Click) draws Click's bar byte for byte:
    label, bar, percentage, the time left once known (hours, and days), the item's name, the cursor hidden then
    shown, a shorter line padded over a longer one, a build failing halfway."""
    from builder.terminal import ProgressBar

    names = [f"{'x' * (i % 5 * 7)}topic-{i}.apkg" for i in range(count)]

    def show(name):
        return name

    def ours(items, file):
        return ProgressBar(items, label="Building", file=file, show_item=lambda n: show(n) if n else None)

    def clicks(items, file):
        return click.progressbar(items, label="Building", file=file, item_show_func=lambda n: show(n) if n else None)

    drawn = _drawn(ours, names, clock_step, monkeypatch, stop_at)
    assert drawn and "".join(drawn).endswith("\x1b[?25h\n")
    assert "".join(drawn) == "".join(_drawn(clicks, names, clock_step, monkeypatch, stop_at))


@pytest.mark.parametrize("encoding", ["utf-8", "ascii", "latin-1", "ANSI_X3.4-1968"])
@pytest.mark.parametrize("err", [False, True])
@pytest.mark.parametrize("message", ["", "plain", "café ✓ \U0001f600", "tab\there\nnext"])
@pytest.mark.parametrize("nl", [True, False])
def test_echo_writes_what_clicks_echo_writes(encoding, err, message, nl, monkeypatch):
    """The builder's echo (so that a build or push need not load Click) writes Click's bytes: UTF-8 where the
    stream would encode as ASCII, characters the stream cannot encode replaced as Click replaces them."""
    import io
    import sys

    from builder.terminal import echo

    def written(write) -> bytes:
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding=encoding, errors="replace" if encoding == "latin-1" else "strict")
        monkeypatch.setattr(sys, "stderr" if err else "stdout", stream)
        try:
            write()
        except UnicodeEncodeError:
            return b"<UnicodeEncodeError>"
        stream.flush()
        return raw.getvalue()

    ours = written(lambda: echo(message, err=err, nl=nl))
    assert ours == written(lambda: click.echo(message, err=err, nl=nl))
