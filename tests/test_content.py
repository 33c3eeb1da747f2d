"""The interview decks: every section covered, every card well-formed, every deck imports into Anki."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from builder.build import build
from builder.config import load_config
from builder.identity import entry_guid
from builder.kinds import KINDS, card_count
from builder.load import load_project
from builder.markdown import to_html
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


def _shown(value: str) -> str:
    """What a learner reads of a text value: its Markdown rendered, tags dropped, line breaks kept."""
    text = re.sub(r"<br\s*/?>|</?(?:p|li|ul|ol|div)\b[^>]*>", "\n", to_html(value))
    lines = (" ".join(line.split()) for line in html.unescape(re.sub(r"<[^>]+>", "", text)).split("\n"))
    return "\n".join(line for line in lines if line)


def test_every_card_reads_what_its_entry_says(tmp_path, topics):
    """Each card shows its topic, its prompt and the entry's own words, as the earlier layout did."""
    config = load_config(REPO)
    result = build(config, output_dir=tmp_path / "out")
    col = open_collection(tmp_path / "col.anki2")
    for path in result.files:
        import_package(col, path)
    by_guid = {col.get_note(nid).guid: nid for nid in col.find_notes("")}
    for topic in topics:
        for entry in topic.entries:
            # A renamed entry keeps the note of its oldest id (was:), with or without the build state.
            guid = entry_guid(config.project, entry.id, entry.was, {})
            cards = rendered_cards(col, f"nid:{by_guid[guid]}")
            value = entry.values.get
            assert len(cards) == card_count(KINDS[entry.kind], entry.values)
            if entry.kind in ("qa", "claim"):
                (card,) = cards
                assert card["question"] == f"{topic.title}\n{_shown(value('question'))}"
                assert card["answer"].startswith(f"{card['question']}\n{_shown(value('answer'))}")
            elif entry.kind == "concept":
                definition = cards[0]
                assert definition["question"] == f"{topic.title}\nDefine the term:\n{_shown(value('term'))}"
                assert _shown(value("definition")) in definition["answer"]
            for card in cards:
                if entry.source:
                    assert card["answer"].endswith(_shown(entry.source))
    col.close()
