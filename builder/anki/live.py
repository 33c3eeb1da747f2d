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


def read_live(client: AnkiConnect, profile: str, note_type_ids: Iterable[int]) -> Live:
    """Read the notes of the project's note types, their cards' decks and suspension, and the decks."""
    ids = set(note_type_ids)
    names_ids = client.call("modelNamesAndIds")
    ours = {int(mid): name for name, mid in names_ids.items() if int(mid) in ids}
    note_types: dict[int, LiveNoteType] = {}
    if ours:
        order = sorted(ours)
        replies = client.batch(
            [
                a
                for mid in order
                for a in (action("modelFieldNames", modelName=ours[mid]), action("modelTemplates", modelName=ours[mid]))
            ]
        )
        for i, mid in enumerate(order):
            fields, templates = replies[2 * i], replies[2 * i + 1]
            note_types[mid] = LiveNoteType(mid, ours[mid], tuple(fields), tuple(templates))
    notes: dict[int, LiveNote] = {}
    if ours:
        query = " OR ".join(f"mid:{mid}" for mid in sorted(ours))
        note_ids = client.call("findNotes", query=query)
        infos = client.call("notesInfo", notes=note_ids) if note_ids else []
        for info in infos:
            if not info:
                continue
            model = next((mid for mid, name in ours.items() if name == info["modelName"]), None)
            if model is None:
                continue
            fields = {name: value["value"] for name, value in info["fields"].items()}
            notes[int(info["noteId"])] = LiveNote(
                int(info["noteId"]), model, fields, list(info["tags"]), [int(c) for c in info["cards"]]
            )
    cards = [c for note in notes.values() for c in note.cards]
    decks_of: dict = {}
    suspended: list = []
    deck_names: list = []
    if cards:
        decks_of, suspended, deck_names = client.batch(
            [action("getDecks", cards=cards), action("areSuspended", cards=cards), action("deckNames")]
        )
    else:
        deck_names = client.call("deckNames")
    by_card = {int(c): deck for deck, cs in decks_of.items() for c in cs}
    flags = dict(zip(cards, suspended, strict=False))
    for note in notes.values():
        for card in note.cards:
            note.decks.setdefault(by_card.get(card, ""), []).append(card)
            if flags.get(card):
                note.suspended.add(card)
    return Live(profile, note_types, notes, set(deck_names))
