"""Drive the real Anki library (the `anki` package) in tests: import packages, read cards, review."""

from __future__ import annotations

import re
from pathlib import Path

from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition as UC
from anki.scheduler.v3 import CardAnswer

IF_NEWER = UC.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER


def open_collection(path: Path) -> Collection:
    """A collection file (created when missing)."""
    return Collection(str(path))


def import_package(col: Collection, apkg: Path, *, merge_notetypes: bool = False):
    """Import with Anki desktop's default options: update notes and note types when newer.

    ``merge_notetypes`` ticks the import dialog's "Merge note types" (Anki 23.10 and later).
    """
    options = ImportAnkiPackageOptions(
        merge_notetypes=merge_notetypes,
        update_notes=IF_NEWER,
        update_notetypes=IF_NEWER,
        with_scheduling=False,
        with_deck_configs=False,
    )
    return col.import_anki_package(ImportAnkiPackageRequest(package_path=str(apkg.resolve()), options=options))


def note_id_for_guid(col: Collection, guid: str) -> int | None:
    """Anki's search has no guid: keyword; ask the database."""
    return col.db.scalar("select id from notes where guid=?", guid)


def _visible_text(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    # Source line breaks are not visible; <br> and block elements are.
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r"<br\s*/?>|</?(?:div|p|hr)\b[^>]*>", "\n", html)
    html = re.sub(r"<[^>]+>", "", html)
    for entity, char in (
        ("&nbsp;", " "),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&#x27;", "'"),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ):
        html = html.replace(entity, char)
    lines = (re.sub(r"\s+", " ", line).strip() for line in html.split("\n"))
    return "\n".join(line for line in lines if line)


def rendered_cards(col: Collection, query: str = "") -> list[dict]:
    """Every card matching a search, as Anki renders it: HTML and visible text of both sides."""
    out = []
    for cid in sorted(col.find_cards(query)):
        card = col.get_card(cid)
        rendered = card.render_output()
        out.append(
            {
                "id": cid,
                "nid": card.nid,
                "ord": card.ord,
                "deck": col.decks.name(card.did),
                "template": card.template()["name"],
                "question_html": rendered.question_text,
                "answer_html": rendered.answer_text,
                "question": _visible_text(rendered.question_text),
                "answer": _visible_text(rendered.answer_text),
            }
        )
    return out


def review_first_due(col: Collection, deck_id: int, rating=CardAnswer.EASY):
    """Answer the first queued card of a deck through the scheduler; returns the card."""
    col.decks.select(deck_id)
    queued = col.sched.get_queued_cards().cards[0]
    card = col.get_card(queued.card.id)
    card.start_timer()
    col.sched.answer_card(col.sched.build_answer(card=card, states=queued.states, rating=rating))
    card.load()
    return card
