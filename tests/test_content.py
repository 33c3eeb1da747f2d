"""The interview decks: every section covered, every card well-formed, every deck imports into Anki."""

from __future__ import annotations

import re
import shutil

import pytest

from builder.build import build
from builder.config import load_config
from builder.load import load_project
from tests.ankitools import import_package, open_collection, rendered_cards
from tests.conftest import REPO

SOURCE = REPO / "sources" / "david-luan-interview.md"


def section_headings() -> list[str]:
    """Lines of the source notes that are headings: no closing sentence punctuation."""
    lines = [line.strip() for line in SOURCE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [line for line in lines[1:] if not re.search(r"[.!][\"”’)]*$", line)]


@pytest.fixture(scope="module")
def topics():
    return load_project(load_config(REPO))


@pytest.fixture(scope="module")
def entries(topics):
    return [entry for topic in topics for entry in topic.entries]


def test_source_has_the_expected_sections():
    headings = section_headings()
    assert len(headings) == 19
    assert headings[0] == "DeepSeek: What People Got Right and Wrong"
    assert headings[-1] == "Quickfire"


def test_every_section_has_a_topic(topics):
    assert [t.source for t in topics] == ["Introduction", *section_headings()]


def test_every_entry_names_a_section_as_source(entries):
    allowed = {"Introduction", *section_headings()}
    assert [e.id for e in entries if e.source not in allowed] == []


# Duplicate questions, long answers, empty fields and clozes without a deletion are the rules of
# `decks check` and of loading: tests/test_check.py runs them on these decks.


def test_every_topic_builds_and_imports_into_anki(tmp_path, topics, entries):
    # A copy: a build records its state in the project's decks.lock, which a test must not touch.
    copy = tmp_path / "project"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "output", "*.egg-info", "__pycache__"))
    config = load_config(copy)
    result = build(config, output_dir=tmp_path / "out")
    assert (copy / "decks.lock").read_bytes() == (REPO / "decks.lock").read_bytes(), (
        "decks.lock is not current: run `make decks` and commit it"
    )
    assert len(result.files) == len(topics)
    col = open_collection(tmp_path / "col.anki2")
    for path in result.files:
        log = import_package(col, path).log
        assert len(log.duplicate) == len(log.conflicting) == 0
    assert col.note_count() == len(entries)
    assert col.card_count() == result.cards
    cards = rendered_cards(col)
    decks = {c["deck"] for c in cards}
    assert decks == {f"{config.root_deck}::{t.title}" for t in topics}
    for card in cards:
        assert card["question"].strip() and card["answer"].strip(), card
        if card["template"] == "Cloze":
            # A hidden deletion shows as [...], or as its hint: [three verbs].
            assert re.search(r"\[[^\]]+\]", card["question"]), card
