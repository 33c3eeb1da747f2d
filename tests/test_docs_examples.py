"""Every command the docs show runs, in a scratch copy of the project, and prints what the docs show.

README.md and docs/*.md are read for fenced blocks. In a ```console block each `$ command` runs in
order in one copy (per file) and must print exactly the lines that follow it (stdout and stderr, as
a terminal shows them). In other blocks each line that runs `decks` (or a shell line around it)
runs in order in a fresh copy per block and must succeed; a block that starts with `decks init`
runs in an empty folder, one that starts with `decks copy-templates` in a project `decks init`
made. The copy is the project as a new user has it after `make decks`: its files, and decks built
once. HOME is a scratch folder, so `~/...` examples write nowhere real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PROJECT_FILES = ("deck.yaml", "cards", "templates", "schema", "sources", "media")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Lines of plain blocks that are commands to run: decks itself, and the shell lines of its examples.
_RUNS = re.compile(r"^(decks\b|cat \S+ \| decks\b|_DECKS_COMPLETE=|echo .* >> ~/)")
# Commands that cannot run unattended, with why; everything else shown runs.
UNATTENDED = {
    "--watch": "runs until Ctrl+C",
    "--serve": "serves until Ctrl+C",
    "decks add 01-deepseek  ": "asks for each field on a terminal",
    # tests/test_live.py runs these against real Anki desktop with the AnkiConnect add-on.
    "decks push": "needs a running Anki with AnkiConnect",
    "decks status": "needs a running Anki with AnkiConnect",
    "decks pull": "needs a running Anki with AnkiConnect",
}
# Files the examples name as the user's own (`decks add --from new.yaml`).
USER_FILES = {
    "new.yaml": "- kind: qa\n  question: Who wrote the first example?\n  answer: A user\n",
    "more.yaml": "entries:\n  - kind: qa\n    question: Who wrote the second example?\n    answer: Another user\n",
}


@dataclass(frozen=True)
class Example:
    """One command from the docs, and the output shown for it (None: none shown, it must succeed)."""

    doc: str
    line: int
    command: str
    output: str | None


def _blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        yield match.group(1), match.group(2), text.count("\n", 0, match.start(2)) + 1


def _console(doc: str, body: str, first_line: int) -> list[Example]:
    examples: list[Example] = []
    command, output, line = None, [], 0
    for offset, text in enumerate(body.splitlines()):
        if text.startswith("$ "):
            if command is not None:
                examples.append(Example(doc, line, command, "\n".join(output)))
            command, output, line = text[2:], [], first_line + offset
        elif command is not None:
            output.append(text)
    if command is not None:
        examples.append(Example(doc, line, command, "\n".join(output)))
    return examples


def _plain(doc: str, body: str, first_line: int) -> list[Example]:
    return [
        Example(doc, first_line + offset, text, None)
        for offset, text in enumerate(body.splitlines())
        if _RUNS.match(text)
    ]


def _collect() -> tuple[list[list[Example]], list[list[Example]]]:
    """Console transcripts (one list per file) and plain blocks (one list per block)."""
    transcripts, blocks = [], []
    for path in DOCS:
        doc = path.relative_to(REPO).as_posix()
        transcript = []
        for lang, body, line in _blocks(path):
            if lang == "console":
                transcript += _console(doc, body, line)
            else:
                examples = _plain(doc, body, line)
                if examples:
                    blocks.append(examples)
        if transcript:
            transcripts.append(transcript)
    return transcripts, blocks


TRANSCRIPTS, BLOCKS = _collect()


def _scratch(tmp_path: Path, *, empty: bool = False, fresh: bool = False) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "project"
    root.mkdir()
    home = tmp_path / "home"
    # Where fish keeps completions; it exists once fish has run.
    (home / ".config/fish/completions").mkdir(parents=True)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "100",
    }
    env.pop("SOURCE_DATE_EPOCH", None)
    if empty:
        return root, env
    if fresh:
        subprocess.run([str(bin_dir / "decks"), "init", "."], cwd=root, env=env, check=True, capture_output=True)
        return root, env
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.is_file():
            shutil.copy2(source, root / name)
    # `.venv/bin/decks` as the README writes it: the environment these tests run in.
    (root / ".venv").symlink_to(bin_dir.parent)
    for name, text in USER_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    # As after `make decks`: the decks built once.
    subprocess.run([str(bin_dir / "decks"), "-q", "build"], cwd=root, env=env, check=True, capture_output=True)
    return root, env


def _run(example: Example, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", example.command],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


def _why_not(command: str) -> str | None:
    return next((why for pattern, why in UNATTENDED.items() if pattern in command + " "), None)


def test_docs_have_examples_to_run():
    assert any(e.doc == "README.md" for t in TRANSCRIPTS for e in t)
    assert sum(len(b) for b in BLOCKS) > 30


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda t: t[0].doc)
def test_console_examples_print_what_the_docs_show(transcript, tmp_path):
    root, env = _scratch(tmp_path)
    for example in transcript:
        result = _run(example, root, env)
        where = f"{example.doc}:{example.line}: $ {example.command}"
        assert result.stdout.rstrip("\n") == example.output, where


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b[0].doc}:{b[0].line}")
def test_commands_shown_run(block, tmp_path):
    first = block[0].command
    # `decks init` examples start from nothing; `copy-templates` ones from a project made by it
    # (this project keeps its own templates, so there is nothing to copy).
    root, env = _scratch(tmp_path, empty=first.startswith("decks init"), fresh=first.startswith("decks copy-templates"))
    ran = 0
    for example in block:
        if _why_not(example.command):
            continue
        result = _run(example, root, env)
        assert result.returncode == 0, f"{example.doc}:{example.line}: {example.command}\n{result.stdout}"
        assert "Traceback" not in result.stdout
        ran += 1
    assert ran or all(_why_not(e.command) for e in block)
