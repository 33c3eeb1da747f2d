"""Shared fixtures: a throwaway deck project and a CLI runner."""

from __future__ import annotations

import signal
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.nochange import STAMP_NAME as NOCHANGE_NAME

REPO = Path(__file__).resolve().parents[1]

# How many cases the property tests tried, by what they tried: shown after the run, whatever ran.
FUZZ_COUNTS: Counter[str] = Counter()


def pytest_configure(config) -> None:
    """Ctrl-C deliverable to the commands the tests start, even in a test run started in the background."""
    # A shell starts a background job (`make test &`) with Ctrl-C ignored, and every command a test starts would
    # inherit that: the tests that send it Ctrl-C (--watch stopping, an interrupted build) would wait in vain.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_terminal_summary(terminalreporter) -> None:
    """Report how many cases the property tests tried (hypothesis says only pass or fail)."""
    if FUZZ_COUNTS:
        terminalreporter.section("cases tried by the property tests")
        for name, count in FUZZ_COUNTS.items():
            terminalreporter.write_line(f"{name}: {count}")


CONFIG = """\
project: test-project
root_deck: Test Root
note_types:
  concept: 1111111111001
  claim: 1111111111002
  qa: 1111111111003
  cloze: 1111111111004
"""

TOPIC_ALL_KINDS = """\
title: All Kinds
description: One entry of each kind.
source: Section One
tags: [sample]
entries:
  - kind: concept
    id: c-term
    term: Capability overhang
    definition: Gap between what models can do and what society uses.
    example: Agents ready before processes are.
    reverse: true
  - kind: claim
    id: cl-cheap
    question: What happens when intelligence gets cheaper?
    answer: People use more of it.
    reasoning: Because cheaper goods get consumed more.
    tags: [economics]
  - kind: qa
    id: qa-year
    question: In which year did he join?
    answer: 2017
  - kind: cloze
    id: cz-people
    text: "He joined when it had about {{c1::35}} people, in {{c2::2017}}."
    extra: A small lab then.
"""


class Project:
    """A deck project in a temporary folder, built through the real CLI."""

    def __init__(self, root: Path):
        self.root = root
        self.runner = CliRunner()

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def run(self, *args: str):
        return self.runner.invoke(cli, ["-C", str(self.root), *args], catch_exceptions=False)

    def build(self, *args: str):
        return self.run("build", *args)

    @property
    def output(self) -> Path:
        return self.root / "output"

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the project's output folder, by relative path, and the build state (decks.lock)."""
        files = {}
        lock = self.root / "decks.lock"
        if lock.is_file():
            files["../decks.lock"] = lock.read_bytes()
        if not self.output.exists():
            return files
        for p in sorted(self.output.rglob("*")):
            # The no-change record holds signatures of files on this disk (inodes, times): never the same twice.
            if p.is_file() and p.name != NOCHANGE_NAME:
                files[p.relative_to(self.output).as_posix()] = p.read_bytes()
        return files


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A valid project with one topic holding every entry kind."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    p = Project(tmp_path / "proj")
    p.write("deck.yaml", CONFIG)
    p.write("cards/all-kinds.yaml", TOPIC_ALL_KINDS)
    return p
