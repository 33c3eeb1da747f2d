"""What the running collection holds of this project: its note types, notes, cards and decks.

Our notes are found by note type: the project's note-type ids are its own (drawn at random for it),
so every note of those types is one of ours, and its "Entry ID" field names the entry it was built
from. Nothing outside these note types is ever read or touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from builder.anki.client import AnkiConnect, AnkiError, action

ENTRY_FIELD = "Entry ID"
# The tag a push gives the notes of entries removed from the YAML.
REMOVED_TAG = "decks::removed"


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
    # The facts' digest when this was read (see ``Facts``).
    digest: str = ""


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


@dataclass
class Facts:
    """What a few searches tell of the project's part of the collection, without reading any note's fields.

    ``digest`` hashes the note types (names, fields, card names), the note ids, the suspended cards and the
    notes tagged ``decks::removed``: equal digests mean none of those changed in between. ``missing_tags``
    lists the notes that lack a project tag they were given (from the groups asked about).
    """

    note_types: dict[int, LiveNoteType]
    note_ids: list[int]
    suspended: set[int]
    decks: set[str]
    digest: str
    missing_tags: list[int] = field(default_factory=list)
    # Notes tagged decks::removed.
    removed: list[int] = field(default_factory=list)


def read_facts(client: AnkiConnect, note_type_ids: Iterable[int], tag_groups: Sequence[Sequence] = ()) -> Facts:
    """The note types, note ids, suspended cards and decks of the project, in two requests.

    ``tag_groups`` ([[tags...], [note ids...]], ...) adds a search for the notes among those ids that lack any
    of their group's tags (a group without tags asks nothing).
    """
    ids = set(note_type_ids)
    names_ids = client.call("modelNamesAndIds")
    ours = {int(mid): name for name, mid in names_ids.items() if int(mid) in ids}
    if not ours:
        decks = set(client.call("deckNames"))
        return Facts({}, [], set(), decks, _digest({}, [], set(), []))
    order = sorted(ours)
    query = "(" + " OR ".join(f"mid:{mid}" for mid in order) + ")"
    lacking = [_lacking(tags, notes) for tags, notes in tag_groups if tags and notes]
    # One request for the note types, the notes' ids, the suspended cards (one search, not a question
    # per card), the decks, the notes tagged as removed, and those that lost a project tag.
    actions = [
        *(
            a
            for mid in order
            for a in (action("modelFieldNames", modelName=ours[mid]), action("modelTemplates", modelName=ours[mid]))
        ),
        action("findNotes", query=query),
        action("findCards", query=f"{query} is:suspended"),
        action("deckNames"),
        action("findNotes", query=f'{query} "tag:{_escape(REMOVED_TAG)}"'),
    ]
    if lacking:
        actions.append(action("findNotes", query=f"{query} ({' OR '.join(lacking)})"))
    replies = client.batch(actions)
    note_types = {}
    for i, mid in enumerate(order):
        fields, templates = replies[2 * i], replies[2 * i + 1]
        note_types[mid] = LiveNoteType(mid, ours[mid], tuple(fields), tuple(templates))
    note_ids, suspended, deck_names, removed = replies[2 * len(order) : 2 * len(order) + 4]
    missing = replies[-1] if lacking else []
    flags = {int(c) for c in suspended}
    return Facts(
        note_types,
        [int(n) for n in note_ids],
        flags,
        set(deck_names),
        _digest(note_types, note_ids, flags, removed),
        [int(n) for n in missing],
        [int(n) for n in removed],
    )


def _digest(note_types: dict[int, LiveNoteType], note_ids, suspended, removed) -> str:
    data = [
        [[t.id, t.name, list(t.fields), list(t.templates)] for _, t in sorted(note_types.items())],
        sorted(int(n) for n in note_ids),
        sorted(suspended),
        sorted(int(n) for n in removed),
    ]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode("utf-8")).hexdigest()[:16]


def _escape(text: str) -> str:
    # Anki's search reads \, ", * and _ specially, even inside quotes.
    for char in ("\\", '"', "*", "_"):
        text = text.replace(char, "\\" + char)
    return text


def _lacking(tags: Sequence[str], notes: Sequence[int]) -> str:
    missing = " OR ".join(f'-"tag:{_escape(t)}"' for t in tags)
    return f"(nid:{','.join(str(int(n)) for n in notes)} ({missing}))"


def read_live(
    client: AnkiConnect,
    profile: str,
    note_type_ids: Iterable[int],
    *,
    before: Live | None = None,
    touched: Iterable[int] = (),
    skip: Iterable[int] = (),
    facts: Facts | None = None,
) -> Live:
    """Read the notes of the project's note types, their cards' decks and suspension, and the decks.

    With ``before`` (a read of the same collection), only the notes in ``touched`` and those not in ``before``
    are read again; the others are taken from ``before`` as they were. Notes in ``skip`` are not read at all
    (the caller knows them from the push state). ``facts``, when given, is this collection's
    ``read_facts``, taken as it is.
    """
    if facts is None:
        facts = read_facts(client, note_type_ids)
    note_ids, flags = facts.note_ids, facts.suspended
    notes: dict[int, LiveNote] = {}
    again = set(touched)
    kept = (
        {}
        if before is None
        else {nid: before.notes[nid] for nid in note_ids if nid in before.notes and nid not in again}
    )
    left_out = set(skip)
    to_read = [nid for nid in note_ids if nid not in kept and nid not in left_out]
    infos = client.call("notesInfo", notes=to_read) if to_read else []
    by_name = {t.name: mid for mid, t in facts.note_types.items()}
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
    return Live(profile, dict(facts.note_types), notes, set(facts.decks), facts.digest)
