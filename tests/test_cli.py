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
