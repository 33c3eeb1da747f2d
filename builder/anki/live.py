"""What the running collection holds of this project: its note types, notes, cards and decks.

Our notes are found by note type: the project's note-type ids are its own (drawn at random for it),
so every note of those types is one of ours, and its "Entry ID" field names the entry it was built
from. Nothing outside these note types is ever read or touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath

from builder.anki.client import AnkiConnect, AnkiError, action

ENTRY_FIELD = "Entry ID"


@dataclass
class LiveNoteType:
    """A note type in the collection."""

    id: int
    name: str
    fields: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass
class LiveNote:
    """A note in the collection, with where its cards are."""

    id: int
    note_type: int
    fields: dict[str, str]
    tags: list[str]
    cards: list[int]
    # deck name -> that note's cards in it
    decks: dict[str, list[int]] = field(default_factory=dict)
    suspended: set[int] = field(default_factory=set)


@dataclass
class Live:
    """The project's part of the collection."""

    profile: str
    note_types: dict[int, LiveNoteType]
    notes: dict[int, LiveNote]
    decks: set[str]


def connect(client: AnkiConnect) -> str:
    """Check that AnkiConnect answers in a version we speak; return the open profile's name."""
    version = client.call("version")
    if not isinstance(version, int) or version < 6:
        raise AnkiError(
            f"AnkiConnect at {client.url} speaks API version {version}; update the add-on (version 6 needed)."
        )
    media = client.call("getMediaDirPath")
    if not isinstance(media, str) or not media:
        raise AnkiError("Anki has no profile open: open one in Anki and try again.")
    # The media folder is <base>/<profile>/collection.media.
    return PurePath(media).parent.name


def read_live(
    client: AnkiConnect,
    profile: str,
    note_type_ids: Iterable[int],
    *,
    before: Live | None = None,
    touched: Iterable[int] = (),
) -> Live:
    """Read the notes of the project's note types, their cards' decks and suspension, and the decks.

    With ``before`` (a read of the same collection), only the notes in ``touched`` and those not in ``before``
    are read again; the others are taken from ``before`` as they were.
    """
    ids = set(note_type_ids)
    names_ids = client.call("modelNamesAndIds")
    ours = {int(mid): name for name, mid in names_ids.items() if int(mid) in ids}
    note_types: dict[int, LiveNoteType] = {}
    notes: dict[int, LiveNote] = {}
    if not ours:
        return Live(profile, note_types, notes, set(client.call("deckNames")))
    order = sorted(ours)
    query = " OR ".join(f"mid:{mid}" for mid in order)
    # One request for the note types, the notes' ids, the suspended cards (one search, not a question
    # per card) and the decks.
    replies = client.batch(
        [
            *(
                a
                for mid in order
                for a in (action("modelFieldNames", modelName=ours[mid]), action("modelTemplates", modelName=ours[mid]))
            ),
            action("findNotes", query=query),
            action("findCards", query=f"({query}) is:suspended"),
            action("deckNames"),
        ]
    )
    for i, mid in enumerate(order):
        fields, templates = replies[2 * i], replies[2 * i + 1]
        note_types[mid] = LiveNoteType(mid, ours[mid], tuple(fields), tuple(templates))
    note_ids, suspended, deck_names = replies[2 * len(order) :]
    again = set(touched)
    kept = (
        {}
        if before is None
        else {nid: before.notes[nid] for nid in note_ids if nid in before.notes and nid not in again}
    )
    to_read = [nid for nid in note_ids if nid not in kept]
    infos = client.call("notesInfo", notes=to_read) if to_read else []
    by_name = {name: mid for mid, name in ours.items()}
    read: list[LiveNote] = []
    for info in infos:
        if not info:
            continue
        model = by_name.get(info["modelName"])
        if model is None:
            continue
        fields = {name: value["value"] for name, value in info["fields"].items()}
        read.append(LiveNote(int(info["noteId"]), model, fields, list(info["tags"]), [int(c) for c in info["cards"]]))
    cards = [c for note in read for c in note.cards]
    decks_of = client.call("getDecks", cards=cards) if cards else {}
    by_card = {int(c): deck for deck, cs in decks_of.items() for c in cs}
    flags = {int(c) for c in suspended}
    for note in read:
        for card in note.cards:
            note.decks.setdefault(by_card.get(card, ""), []).append(card)
            if card in flags:
                note.suspended.add(card)
    fresh = {note.id: note for note in read}
    for nid in note_ids:
        note = fresh.get(nid)
        if note is None and nid in kept:
            old = kept[nid]
            # The suspension is read afresh for every card, the rest as the earlier read found it.
            note = LiveNote(old.id, old.note_type, old.fields, old.tags, old.cards, old.decks, set(old.cards) & flags)
        if note is not None:
            notes[nid] = note
    return Live(profile, note_types, notes, set(deck_names))
