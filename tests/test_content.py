"""The interview decks: every section covered, every card well-formed, every deck imports into Anki."""

from __future__ import annotations

import re

import pytest

from builder.build import build
from builder.config import load_config
from builder.kinds import CLOZE_RE
from builder.load import load_project
from tests.ankitools import import_package, open_collection, rendered_cards
from tests.conftest import REPO

SOURCE = REPO / "sources" / "david-luan-interview.md"
MAX_ANSWER_WORDS = 25


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


def test_no_duplicate_questions(entries):
    seen: dict[str, str] = {}
    duplicates = []
    for entry in entries:
        text = entry.values.get("question") or entry.values.get("term") or entry.values.get("text")
        key = re.sub(r"\W+", " ", str(text).lower()).strip()
        if key in seen:
            duplicates.append((seen[key], entry.id))
        seen[key] = entry.id
    assert duplicates == []


def test_no_empty_fields(entries):
    empty = [(e.id, k) for e in entries for k, v in e.values.items() if isinstance(v, str) and not v.strip()]
    assert empty == []


def test_answers_are_short(entries):
    long = []
    for entry in entries:
        answer = entry.values.get("answer") or entry.values.get("definition")
        if answer and len(str(answer).split()) > MAX_ANSWER_WORDS and "long-answer" not in entry.allow:
            long.append(entry.id)
    assert long == []


def test_every_cloze_deletes_something(entries):
    for entry in entries:
        if entry.kind == "cloze":
            assert CLOZE_RE.search(str(entry.values["text"])), entry.id


def test_every_topic_builds_and_imports_into_anki(tmp_path, topics, entries):
    config = load_config(REPO)
    result = build(config, output_dir=tmp_path / "out")
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
