"""What the running collection holds of this project: its note types, notes, cards and decks.

Our notes are found by note type: the project's note-type ids are its own (drawn at random for it),
so every note of those types is one of ours, and its "Entry ID" field names the entry it was built
from. Nothing outside these note types is ever read or touched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePath

from builder.anki.client import Action, AnkiConnect, AnkiError, Answered, action
from builder.anki.searches import REMOVED_TAG as REMOVED_TAG
from builder.anki.searches import _tag_search as _tag_search
from builder.anki.searches import asks_missing, connect_actions
from builder.anki.searches import fact_actions as fact_actions

ENTRY_FIELD = "Entry ID"


class LiveNoteType:
    """A note type in the collection."""

    # This module's records are plain classes rather than dataclasses, which would cost every push the making
    # of their methods at import.
    __slots__ = ("id", "name", "fields", "templates")

    def __init__(self, id: int, name: str, fields: tuple[str, ...], templates: tuple[str, ...]) -> None:
        self.id = id
        self.name = name
        self.fields = fields
        self.templates = templates


class LiveNote:
    """A note in the collection, with where its cards are."""

    __slots__ = ("id", "note_type", "fields", "tags", "cards", "decks", "suspended")

    def __init__(
        self,
        id: int,
        note_type: int,
        fields: dict[str, str],
        tags: list[str],
        cards: list[int],
        decks: dict[str, list[int]] | None = None,
        suspended: set[int] | None = None,
    ) -> None:
        self.id = id
        self.note_type = note_type
        self.fields = fields
        self.tags = tags
        self.cards = cards
        # deck name -> that note's cards in it
        self.decks: dict[str, list[int]] = {} if decks is None else decks
        self.suspended: set[int] = set() if suspended is None else suspended


class Live:
    """The project's part of the collection."""

    def __init__(
        self,
        profile: str,
        note_types: dict[int, LiveNoteType],
        notes: dict[int, LiveNote],
        decks: set[str],
        digest: str = "",
    ) -> None:
        self.profile = profile
        self.note_types = note_types
        self.notes = notes
        self.decks = decks
        # The facts' digest when this was read (see ``Facts``).
        self.digest = digest


def connect(client: AnkiConnect) -> str:
    """Check that AnkiConnect answers in a version we speak; return the open profile's name."""
    _check_version(client, client.call("version"))
    return _profile(client.call("getMediaDirPath"))


def connect_and_ask(
    client: AnkiConnect,
    actions: Sequence[Action],
    sent: Callable[[], None] | None = None,
    answered: Answered | None = None,
) -> tuple[str, list | None]:
    """``connect``, with ``actions`` sent in the same request: the open profile and their replies (None when
    Anki refused any of them). ``sent`` is called once the request is on its way; ``answered`` is that
    request sent already (see ``AnkiConnect.batch``)."""
    replies = client.batch([*connect_actions(), *actions], lenient=True, sent=sent, answered=answered)
    for reply in replies[:2]:
        if isinstance(reply, AnkiError):
            raise reply
    _check_version(client, replies[0])
    profile = _profile(replies[1])
    rest = replies[2:]
    return profile, None if any(isinstance(r, AnkiError) for r in rest) else rest


def _check_version(client: AnkiConnect, version: object) -> None:
    if not isinstance(version, int) or version < 6:
        raise AnkiError(
            f"AnkiConnect at {client.url} speaks API version {version}; update the add-on (version 6 needed)."
        )


def _profile(media: object) -> str:
    if not isinstance(media, str) or not media:
        raise AnkiError("Anki has no profile open: open one in Anki and try again.")
    # The media folder is <base>/<profile>/collection.media.
    return PurePath(media).parent.name


class Facts:
    """What a few searches tell of the project's part of the collection, without reading any note's fields.

    ``digest`` hashes the note types (names, fields, card names), the note ids, the suspended cards and the
    notes tagged ``decks::removed``: equal digests mean none of those changed in between. ``missing_tags``
    lists the notes that lack a project tag they were given (from the groups asked about).
    """

    def __init__(
        self,
        note_types: dict[int, LiveNoteType],
        note_ids: list[int],
        suspended: set[int],
        decks: set[str],
        digest: str,
        missing_tags: list[int] | None = None,
        removed: list[int] | None = None,
    ) -> None:
        self.note_types = note_types
        self.note_ids = note_ids
        self.suspended = suspended
        self.decks = decks
        self.digest = digest
        self.missing_tags: list[int] = [] if missing_tags is None else missing_tags
        # Notes tagged decks::removed.
        self.removed: list[int] = [] if removed is None else removed


def read_facts(client: AnkiConnect, note_type_ids: Iterable[int], guess: dict[int, str] | None = None) -> Facts:
    """The note types, note ids, suspended cards and decks of the project, in two requests.

    With ``guess`` (the project's note types by id, as last seen), the searches go in the request that asks
    for the note types' names, and count when the guess was right: one request then.
    """
    ids = set(note_type_ids)
    if guess:
        replies = client.batch([action("modelNamesAndIds"), *fact_actions(guess)], lenient=True)
        if not isinstance(replies[0], AnkiError):
            ours = ours_of(replies[0], ids)
            if ours == guess and not any(isinstance(r, AnkiError) for r in replies[1:]):
                return facts_from(ours, replies[1:])
        names_ids = replies[0] if not isinstance(replies[0], AnkiError) else client.call("modelNamesAndIds")
    else:
        names_ids = client.call("modelNamesAndIds")
    ours = ours_of(names_ids, ids)
    if not ours:
        decks = set(client.call("deckNames"))
        return Facts({}, [], set(), decks, _digest({}, [], set(), []))
    return facts_from(ours, client.batch(fact_actions(ours)))


def ours_of(names_ids: dict, ids: set[int]) -> dict[int, str]:
    return {int(mid): name for name, mid in names_ids.items() if int(mid) in ids}


def facts_from(ours: dict[int, str], replies: Sequence, groups: Sequence[Sequence] = ()) -> Facts:
    """The facts from the replies to ``fact_actions(ours, groups)``: the notes of a group that lack one of its
    tags are ``missing_tags``."""
    order = sorted(ours)
    note_types = {}
    for i, mid in enumerate(order):
        fields, templates = replies[2 * i], replies[2 * i + 1]
        note_types[mid] = LiveNoteType(mid, ours[mid], tuple(fields), tuple(templates))
    at = 2 * len(order)
    note_ids, suspended, deck_names, removed = replies[at : at + 4]
    missing = sorted({int(n) for n in replies[at + 4]}) if asks_missing(groups) else []
    flags = set(map(int, suspended))
    # One conversion of the 10,000 ids, shared by the facts and their digest (``map`` runs it in C).
    ids = list(map(int, note_ids))
    return Facts(
        note_types,
        ids,
        flags,
        set(deck_names),
        _digest(note_types, ids, flags, removed),
        missing,
        [int(n) for n in removed],
    )


def _digest(note_types: dict[int, LiveNoteType], note_ids, suspended, removed) -> str:
    data = [
        [[t.id, t.name, list(t.fields), list(t.templates)] for _, t in sorted(note_types.items())],
        sorted(map(int, note_ids)),
        sorted(suspended),
        sorted(map(int, removed)),
    ]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode("utf-8")).hexdigest()[:16]


def read_live(
    client: AnkiConnect,
    profile: str,
    note_type_ids: Iterable[int],
    *,
    before: Live | None = None,
    touched: Iterable[int] = (),
    skip: Iterable[int] = (),
    facts: Facts | None = None,
    guess: dict[int, str] | None = None,
    decks: bool = True,
    infos: Sequence[dict] = (),
) -> Live:
    """Read the notes of the project's note types, their cards' decks and suspension, and the decks.

    With ``before`` (a read of the same collection), only the notes in ``touched`` and those not in ``before``
    are read again; the others are taken from ``before`` as they were. Notes in ``skip`` are not read at all
    (the caller knows them from the push state). ``facts``, when given, is this collection's
    ``read_facts``, taken as it is; ``guess`` is handed to ``read_facts``. Without ``decks``, the decks of the
    notes' cards are not asked for (``LiveNote.decks`` stays empty). ``infos`` are replies to ``notesInfo`` asked
    for already (in the same state of the collection): those notes are not asked for again.
    """
    if facts is None:
        facts = read_facts(client, note_type_ids, guess)
    note_ids, flags = facts.note_ids, facts.suspended
    notes: dict[int, LiveNote] = {}
    again = set(touched)
    kept = (
        {}
        if before is None
        else {nid: before.notes[nid] for nid in note_ids if nid in before.notes and nid not in again}
    )
    left_out = set(skip)
    given = {int(info["noteId"]): info for info in infos if info}
    wanted = [nid for nid in note_ids if nid not in kept and nid not in left_out]
    to_read = [nid for nid in wanted if nid not in given]
    infos = [given[nid] for nid in wanted if nid in given]
    infos += client.call("notesInfo", notes=to_read) if to_read else []
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
    decks_of = client.call("getDecks", cards=cards) if cards and decks else {}
    by_card = {int(c): deck for deck, cs in decks_of.items() for c in cs}
    for note in read:
        for card in note.cards:
            if decks:
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
