"""Identity in Anki, in one place: note GUIDs, deck ids and names, note-type identities, note content hashes.

Anki matches notes by GUID, decks by name and note types by id and then by field and template names.
Every recipe that decides one of these lives here, so that the build, `decks check` and the re-import
notices can never disagree about what Anki will take as the same thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring as _json_str

from builder.kinds import LAYOUT, Kind

_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"
# Every two-digit base-91 string, by value: GUIDs are made for every note of a build. Made when the first GUID
# is (a third of a millisecond), not by every import: a rebuild that knows its notes' GUIDs makes none.
_BASE91_PAIRS: list[str] = []
_PAIR_BASE = len(_BASE91) ** 2


def note_guid(project: str, entry_id: str) -> str:
    """A note's GUID: a hash of an unambiguous encoding of (project, entry id)."""
    # The bytes of json.dumps(["decks-note/v1", project, entry_id], ensure_ascii=False), built without
    # the encoder's per-call overhead.
    head = _GUID_HEADS.get(project)
    if head is None:
        head = _GUID_HEADS[project] = f'["decks-note/v1", {_json_str(project)}, '
    encoded = f"{head}{_json_str(entry_id)}]"
    return _base91(int.from_bytes(hashlib.sha256(encoded.encode("utf-8")).digest()[:8], "big"))


# Each project's start of that encoding, made once per project rather than once per note.
_GUID_HEADS: dict[str, str] = {}


def entry_guid(project: str, entry_id: str, was: Sequence[str], known: Mapping[str, str]) -> str:
    """The GUID of an entry's note, keeping the identity of the ids it was known by (``was:``).

    ``known`` maps the entry ids of the build state to their notes' GUIDs. An entry the state knows
    keeps its GUID; else the first old id the state knows gives it; with no state, the first old id
    listed (the oldest) does, so a project without its state still builds the same notes.
    """
    guid = known.get(entry_id)
    if guid is not None:
        return guid
    for old in was:
        guid = known.get(old)
        if guid is not None:
            return guid
    return note_guid(project, was[0] if was else entry_id)


def _make_pairs() -> list[str]:
    global _BASE91_PAIRS
    # Made whole, then set: a thread that makes them at the same time makes the same list.
    _BASE91_PAIRS = [high + low for high in _BASE91 for low in _BASE91]
    return _BASE91_PAIRS


def _base91(number: int) -> str:
    # Most significant digit first, no leading zeros; two digits at a time, since every note needs one.
    pairs = _BASE91_PAIRS or _make_pairs()
    chars = ""
    while number >= _PAIR_BASE:
        number, pair = divmod(number, _PAIR_BASE)
        chars = pairs[pair] + chars
    if number >= len(_BASE91):
        return pairs[number] + chars
    return _BASE91[number] + chars if number or not chars else chars


def deck_name(root_deck: str, title: str) -> str:
    """The Anki deck of a topic with this title (Anki matches decks by this name)."""
    return f"{root_deck}::{title}"


def deck_id(name: str) -> int:
    """A stable deck id from the deck's name (Anki matches decks by name; the id only has to be valid)."""
    digest = hashlib.sha256(("decks-deck/v1\0" + name).encode("utf-8")).digest()
    # Keep clear of Anki's Default deck (1) and inside JavaScript's exact integer range.
    return (int.from_bytes(digest[:8], "big") % (2**52)) + 2**40


class NoteTypeIdentity:
    """What Anki matches a note type by: its id, then its field and card template names."""

    __slots__ = ("id", "fields", "templates")

    def __init__(self, id: int, fields: tuple[str, ...], templates: tuple[str, ...]) -> None:
        self.id = id
        self.fields = fields
        self.templates = templates

    @property
    def names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.fields, self.templates


def note_type_id(configured: int, layout: int = LAYOUT) -> int:
    """The id in Anki of a note type whose id in deck.yaml is ``configured``, in a layout generation.

    Generation 1 (fields Front and Back holding rendered HTML) used the configured id itself. Each
    later generation has ids of its own, so Anki sees new note types, never renamed ones, and the
    notes of the old ones move to them with Anki's "Merge note types" (see docs/migration.md).
    """
    if layout == 1:
        return configured
    digest = hashlib.sha256(f"decks-note-type/v{layout}\0{configured}".encode()).digest()
    # Inside JavaScript's exact integer range, as Anki's own ids are, and never Anki's Default (1).
    return (int.from_bytes(digest[:8], "big") % (2**52)) + 2**40


def note_type_identity(kind: Kind, model_id: int) -> NoteTypeIdentity:
    """The identity in Anki of the note type an entry kind is built on (``model_id``: see note_type_id)."""
    return NoteTypeIdentity(model_id, kind.field_names, tuple(card.name for card in kind.cards))


def content_fields(flds: str) -> str:
    """A note's fields without its last, the entry id: what its content hash covers.

    The GUID already fixes the entry id, and leaving it out lets `decks check` tell a note whose id
    changed while its text stayed.
    """
    return flds[: flds.rfind("\x1f")]


def note_hash(model_id: int, deck: str, flds: str, tags: str, media_version: str | None = None) -> str:
    """What the build state records of a note's content: note type, deck, fields, tags, and media."""
    # The bytes of json.dumps of that list, as content_hash makes them, built without the encoder's
    # per-call overhead: this runs for every note.
    media = f", {_json_str(media_version)}" if media_version else ""
    encoded = f"[{model_id}, {_json_str(deck)}, {_json_str(flds)}, {_json_str(tags)}{media}]"
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def note_tags(tags: Sequence[str]) -> str:
    """A note's tags as Anki stores them: space-separated, with a space on each side."""
    return " " + " ".join(tags) + " " if tags else ""


def content_hash(value: object) -> str:
    """A hash of any JSON value (a note type's definition, say), key order ignored."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]
