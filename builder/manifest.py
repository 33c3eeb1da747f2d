"""Build state kept beside the decks: each note's content hash, modification time and ids.

Anki updates an imported note only when the package's ``mod`` is newer than its own,
so a note keeps its old ``mod`` while its content is unchanged (Anki-side edits to it
survive a re-import, and a rebuild is byte-identical) and gets a newer one when edited.
Note and card ids are drawn once and kept, so they stay stable across builds.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import write_atomic

MANIFEST_NAME = ".decks-build.json"
_VERSION = 1


def build_time() -> int:
    """Seconds since the epoch for new stamps; ``SOURCE_DATE_EPOCH`` wins when set."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    return int(time.time())


@dataclass
class NoteStamp:
    """What a note was built with last time."""

    hash: str
    mod: int
    id: int
    cards: dict[int, int] = field(default_factory=dict)
    # The deck the note was last built into ("" when unknown), to tell users about moves Anki won't make.
    deck: str = ""


@dataclass(frozen=True)
class NoteTypeNames:
    """The names that make a note type's identity in Anki, beside its id."""

    fields: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass
class TopicRecord:
    """What an incremental build needs of a topic file without reading it again.

    Kept only for files that built cleanly: their fingerprint, deck title, entry ids with where
    each is written, and media files, so checks across files still see them.
    """

    fingerprint: str
    title: str
    ids: list[tuple[str, int, int]]
    # Media files the topic uses: (Anki name, path in media/, sha256, line, column, reference).
    media: list[tuple] = field(default_factory=list)
    # The GUIDs of its notes, to tell where each note went without hashing every id again.
    guids: list[str] = field(default_factory=list)


@dataclass
class PackageRecord:
    """A package as last written: the fingerprint of its inputs and a hash of the file's bytes."""

    fingerprint: str
    sha256: str
    notes: int
    cards: int


class IdLane:
    """New note and card ids for one package: base + k, base + k + n, base + k + 2n, ... (lane k of n).

    A build gives each package it stamps a lane of its own, so packages can be stamped in any order
    or process and still get the same ids. The base is the manifest's, fixed when first needed.
    """

    def __init__(self, manifest: Manifest, now: int, offset: int, step: int):
        self._manifest = manifest
        self._now = now
        self._offset = offset
        self._step = step
        self._next: int | None = None

    def take(self) -> int:
        """The next id of this lane."""
        if self._next is None:
            self._next = self._manifest.id_base(self._now) + self._offset
        value = self._next
        self._next += self._step
        return value


@dataclass
class Manifest:
    """Stamps of every note and note type built into one output folder."""

    note_types: dict[int, tuple[str, int]] = field(default_factory=dict)
    # Field and template names each note type was built with: `decks check` compares them,
    # since Anki copies a note type whose names changed instead of updating it. Older
    # manifests lack this key and readers that predate it ignore it.
    note_type_names: dict[int, NoteTypeNames] = field(default_factory=dict)
    topics: dict[str, TopicRecord] = field(default_factory=dict)
    packages: dict[str, PackageRecord] = field(default_factory=dict)
    changed: bool = False
    # True when there was no usable manifest: every note is then stamped as new.
    fresh: bool = False
    # The lane of stamps made without one, and the first id never given (see id_base).
    _lane: IdLane | None = field(default=None, repr=False)
    _id_base: int | None = field(default=None, repr=False)
    # Stamps made or changed since take_touched() was last asked, for a worker process to hand back.
    _touched: dict[str, NoteStamp] = field(default_factory=dict, repr=False)
    # Notes as read from the file ([hash, mod, id, {ord: card id}, deck]) become stamps one by one when a
    # build asks for them: a rebuild of one topic touches few of them, and at 100,000 notes making
    # every stamp costs a third of a second.
    _raw_notes: dict = field(default_factory=dict, repr=False)
    _stamps: dict[str, NoteStamp] = field(default_factory=dict, repr=False)

    @property
    def notes(self) -> dict[str, NoteStamp]:
        """Stamps of every note, by GUID."""
        for guid in list(self._raw_notes):
            self._old_stamp(guid)
        return self._stamps

    def guids(self) -> set[str]:
        """The GUID of every note, without making their stamps."""
        return {*self._raw_notes, *self._stamps}

    def stamp_of(self, guid: str) -> NoteStamp | None:
        """The stamp of one note (None when unknown), without making every other note's."""
        return self._old_stamp(guid)

    def _old_stamp(self, guid: str) -> NoteStamp | None:
        stamp = self._stamps.get(guid)
        if stamp is None and guid in self._raw_notes:
            try:
                h, mod, nid, cards, *deck = self._raw_notes.pop(guid)
                stamp = NoteStamp(h, mod, nid, {int(o): c for o, c in cards.items()}, *deck)
            except (ValueError, TypeError, AttributeError):
                return None  # a damaged record: the note is new again, with ids newer than any given
            self._stamps[guid] = stamp
        return stamp

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at ``path``; an absent or unreadable one starts afresh."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != _VERSION:
                return cls(fresh=True)
            notes = data["notes"]
            if not isinstance(notes, dict):
                return cls(fresh=True)
            types = {int(mid): (h, mod) for mid, (h, mod) in data["note_types"].items()}
            names = {
                int(mid): NoteTypeNames(tuple(map(str, n["fields"])), tuple(map(str, n["templates"])))
                for mid, n in data.get("note_type_names", {}).items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls(fresh=True)
        try:
            # Older manifests have no build cache: every topic is then read and packaged again.
            topics = {
                slug: TopicRecord(fp, title, [tuple(i) for i in ids], [tuple(m) for m in media], list(guids))
                for slug, (fp, title, ids, media, guids) in data.get("topics", {}).items()
            }
            packages = {name: PackageRecord(*values) for name, values in data.get("packages", {}).items()}
        except (ValueError, TypeError, AttributeError):
            topics, packages = {}, {}
        return cls(note_types=types, note_type_names=names, topics=topics, packages=packages, _raw_notes=notes)

    def record_note_type_names(self, model_id: int, names: NoteTypeNames) -> None:
        """Remember the field and template names a note type is built with."""
        if self.note_type_names.get(model_id) != names:
            self.note_type_names[model_id] = names
            self.changed = True

    def stamp_note_type(self, model_id: int, content_hash: str, now: int) -> int:
        """The ``mod`` for a note type with this content."""
        old = self.note_types.get(model_id)
        if old is not None and old[0] == content_hash:
            return old[1]
        mod = max(now, old[1] + 1) if old else now
        self.note_types[model_id] = (content_hash, mod)
        self.changed = True
        return mod

    def stamp_note(
        self, guid: str, content_hash: str, ords: list[int], now: int, lane: IdLane | None = None
    ) -> NoteStamp:
        """The stamp for a note with this content and these card ordinals; new ids come from ``lane``."""
        if lane is None:
            lane = self._lane = self._lane or IdLane(self, now, 0, 1)
        old = self._old_stamp(guid)
        if old is None:
            stamp = NoteStamp(content_hash, now, lane.take())
        elif old.hash != content_hash:
            # The deck stays until place() records this build's: reimport.py compares the two.
            stamp = NoteStamp(content_hash, max(now, old.mod + 1), old.id, dict(old.cards), old.deck)
        else:
            stamp = old
        added = [ord_ for ord_ in ords if ord_ not in stamp.cards]
        for ord_ in added:
            stamp.cards[ord_] = lane.take()
        # A card added to an unchanged note changes its stamp in place: that too must be saved.
        if stamp is not old or added:
            self._stamps[guid] = stamp
            self._touched[guid] = stamp
            self.changed = True
        return stamp

    def take_touched(self) -> dict[str, tuple]:
        """The stamps made or changed since this was last asked, as plain tuples for adopt().

        A worker process hands them back to the build: tuples cross between processes several
        times faster than dataclasses.
        """
        touched, self._touched = self._touched, {}
        return {guid: (s.hash, s.mod, s.id, s.cards, s.deck) for guid, s in touched.items()}

    def adopt(self, stamps: Mapping[str, tuple]) -> None:
        """Take stamps made from a copy of this manifest (in a worker process) as this build's."""
        raw_notes, own = self._raw_notes, self._stamps
        for guid, values in stamps.items():
            raw_notes.pop(guid, None)
            own[guid] = NoteStamp(*values)
        if stamps:
            self.changed = True

    def place(self, guid: str, deck: str) -> None:
        """Record the deck a stamped note was built into (notes never stamped are left alone)."""
        stamp = self._old_stamp(guid)
        if stamp is not None and stamp.deck != deck:
            stamp.deck = deck
            self.changed = True

    def forget(self, guids: list[str]) -> None:
        """Drop notes that are no longer built (after telling the user about them)."""
        for guid in guids:
            if self._old_stamp(guid) is not None:
                del self._stamps[guid]
                self.changed = True

    def id_lanes(self, count: int, now: int) -> list[IdLane]:
        """``count`` lanes of new ids that never meet: together they take the ids one lane alone would."""
        return [IdLane(self, now, k, count) for k in range(count)]

    def id_base(self, now: int) -> int:
        """The first id after every id given before this build, fixed the first time it is asked.

        Asked before any lane gives an id (in the main process before worker processes start), so
        every process sees the same base.
        """
        if self._id_base is None:
            # Anki reads ids as creation times in milliseconds; keep them plausible and unique.
            used = [s.id for s in self._stamps.values()]
            used += [c for s in self._stamps.values() for c in s.cards.values()]
            for raw in self._raw_notes.values():
                with contextlib.suppress(IndexError, TypeError, AttributeError):
                    used.extend((raw[2], *raw[3].values()))
            self._id_base = max([now * 1000, *(u + 1 for u in used if isinstance(u, int))])
        return self._id_base

    def save(self, path: Path) -> None:
        """Write the manifest atomically."""
        write_atomic(path, self.encoded())

    def encoded(self) -> bytes:
        """The manifest as the bytes of its file."""
        data = {
            "version": _VERSION,
            "note_types": {str(mid): [h, mod] for mid, (h, mod) in sorted(self.note_types.items())},
            "note_type_names": {
                str(mid): {"fields": list(n.fields), "templates": list(n.templates)}
                for mid, n in sorted(self.note_type_names.items())
            },
            "notes": dict(
                sorted(
                    {
                        **self._raw_notes,
                        **{
                            guid: [s.hash, s.mod, s.id, {str(o): c for o, c in sorted(s.cards.items())}, s.deck]
                            for guid, s in self._stamps.items()
                        },
                    }.items()
                )
            ),
            "topics": {
                slug: [t.fingerprint, t.title, t.ids, t.media, t.guids] for slug, t in sorted(self.topics.items())
            },
            "packages": {
                name: [p.fingerprint, p.sha256, p.notes, p.cards] for name, p in sorted(self.packages.items())
            },
        }
        return json.dumps(data, separators=(",", ":")).encode("utf-8")
