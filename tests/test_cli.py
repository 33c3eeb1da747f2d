"""The command line: exit codes and exact messages."""

from __future__ import annotations

import subprocess
import sys

from builder import __version__


def test_version(project):
    result = project.run("--version")
    assert result.exit_code == 0
    assert result.output == f"decks, version {__version__}\n"


def test_help_has_examples(project):
    result = project.run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "decks build --single" in result.output
    result = project.run("build", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--topic" in result.output


def _imported_by(*args: str) -> set[str]:
    """The builder's modules a fresh `decks ARGS` process has imported when it exits."""
    code = (
        "import sys\n"
        "from builder.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'builder'), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return set(result.stderr.split())


def test_version_and_help_import_no_command():
    """`--version` and `--help` load only the group: each command's module waits until it runs."""
    assert _imported_by("--version") == {"builder", "builder.cli"}
    assert _imported_by("--help") == {"builder", "builder.cli"}
    assert "builder.commands.build" in _imported_by("build", "--help")
    assert "builder.commands.anki" not in _imported_by("build", "--help")


def test_command_list_matches_the_commands():
    """`decks --help` lists each command with the first paragraph of its own help, as Click would."""
    import click

    from builder.cli import COMMANDS, cli

    loaded = click.Group("decks")
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name
        first = command.help.split("\n\n")[0]
        assert " ".join(COMMANDS[name][1].split()) == " ".join(first.split()), name
        loaded.add_command(command)
    for width in (60, 80, 100):
        lazy_ctx, loaded_ctx = click.Context(cli, terminal_width=width), click.Context(loaded, terminal_width=width)
        lazy, plain = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
        cli.format_commands(lazy_ctx, lazy)
        loaded.format_commands(loaded_ctx, plain)
        assert lazy.getvalue() == plain.getvalue()
    assert set(cli.list_commands(click.Context(cli))) == set(COMMANDS)


def test_completion_lists_commands_and_completes_their_options(project):
    """Shell completion still names every command (with its help) and completes an option's values."""
    env = {"_DECKS_COMPLETE": "zsh_complete", "COMP_WORDS": "decks bu", "COMP_CWORD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "builder"], capture_output=True, text=True, env={**_environ(), **env}, check=False
    )
    assert "build" in result.stdout and "Build the decks" in result.stdout
    env = {
        "_DECKS_COMPLETE": "bash_complete",
        "COMP_WORDS": f"decks -C {project.root} build --topic al",
        "COMP_CWORD": "5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "builder"], capture_output=True, text=True, env={**_environ(), **env}, check=False
    )
    assert "all-kinds" in result.stdout


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_build_reports_what_it_wrote(project):
    result = project.build()
    assert result.exit_code == 0
    assert result.stdout == (
        "Built 1 topic: 4 notes, 6 cards -> output/ (1 written, 0 unchanged)\n  wrote output/all-kinds.apkg\n"
    )


def test_unknown_topic_is_a_usage_error(project):
    result = project.build("--topic", "nope")
    assert result.exit_code == 2
    assert result.output == "unknown topic 'nope'; topics are: all-kinds\n"


def test_invalid_file_exit_code_and_message(project):
    project.write("cards/bad.yaml", "title: Bad\nentries:\n  - {kind: qa, id: b, question: q}\n")
    result = project.build()
    assert result.exit_code == 1
    assert result.output == (
        "cards/bad.yaml:3:5: qa entry 'b' has no 'answer'\n1 error in 1 file; nothing was written.\n"
    )


def test_outside_a_project(tmp_path):
    from click.testing import CliRunner

    from builder.cli import cli

    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "build"])
    assert result.exit_code == 1
    assert result.output == (
        f"not inside a deck project: no deck.yaml in {tmp_path} or any folder above it "
        "(start one with `decks init FOLDER`, or point at one with `decks -C FOLDER`)\n"
    )


def test_real_process_has_no_traceback_and_python_m_works(project):
    project.write("cards/bad.yaml", "title: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "build"], cwd=project.root / "cards", capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("cards/bad.yaml:2:1: YAML syntax error")
    assert not project.output.exists()
