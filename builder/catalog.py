"""`decks list` and `decks stats`: what a project holds, without building it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from builder import kinds
from builder.config import Config
from builder.entries import Entry, Topic
from builder.kinds import KINDS
from builder.load import load_project
from builder.topics import select_topics


def card_count(entry: Entry) -> int:
    """How many cards Anki makes from an entry's note."""
    return kinds.card_count(entry.spec, entry.values)


def prompt(entry: Entry) -> str:
    """The text that names an entry in a listing: its question, term or cloze text."""
    return kinds.main_text(entry.values) or ""


@dataclass(frozen=True)
class Listed:
    """One entry as listed."""

    topic: Topic
    entry: Entry

    def as_json(self) -> dict[str, object]:
        e = self.entry
        return {
            "topic": self.topic.slug,
            "id": e.id,
            "kind": e.kind,
            "tags": list(e.tags),
            "prompt": prompt(e),
            "cards": card_count(e),
            "file": e.loc.path,
            "line": e.loc.line,
        }


def list_entries(
    config: Config, *, tags: Sequence[str] = (), kinds: Sequence[str] = (), topics: Sequence[str] = ()
) -> list[Listed]:
    """Entries of the (valid) project, in file order; each filter keeps entries matching any of its values."""
    out = []
    for topic in select_topics(load_project(config), topics):
        for entry in topic.entries:
            if tags and not set(tags) & set(entry.tags):
                continue
            if kinds and entry.kind not in kinds:
                continue
            out.append(Listed(topic, entry))
    return out


def stats(config: Config) -> dict[str, object]:
    """Counts of notes and cards per topic and per kind, and in all."""
    topics = load_project(config)
    rows = []
    by_kind = {name: {"notes": 0, "cards": 0} for name in KINDS}
    for topic in topics:
        row: dict[str, object] = {
            "topic": topic.slug,
            "title": topic.title,
            "notes": 0,
            "cards": 0,
            "kinds": {name: 0 for name in KINDS},
        }
        for entry in topic.entries:
            cards = card_count(entry)
            row["notes"] += 1  # type: ignore[operator]
            row["cards"] += cards  # type: ignore[operator]
            row["kinds"][entry.kind] += 1  # type: ignore[index]
            by_kind[entry.kind]["notes"] += 1
            by_kind[entry.kind]["cards"] += cards
        rows.append(row)
    return {
        "topics": rows,
        "kinds": by_kind,
        "total": {
            "topics": len(topics),
            "notes": sum(k["notes"] for k in by_kind.values()),
            "cards": sum(k["cards"] for k in by_kind.values()),
        },
    }
