"""The build state: the project's ``decks.lock`` (identity in Anki) and each output folder's build cache.

Anki updates an imported note only when the package's ``mod`` is newer than its own, so a note keeps
its old ``mod`` while its content is unchanged (Anki-side edits to it survive a re-import, and a rebuild
is byte-identical) and gets a newer one when edited. Note and card ids are drawn once and kept.

What decides a note's identity (its entry id, kind, GUID, ids, ``mod``, content hash and deck, and each
note type's id and names) is the project's: ``decks.lock`` at the project root, committed with the cards,
one note per line, sorted, so that it diffs and merges like the cards do. Every output folder builds from
it, so two clones of one commit build byte-identical packages. What only makes rebuilds fast (which topic
files and packages are unchanged) is the output folder's own ``.decks-cache.json``.

A lock file that does not match its schema exactly is treated as absent, with one note saying so. The
build is the only writer; everything else reads a state and returns what it decided.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import time
from bisect import bisect_left
from collections.abc import Mapping
from itertools import accumulate, islice, repeat
from operator import itemgetter, lt
from pathlib import Path

from builder.config import Config
from builder.identity import NoteTypeIdentity, note_guid, note_type_identity
from builder.kinds import KINDS

LOCK_NAME = "decks.lock"
CACHE_NAME = ".decks-cache.json"
# The build state of earlier versions, kept in the output folder: taken over once, then removed.
LEGACY_NAME = ".decks-build.json"
_LOCK_VERSION = 1
_CACHE_VERSION = 1
_LEGACY_VERSION = 1
_LOCK_HEAD = (
    "# decks.lock: the identity in Anki of every note this project has built. Written by `decks build`;\n"
    "# commit it with the cards, so that every clone and output folder builds the same notes.\n"
    '# Lines: ["note-type", kind, id, fields, templates, hash, mod] and\n'
    '# ["note", entry id, kind, GUID, note id, {card template: card id}, mod, content hash, deck].\n'
)
_MAX_ID = 2**63 - 1
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_HASH_RE = re.compile(r"[0-9a-f]{32}")
_KIND_RE = re.compile(r"[a-z][a-z0-9_-]*")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
# Patterns compiled (and cached by re) when first used rather than by every import: a note line not in the
# build's own form is rare, and a build that the cache vouches for does not check the lock's lines at all.
_ENTRY_RE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_GUID_RE = r"[!-~]{1,64}"
_ORD_RE = r"0|[1-9][0-9]{0,3}"
# A note line exactly as the build writes it, every number under 10^18 (so inside 64 bits): the usual line is
# checked by this one match; any other line by _check_note, value by value.
_ID = r"[1-9][0-9]{0,17}"
_CANONICAL_NOTE = (
    r'\["note","[A-Za-z0-9][A-Za-z0-9._-]{0,99}","(?:[a-z][a-z0-9_-]*)?","[!#-\[\]-~]{1,64}",'
    + _ID
    + r',\{"(?:0|[1-9][0-9]{0,3})":'
    + _ID
    + r'(?:,"(?:0|[1-9][0-9]{0,3})":'
    + _ID
    + r')*\},(?:0|[1-9][0-9]{0,17}),"[0-9a-f]{32}","(?:[^"\\\x00-\x1f]|\\.)*"\]'
)


def build_time() -> int:
    """Seconds since the epoch for new stamps; ``SOURCE_DATE_EPOCH`` wins when set."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    return int(time.time())


class NoteStamp:
    """What a note was built with last time."""

    # This module's records are plain classes rather than dataclasses: every build and push imports it, and
    # a dataclass costs that import the making of its methods.
    __slots__ = ("hash", "mod", "id", "cards", "deck", "entry", "kind")

    def __init__(
        self,
        hash: str,
        mod: int,
        id: int,
        cards: dict[int, int] | None = None,
        deck: str = "",
        entry: str = "",
        kind: str = "",
    ) -> None:
        self.hash = hash
        self.mod = mod
        self.id = id
        self.cards: dict[int, int] = {} if cards is None else cards
        # The deck the note was last built into ("" when unknown), to tell users about moves Anki won't make.
        self.deck = deck
        # The entry the note was built from, and its kind ("" when unknown: taken over from an older state).
        self.entry = entry
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        if type(other) is not NoteStamp:
            return NotImplemented
        return (self.hash, self.mod, self.id, self.cards, self.deck, self.entry, self.kind) == (
            other.hash,
            other.mod,
            other.id,
            other.cards,
            other.deck,
            other.entry,
            other.kind,
        )

    __hash__ = None


class NoteTypeRecord:
    """A note type as last built: its id, field and template names, content hash and ``mod``."""

    __slots__ = ("id", "fields", "templates", "hash", "mod")

    def __init__(self, id: int, fields: tuple[str, ...], templates: tuple[str, ...], hash: str, mod: int) -> None:
        self.id = id
        self.fields = fields
        self.templates = templates
        self.hash = hash
        self.mod = mod

    def _key(self) -> tuple:
        return (self.id, self.fields, self.templates, self.hash, self.mod)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if type(other) is NoteTypeRecord else NotImplemented

    __hash__ = None


class TopicRecord:
    """What an incremental build needs of a topic file without reading it again.

    Kept only for files that built cleanly: their fingerprint, deck title, entry ids with where
    each is written, and media files, so checks across files still see them.
    """

    __slots__ = ("fingerprint", "title", "ids", "media", "guids", "was", "prompts")

    def __init__(
        self,
        fingerprint: str,
        title: str,
        ids: list[tuple[str, int, int]],
        media: list[tuple],
        guids: list[str],
        was: list[tuple[str, int, int, str]],
        prompts: list[tuple] | CacheSpan,
    ) -> None:
        # Every value kept as given, even one of another type read from a cache made by hand: the reader then
        # finds it is not of the build's own form.
        self.fingerprint = fingerprint
        self.title = title
        self.ids = ids
        # Media files the topic uses: (Anki name, path in media/, sha256, line, column, reference).
        self.media = media
        # The GUIDs of its notes, to tell where each note went without hashing every id again.
        self.guids = guids
        # The old ids its entries name in `was:`: (old id, line, column, entry id).
        self.was = was
        # What the duplicate rules need of its entries (check.Prompt tuples), when the project makes them errors.
        # A record read from the cache holds their JSON text instead, decoded when first asked for (most of the
        # cache, and a rebuild compares them only when a question changed): see decoded_prompts.
        self.prompts = prompts

    def __eq__(self, other: object) -> bool:
        if type(other) is not TopicRecord:
            return NotImplemented
        return (self.fingerprint, self.title, self.ids, self.media, self.guids, self.was, self.prompts) == (
            other.fingerprint,
            other.title,
            other.ids,
            other.media,
            other.guids,
            other.was,
            other.prompts,
        )

    __hash__ = None

    def decoded_prompts(self) -> list[tuple]:
        """Its prompts as tuples, decoded now if read from the cache; DamagedCache when that text is not theirs."""
        if isinstance(self.prompts, CacheSpan):
            try:
                decoded = self.prompts.decode()
                if type(decoded) is not list or not all(type(p) is list and len(p) == 8 for p in decoded):
                    raise ValueError("not a list of prompts")
                self.prompts = [(*p[:7], tuple(p[7])) for p in decoded]
            except (ValueError, TypeError) as exc:
                raise DamagedCache(str(exc)) from exc
        return self.prompts


class PackageRecord:
    """A package as last written: the fingerprint of its inputs and a hash of the file's bytes."""

    __slots__ = ("fingerprint", "sha256", "notes", "cards")

    def __init__(self, fingerprint: str, sha256: str, notes: int, cards: int) -> None:
        self.fingerprint = fingerprint
        self.sha256 = sha256
        self.notes = notes
        self.cards = cards


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


class CacheSpan:
    """A stretch of the cache file as read: written back as it was, decoded only when asked for."""

    __slots__ = ("text", "data", "start", "stop")

    def __init__(self, text: str, data: bytes | None, start: int, stop: int):
        # ``data``: the file's bytes when they are ASCII (as the builder writes them), so a stretch of the text
        # is the same stretch of them.
        self.text, self.data, self.start, self.stop = text, data, start, stop

    def decode(self) -> object:
        """Its JSON value; ValueError when it is not one JSON value."""
        value, end = _DECODE(self.text, self.start)
        if end != self.stop:
            raise ValueError("not one JSON value")
        return value

    def encoded(self) -> bytes | memoryview:
        """Its UTF-8 bytes, not copied when the file's bytes are ASCII."""
        if self.data is not None:
            return memoryview(self.data)[self.start : self.stop]
        return self.text[self.start : self.stop].encode("utf-8")


class DamagedCache(Exception):
    """A part of the build cache decoded only when needed was not in the shape the builder writes: the build
    that asked for it starts again without the cache (as if there were none)."""


class DamagedState(Exception):
    """The lock file does not match its schema: where and why."""

    def __init__(self, line: int | None, reason: str):
        super().__init__(reason)
        self.line = line
        self.reason = reason


class Manifest:
    """The build state in memory: stamps of every note and note type, and one output folder's cache."""

    def __init__(
        self,
        project: str | None = None,
        note_types: dict[str, NoteTypeRecord] | None = None,
        topics: dict[str, TopicRecord] | None = None,
        packages: dict[str, PackageRecord] | None = None,
        layouts: tuple[str, dict] | None = None,
        changed: bool = False,
        cache_changed: bool = False,
        fresh: bool = False,
        damaged: tuple[int | None, str] | None = None,
        legacy: Path | None = None,
        earlier_note_types: dict[str, NoteTypeRecord] | None = None,
        lock_digest: str = "",
    ) -> None:
        # The project the notes were built for (None: unknown, or no notes yet).
        self.project = project
        self.note_types: dict[str, NoteTypeRecord] = {} if note_types is None else note_types
        self.topics: dict[str, TopicRecord] = {} if topics is None else topics
        self.packages: dict[str, PackageRecord] = {} if packages is None else packages
        # The note types as packages hold them, last made from the templates: (the build stamp they were made
        # under, their JSON by kind; see package.py). A build under the same stamp takes them as they are.
        self.layouts = layouts
        # The lock's content changed (and must be saved); the cache's did.
        self.changed = changed
        self.cache_changed = cache_changed
        # True when there was no usable state: every note is then stamped as new.
        self.fresh = fresh
        # Why the lock file was not usable, when it was there but damaged: (line or None, reason).
        self.damaged = damaged
        # The older state file this one was taken over from, or that an output folder still holds beside a lock
        # (removed once a build has written).
        self.legacy = legacy
        # The note types that older state file recorded, when a lock was there too: an output folder built
        # before the lock existed tells which note types the user's collection may hold.
        self.earlier_note_types: dict[str, NoteTypeRecord] = {} if earlier_note_types is None else earlier_note_types
        # sha256 of the lock's bytes as read ("" when there was none): a cache made with another lock is stale.
        self.lock_digest = lock_digest
        # The lane of stamps made without one, and the first id never given (see id_base).
        self._lane: IdLane | None = None
        self._id_base: int | None = None
        # Stamps made or changed since take_touched() was last asked, for a worker process to hand back.
        self._touched: dict[str, NoteStamp] = {}
        # Notes as read (the lock's "note" lines, by GUID) become stamps one by one when a build asks for
        # them: a rebuild of one topic touches few of them, and at 100,000 notes making every stamp costs
        # a third of a second. Their lines are written back as read. A lock the cache vouches for is not
        # decoded at all: a note is (line, entry id, GUID), as found in the text, until it is first asked for;
        # decoded, it is its list, whose entry id is at the same place.
        self._raw_notes: dict = {}
        self._raw_lines: dict[str, str] = {}
        self._stamps: dict[str, NoteStamp] = {}
        self._known: dict[str, str] | None = None
        # Topic records as read from the cache with their text there: slug -> (record, text).
        self._topic_texts: dict[str, tuple[TopicRecord, str | CacheSpan]] = {}
        # Lock lines made where a note was stamped (see note_lines): GUID -> (the stamp adopted, its deck, the line).
        self._lines: dict[str, tuple[NoteStamp, str, str]] = {}
        # The lock as read when the cache vouched for it: (its text after a line break, its bytes, each note line
        # as found, in file order, as (line, entry id, GUID)), so that saving it can replace only the lines that
        # changed (see _spliced).
        self._read_lock: tuple[str, bytes, list[tuple[str, str, str]]] | None = None

    # -- reading ----------------------------------------------------------------

    @property
    def notes(self) -> dict[str, NoteStamp]:
        """Stamps of every note, by GUID."""
        self._decode_all()
        for guid in list(self._raw_notes):
            self._old_stamp(guid)
        return self._stamps

    def has_notes(self) -> bool:
        """Whether the state holds any note."""
        return bool(self._raw_notes or self._stamps)

    def guids(self) -> set[str]:
        """The GUID of every note, without making their stamps."""
        return {*self._raw_notes, *self._stamps}

    def stamp_of(self, guid: str) -> NoteStamp | None:
        """The stamp of one note (None when unknown), without making every other note's."""
        return self._old_stamp(guid)

    def stamps_of(self, guids: list[str]) -> list[NoteStamp | None]:
        """The stamps of these notes (None when unknown), their lines decoded in one call (see _decode_all)."""
        raw_notes = self._raw_notes
        lazy = [guid for guid in guids if type(raw_notes.get(guid)) is tuple]
        if lazy:
            lines = [raw_notes[guid][0] for guid in lazy]
            self._raw_lines.update(zip(lazy, lines, strict=True))
            raw_notes.update(zip(lazy, json.loads("[" + ",".join(lines) + "]"), strict=True))
        return [self._old_stamp(guid) for guid in guids]

    def _decode_all(self) -> None:
        """Decode every note line not decoded yet, in one call (a line at a time costs twice as much)."""
        raw_notes, raw_lines = self._raw_notes, self._raw_lines
        lazy = [guid for guid, raw in raw_notes.items() if type(raw) is tuple]
        if lazy:
            lines = [raw_notes[guid][0] for guid in lazy]
            raw_lines.update(zip(lazy, lines, strict=True))
            raw_notes.update(zip(lazy, json.loads("[" + ",".join(lines) + "]"), strict=True))

    def known_guids(self) -> dict[str, str]:
        """Entry id -> GUID of every note the state knows by its entry, as read (see identity.entry_guid)."""
        if self._known is None:
            # A note as read or decoded has its entry id second.
            known = dict(zip(map(_SECOND, self._raw_notes.values()), self._raw_notes, strict=True))
            known.pop("", None)
            known.update({s.entry: guid for guid, s in self._stamps.items() if s.entry})
            self._known = known
        return self._known

    def _old_stamp(self, guid: str) -> NoteStamp | None:
        stamp = self._stamps.get(guid)
        if stamp is None and guid in self._raw_notes:
            raw = self._raw_notes.pop(guid)
            _, entry, kind, _, nid, cards, mod, h, deck = json.loads(raw[0]) if type(raw) is tuple else raw
            self._raw_lines.pop(guid, None)
            stamp = NoteStamp(h, mod, nid, {int(o): c for o, c in cards.items()}, deck, entry, kind)
            self._stamps[guid] = stamp
        return stamp

    # -- stamping (in memory; the build saves) ----------------------------------------

    def stamp_note_type(self, kind: str, identity: NoteTypeIdentity, content_hash: str, now: int) -> NoteTypeRecord:
        """The record (and ``mod``) for a kind's note type of this identity and content; record_note_type saves it."""
        old = self.note_types.get(kind)
        same = old is not None and old.id == identity.id
        if same and old.hash == content_hash and (old.fields, old.templates) == identity.names:
            return old
        mod = max(now, old.mod + 1) if same else now
        return NoteTypeRecord(identity.id, identity.fields, identity.templates, content_hash, mod)

    def record_note_type(self, kind: str, record: NoteTypeRecord) -> None:
        """Keep a note type's record (the build's to call)."""
        if self.note_types.get(kind) != record:
            self.note_types[kind] = record
            self.changed = True

    def stamp_note(
        self,
        guid: str,
        content_hash: str,
        ords: list[int],
        now: int,
        lane: IdLane | None = None,
        entry: str = "",
        kind: str = "",
    ) -> NoteStamp:
        """The stamp for a note with this content and these card ordinals; new ids come from ``lane``.

        A new or changed stamp is only handed over (take_touched): the build adopts it into the state.
        """
        if lane is None:
            lane = self._lane = self._lane or IdLane(self, now, 0, 1)
        old = self._old_stamp(guid)
        if old is None:
            # A new note (every note of a clean build): its id, then its cards' ids, in order, from the lane.
            take = lane.take
            nid = take()
            stamp = self._touched[guid] = NoteStamp(content_hash, now, nid, {o: take() for o in ords}, "", entry, kind)
            return stamp
        if old.hash != content_hash:
            # The deck stays until place() records this build's: reimport.py compares the two.
            stamp = NoteStamp(content_hash, max(now, old.mod + 1), old.id, dict(old.cards), old.deck, entry, kind)
        elif (old.entry, old.kind) != (entry, kind) and entry:
            # Renamed with `was:` (or first recorded): same content, so Anki has nothing to update.
            stamp = NoteStamp(old.hash, old.mod, old.id, dict(old.cards), old.deck, entry, kind)
        else:
            stamp = old
        added = [ord_ for ord_ in ords if ord_ not in stamp.cards]
        # Cards the note makes no more (a cloze number gone): the state records only the cards it has now,
        # so the build tells of them once (reimport.py), and a card that comes back draws a new id.
        vanished = [ord_ for ord_ in stamp.cards if ord_ not in ords]
        if (added or vanished) and stamp is old:
            # A card added to (or gone from) an unchanged note: a new stamp too, which must be saved.
            stamp = NoteStamp(old.hash, old.mod, old.id, dict(old.cards), old.deck, old.entry, old.kind)
        for ord_ in vanished:
            del stamp.cards[ord_]
        for ord_ in added:
            stamp.cards[ord_] = lane.take()
        if stamp is not old:
            self._touched[guid] = stamp
        return stamp

    def take_touched(self) -> dict[str, tuple]:
        """The stamps made or changed since this was last asked, as plain tuples for adopt().

        A worker process hands them back to the build: tuples cross between processes several
        times faster than objects.
        """
        touched, self._touched = self._touched, {}
        return {guid: (s.hash, s.mod, s.id, s.cards, s.deck, s.entry, s.kind) for guid, s in touched.items()}

    def adopt(self, stamps: Mapping[str, tuple], lines: Mapping[str, str] | None = None, deck: str = "") -> None:
        """Take stamps made from a copy of this manifest (in a worker process) as this build's.

        ``lines`` are their lock lines as note_lines made them for ``deck``: the lock takes a line as it is while
        its note is the stamp adopted here, placed in that deck (place() changes only a stamp's deck; stamping a
        note again makes a new stamp).
        """
        raw_notes, raw_lines, own, made = self._raw_notes, self._raw_lines, self._stamps, self._lines
        for guid, values in stamps.items():
            raw_notes.pop(guid, None)
            raw_lines.pop(guid, None)
            stamp = own[guid] = NoteStamp(*values)
            line = lines.get(guid) if lines else None
            if line is not None:
                made[guid] = (stamp, deck, line)
            elif made:
                made.pop(guid, None)
        if stamps:
            self.changed = True

    def keep_topic_text(self, slug: str, record: TopicRecord, text: str) -> None:
        """The cache's text of a topic's record, made where the topic was read (see record_text)."""
        self._topic_texts[slug] = (record, f"{_dumps(slug)}:[{_dumps(record.fingerprint)},{text[1:]}")

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
            self._decode_all()
            used = [s.id for s in self._stamps.values()]
            used += [c for s in self._stamps.values() for c in s.cards.values()]
            for raw in self._raw_notes.values():
                used.append(raw[4])
                used.extend(raw[5].values())
            self._id_base = max([now * 1000, *(u + 1 for u in used)])
        return self._id_base

    # -- the lock file ------------------------------------------------------------

    def lock_text(self, project: str) -> str:
        """The lock file's text for this state: sorted, one note per line, nothing that changes by itself."""
        return self._lock_data(project).decode("utf-8")

    def lock_bytes(self, project: str) -> bytes:
        """The bytes of the lock file for this state; the cache made next is tied to them."""
        data = self._lock_data(project)
        self.lock_digest = hashlib.sha256(data).hexdigest()
        return data

    def _lock_data(self, project: str) -> bytes:
        # Encoded a block of lines at a time into one buffer: every line and the whole text held at once
        # were the peak of a large build's memory.
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        out = io.BytesIO()
        head = [_LOCK_HEAD, dumps({"decks-lock": _LOCK_VERSION, "project": project}), "\n"]
        for kind, t in sorted(self.note_types.items()):
            head += [dumps(["note-type", kind, t.id, list(t.fields), list(t.templates), t.hash, t.mod]), "\n"]
        head_text = "".join(head)
        spliced = self._spliced(head_text, dumps)
        if spliced is not None:
            return spliced
        out.write(head_text.encode("utf-8"))
        raw_notes, raw_lines, stamps = self._raw_notes, self._raw_lines, self._stamps
        # A GUID is either read or stamped, so (entry, GUID) orders every note (a note as read or decoded has its
        # entry id second).
        order = list(zip(map(_SECOND, raw_notes.values()), raw_notes, repeat(True)))
        order += [(s.entry, guid, False) for guid, s in stamps.items()]
        order.sort()
        decks: dict[str, str] = {}

        def line_of(guid: str, read: bool) -> str:
            if not read:
                return self._stamp_line(guid, stamps[guid], dumps, decks)
            line = raw_lines.get(guid)
            return line if line is not None else dumps(raw_notes[guid])

        # A thousand lines at a time; a line as read (nearly all of a rebuild's) is taken without a call.
        for at in range(0, len(order), 1000):
            block = [
                raw[0] if read and type(raw := raw_notes[guid]) is tuple else line_of(guid, read)
                for _, guid, read in order[at : at + 1000]
            ]
            block.append("")
            out.write("\n".join(block).encode("utf-8"))
        return out.getvalue()

    def _stamp_line(self, guid: str, stamp: NoteStamp, dumps, decks: dict[str, str]) -> str:
        """A stamped note's lock line: the one made where it was stamped while that still holds, else made now."""
        ready = self._lines.get(guid)
        if ready is not None and ready[0] is stamp and ready[1] == stamp.deck:
            return ready[2]
        return _note_line(guid, stamp, dumps, decks)

    def _spliced(self, head: str, dumps) -> bytes | None:
        """The lock's bytes made from the file as read, only the note lines that changed replaced; None unless
        that is what encoding every line gives (then the caller does).

        It is when the file read was ``head`` and its note lines, sorted as the build sorts them (by entry id,
        then GUID), one a line with nothing else, and since then no note was added or removed and none changed
        its entry id: every note then keeps its place, and a note not stamped keeps its line as read. A rebuild
        after an edit changes a few lines of the 10,000 or more a lock holds.
        """
        read = self._read_lock
        if read is None:
            return None
        text, data, notes = read
        stamps = self._stamps
        if len(stamps) + len(self._raw_notes) != len(notes) or not text.startswith(head, 1):
            return None
        lines = list(map(_FIRST, notes))
        # With the head in place, the note lines found (each after a line break) fill the rest only when nothing
        # else is there: no comment, blank line or other line between them, and a line break after the last.
        if len(text) != 1 + len(head) + sum(map(len, lines)) + len(lines) or text[-1] != "\n":
            return None
        # Entry ids in strictly rising order: the order of (entry id, GUID), and each note found by its entry id.
        entries = list(map(_SECOND, notes))
        if not all(map(lt, entries, islice(entries, 1, None))):
            return None
        # Every note is either still as read or stamped: with as many notes as read, each stamped one read with
        # its entry id, the notes are those read, in their places.
        decks: dict[str, str] = {}
        changed = []
        count = len(notes)
        for guid, stamp in stamps.items():
            k = bisect_left(entries, stamp.entry)
            if k == count or notes[k][2] != guid or entries[k] != stamp.entry:
                return None
            line = self._stamp_line(guid, stamp, dumps, decks)
            if line != lines[k]:
                changed.append((k, line))
        if not changed:
            return data
        changed.sort()
        # Where each line starts: the head, then every line before it and its line break.
        before = list(accumulate(map(len, lines), initial=0))
        # In the bytes themselves when ASCII (a character is a byte), else in the text (after its first character).
        ascii_ = data.isascii()
        source = memoryview(data) if ascii_ else text
        shift = 0 if ascii_ else 1
        pieces: list = []
        at = shift
        for k, line in changed:
            start = shift + len(head) + before[k] + k
            pieces += [source[at:start], line.encode("utf-8") if ascii_ else line]
            at = start + len(lines[k])
        pieces.append(source[at:])
        return b"".join(pieces) if ascii_ else "".join(pieces).encode("utf-8")

    def cache_bytes(self) -> bytes:
        """The bytes of the output folder's build cache, tied to the lock it was made with.

        One JSON object, each topic's record on a line of its own: a record kept unchanged since it was read
        is written back as the text it was read from (encoding them all is most of saving the cache).
        """
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        kept = self._topic_texts
        # Encoded a topic at a time into one buffer, so that the whole text and its bytes are never held at once;
        # unless records are kept as stretches of the file read (a rebuild, which writes back most of it as read):
        # the pieces, those stretches not copied, are then joined at once, into a buffer of the right size.
        out = io.BytesIO()
        pieces: list[bytes | memoryview] = []
        joined = any(isinstance(text, CacheSpan) for _, text in kept.values())
        write = pieces.append if joined else out.write
        write(f'{{"version":{_CACHE_VERSION},"lock":{dumps(self.lock_digest)},{_TOPICS_START}'.encode())
        for n, (slug, t) in enumerate(sorted(self.topics.items())):
            text = kept.get(slug)
            if n:
                write(b",\n")
            if text is None or text[0] is not t:
                head = dumps([t.fingerprint, t.title, t.ids, t.media, t.guids, t.was])
                # Prompts still as read (their text) are written as read.
                prompts = t.prompts
                prompts = bytes(prompts.encoded()).decode() if isinstance(prompts, CacheSpan) else dumps(prompts)
                write(f"{dumps(slug)}:{head[:-1]},{prompts}]".encode())
            elif isinstance(text[1], CacheSpan):
                write(text[1].encoded())
            else:
                write(text[1].encode("utf-8"))
        packages = {name: [p.fingerprint, p.sha256, p.notes, p.cards] for name, p in sorted(self.packages.items())}
        tail = f',"note_types":{dumps(list(self.layouts))}' if self.layouts is not None else ""
        write(f'\n}},"packages":{dumps(packages)}{tail}}}'.encode())
        return b"".join(pieces) if joined else out.getvalue()


def note_lines(stamps: Mapping[str, tuple], deck: str) -> dict[str, str]:
    """The lock lines of these stamps (take_touched's tuples) once placed in ``deck``, as the lock writes them.

    Made where the notes were stamped (in a worker process, say), so that saving the lock need not encode them.
    """
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    decks: dict[str, str] = {}
    return {
        guid: _line(guid, entry, kind, nid, cards, mod, h, deck, dumps, decks)
        for guid, (h, mod, nid, cards, _, entry, kind) in stamps.items()
    }


def record_text(record: TopicRecord) -> str:
    """A topic record's text in the cache, but for its fingerprint (which keep_topic_text puts first).

    Made where the topic was read (in a worker process, say), so that saving the cache need not encode it.
    """
    return _dumps([record.title, record.ids, record.media, record.guids, record.was, record.prompts])


_dumps = json.JSONEncoder(separators=(",", ":")).encode


# Text JSON writes as it is (ensure_ascii=False): no quote, no backslash, no control character.
_JSON_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')


def _note_line(guid: str, s: NoteStamp, dumps, decks: dict[str, str]) -> str:
    """A note's lock line, the bytes ``dumps`` makes of its list, without the encoder's cost per call.

    The strings that come from a note's identity are written as they are when JSON would not escape them;
    the deck's text is encoded once per deck (in ``decks``). Anything else goes through ``dumps``.
    """
    return _line(guid, s.entry, s.kind, s.id, s.cards, s.mod, s.hash, s.deck, dumps, decks)


def _line(
    guid: str, entry: str, kind: str, nid, cards: dict, mod, h: str, deck: str, dumps, decks: dict[str, str]
) -> str:
    # _note_line of a stamp's fields, which note_lines has as a tuple (made into no stamp).
    plain = _JSON_PLAIN.fullmatch(entry + kind + guid + h) is not None
    if len(cards) == 1:
        [(o, c)] = cards.items()
        ints = type(c) is int
        text = f'"{o}":{c}'
    else:
        ints = all(type(c) is int for c in cards.values())
        text = ",".join(f'"{o}":{c}' for o, c in sorted(cards.items())) if ints else ""
    if not plain or not ints or type(nid) is not int or type(mod) is not int:
        return dumps(["note", entry, kind, guid, nid, {str(o): c for o, c in sorted(cards.items())}, mod, h, deck])
    deck_text = decks.get(deck)
    if deck_text is None:
        deck_text = decks[deck] = dumps(deck)
    return f'["note","{entry}","{kind}","{guid}",{nid},{{{text}}},{mod},"{h}",{deck_text}]'


# -- loading ---------------------------------------------------------------------


def load_state(config: Config, out: Path | None = None, head: LockHead | None = None, cache: bool = True) -> Manifest:
    """The build state of a project building into ``out``: its lock, else an older state taken over.

    A lock that does not match its schema is treated as absent (``damaged`` says why). With no lock,
    an older ``.decks-build.json`` in ``out`` or in the configured output folder is taken over. A lock
    whose bytes the cache names was checked by the build that made the cache: its note lines are kept
    as read and decoded only when asked for. ``head``, read by this build already, is not read again. Without
    ``cache`` the output folder's cache is not used (a build that found it damaged).
    """
    out = out or config.output_dir
    legacy_dirs = (config.output_dir,)
    path = config.root / LOCK_NAME
    use_cache, cache = cache, head.cache if head is not None else None
    try:
        data = head.data if head is not None else path.read_bytes()
    except FileNotFoundError:
        data = None
    except IsADirectoryError:
        return Manifest(fresh=True, damaged=(None, "is a folder, not a file"))
    except OSError as exc:
        return Manifest(fresh=True, damaged=(None, f"cannot be read ({exc.strerror or exc})"))
    if data is None:
        for folder in dict.fromkeys((out, *legacy_dirs)):
            manifest = _take_over(folder / LEGACY_NAME, config)
            if manifest is not None:
                if folder == out and use_cache:
                    _read_cache(manifest, folder / LEGACY_NAME, legacy=True)
                return manifest
        manifest = Manifest(fresh=True)
    else:
        digest = head.state.lock_digest if head is not None else hashlib.sha256(data).hexdigest()
        if cache is None and use_cache:
            cache = _cache_json(out / CACHE_NAME)
        manifest = _vouched_lock(data, head) if _made_with(cache, digest) else None
        if manifest is None:
            try:
                manifest = parse_lock(data)
            except DamagedState as exc:
                manifest = Manifest(fresh=True, damaged=(exc.line, exc.reason))
                _apply_cache(manifest, cache, layouts_only=True)
                return manifest
        manifest.lock_digest = digest
        for folder in dict.fromkeys((out, *legacy_dirs)):
            older = _take_over(folder / LEGACY_NAME, config)
            if older is not None:
                manifest.legacy, manifest.earlier_note_types = older.legacy, older.note_types
                break
        _apply_cache(manifest, cache)
        return manifest
    if use_cache:
        _read_cache(manifest, out / CACHE_NAME)
    return manifest


# In a lock's text with a line break put before it: a note line as the build writes it, up to its GUID,
# as (line, entry id, GUID); and every other line with something on it but a comment (the header, note
# types, note lines in another form). Each begins with the line break, which finds the lines fast.
# (``.`` matches what ``[^\n]`` does, a sixth faster over a lock of 10,000 lines.)
_NOTE_LINE = re.compile(r'\n(\["note","([^"\\\n]*)","[^"\\\n]*","([^"\\\n]*)",.*)')
_OTHER_LINE = re.compile(r'\n(?!\["note","|#)([^\n]*\S[^\n]*)')
# The lines besides notes that a build with nothing to do reads: all but comments, blank lines and note lines.
_HEAD_LINE = re.compile(r'\n(?!\["note",|#)([^\n]*\S[^\n]*)')


def _made_with(cache: dict | None, digest: str) -> bool:
    """Whether a cache was made with the lock of this SHA-256, and so vouches that the lock was checked."""
    return isinstance(cache, dict) and cache.get("version") == _CACHE_VERSION and cache.get("lock") == digest


def _vouched_lock(data: bytes, head: LockHead | None = None) -> Manifest | None:
    """The state of a lock the cache vouches for, its note lines kept as read; None when a line is not in the
    build's own form (the full read then checks every line). ``head``, these bytes' head as read already, is
    not read again when its lines are in that form.

    A cache names the SHA-256 of the lock it was made with and is written only by a build that read, and so
    checked, that lock, or wrote it: the same bytes need no second check, and a byte changed anywhere in
    the file (a damaged line in a topic no build reads now included) makes the full read check them all.
    """
    manifest = Manifest()
    if head is not None and head.own_form and head.data is data:
        text, count = head.text, head.notes
        manifest.project, manifest.note_types = head.state.project, dict(head.state.note_types)
    else:
        try:
            text = "\n" + data.decode("utf-8")
            project, note_types = _own_head(_OTHER_LINE.findall(text))
        except (ValueError, LookupError, TypeError, DamagedState):
            return None
        manifest.project, manifest.note_types = project, note_types
        count = text.count('\n["note",')
    notes = _NOTE_LINE.findall(text)
    # Each note kept as found, (line, entry id, GUID): made into dicts without a Python loop (a third of the time).
    manifest._raw_notes = dict(zip(map(_THIRD, notes), notes, strict=True))
    manifest._known = known = dict(zip(map(_SECOND, notes), map(_THIRD, notes), strict=True))
    known.pop("", None)
    # A line that starts as a note's but is not in the build's own form, or a GUID listed twice.
    if len(manifest._raw_notes) != len(notes) or len(notes) != count:
        return None
    manifest._read_lock = (text, data, notes)
    return manifest


def _own_head(lines: list[str]) -> tuple[str, dict[str, NoteTypeRecord]]:
    """The project and note types of a lock's lines other than notes and comments, when they are in the build's
    own form: the header, then one line per note type; anything else raises (ValueError, DamagedState...)."""
    project = None
    note_types: dict[str, NoteTypeRecord] = {}
    for line in lines:
        value = json.loads(line)
        if project is None:
            project = _check_header(value, 0)["project"]
        elif type(value) is list and value and value[0] == "note-type" and value[1] not in note_types:
            note_types[value[1]] = _check_note_type(value, 0)
        else:
            raise ValueError("not a line of the build's own form")
    if project is None:
        raise ValueError("no header")
    return project, note_types


class LockHead:
    """What a build that changes nothing needs of the state: the lock's project, note types and note count,
    and the output folder's cache, read without making or checking a single note."""

    def __init__(
        self,
        state: Manifest,
        notes: int,
        data: bytes = b"",
        cache: dict | None = None,
        text: str = "",
        own_form: bool = False,
    ) -> None:
        self.state = state
        self.notes = notes
        # The lock's bytes and the cache's decoded JSON, for the full read to take over rather than read again.
        self.data = data
        self.cache = cache
        # The lock's text after a line break, and whether its lines besides notes are in the build's own form (a
        # header, then note types, each once; no note line in another form): the full read then takes them as read.
        self.text = text
        self.own_form = own_form


def read_lock_head(config: Config, out: Path) -> LockHead | None:
    """The lock's head and the cache tied to it; None unless the cache in ``out`` was made with these lock bytes.

    A cache names the SHA-256 of the lock it was made with, and is written only by a build that read (and
    so checked) that lock or wrote it: equal bytes need no second check.
    """
    try:
        data = (config.root / LOCK_NAME).read_bytes()
    except OSError:
        return None
    state = Manifest(lock_digest=hashlib.sha256(data).hexdigest())
    cache = _cache_json(out / CACHE_NAME)
    _apply_cache(state, cache, as_read=True)
    if not state.topics:
        return None
    try:
        text = "\n" + data.decode("utf-8")
        # Note lines, nearly all of the file, are only counted: each one the build writes starts its line so.
        notes = text.count('\n["note",')
        lines = _HEAD_LINE.findall(text)
        try:
            state.project, state.note_types = _own_head(lines)
            return LockHead(state, notes, data, cache, text, own_form=True)
        except (ValueError, LookupError, TypeError, DamagedState):
            pass
        head = None
        for line in lines:
            value = json.loads(line)
            if head is None:
                head = state.project = value["project"]
            elif value[0] == "note":
                notes += 1  # a line checked and kept as written, though not in the build's own form
            else:
                state.note_types[value[1]] = _check_note_type(value, 0)
    except (ValueError, LookupError, TypeError, DamagedState):
        return None  # cannot be a lock a build checked; the full read says what is wrong
    return LockHead(state, notes, data, cache, text)


def damage_note(manifest: Manifest) -> str | None:
    """The one note about a damaged lock file (``decks.lock:LINE: ...``), or None."""
    if manifest.damaged is None:
        return None
    line, message = damage_message(manifest)
    return f"{LOCK_NAME}:{line}: {message}" if line else f"{LOCK_NAME}: {message}"


def damage_message(manifest: Manifest) -> tuple[int | None, str]:
    """The line of a damaged lock file where it went wrong (None: the whole file), and what it means."""
    line, reason = manifest.damaged
    return line, (
        f"{reason}; this build state is not used, as if there were none: every note is stamped "
        "anew, so importing these decks overwrites edits made in Anki (review history is kept), and renamed "
        f"ids cannot be recognised. Restore {LOCK_NAME} from version control (git checkout {LOCK_NAME}) to keep them."
    )


def parse_lock(data: bytes) -> Manifest:
    """A lock file's state; raises DamagedState at the first line that does not match the schema."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedState(data[: exc.start].count(b"\n") + 1, "is not UTF-8 text") from None
    numbered = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip() and not line.startswith("#")]
    values = _decode_lines(numbered)
    if not values:
        raise DamagedState(None, 'has no header line (a {"decks-lock": ...} object)')
    manifest = Manifest()
    manifest.project = _check_header(values[0], numbered[0][0])["project"]
    raw_notes, raw_lines = manifest._raw_notes, manifest._raw_lines
    entries: set[str] = set()
    ids: set[int] = set()
    canonical = re.compile(_CANONICAL_NOTE).fullmatch
    for (number, line), value in zip(numbered[1:], values[1:], strict=True):
        if type(value) is not list or not value:
            raise DamagedState(number, 'expected a ["note", ...] or ["note-type", ...] list')
        if value[0] == "note":
            guid = value[3] if canonical(line) else _check_note(value, number)
            if guid in raw_notes:
                raise DamagedState(number, f"GUID {guid!r} is listed twice")
            entry = value[1]
            if entry in entries:
                raise DamagedState(number, f"entry id {entry!r} is listed twice")
            entries.add(entry)
            size = len(ids)
            ids.add(value[4])
            ids.update(value[5].values())
            if len(ids) != size + 1 + len(value[5]):
                twice = next(i for i in (value[4], *value[5].values()) if i in ids)
                raise DamagedState(number, f"id {twice} is used twice")
            raw_notes[guid] = value
            raw_lines[guid] = line
        elif value[0] == "note-type":
            record = _check_note_type(value, number)
            if value[1] in manifest.note_types:
                raise DamagedState(number, f"note type of kind {value[1]!r} is listed twice")
            manifest.note_types[value[1]] = record
        else:
            raise DamagedState(number, f"unknown record {str(value[0])[:40]!r}")
    manifest.known_guids()  # as read, before any stamp changes
    return manifest


def _decode_lines(numbered: list[tuple[int, str]]) -> list:
    """Each line's JSON value: in one call while every line is one value (the usual case), else line by line."""
    try:
        values = json.loads("[" + ",".join(line for _, line in numbered) + "]")
        if len(values) == len(numbered):
            return values
    except ValueError:
        pass
    values = []
    for number, line in numbered:
        try:
            values.append(json.loads(line))
        except ValueError:
            raise DamagedState(number, "is not a line of JSON") from None
    # Every line decoded alone, yet not together: a line holding two values ("1, 2").
    raise DamagedState(None, "has a line holding more than one value")


def _is_int(value: object, low: int = 0) -> bool:
    return type(value) is int and low <= value <= _MAX_ID


def _check_header(value: object, number: int) -> dict:
    if not isinstance(value, dict) or set(value) != {"decks-lock", "project"}:
        raise DamagedState(number, 'expected the header {"decks-lock": 1, "project": "..."}')
    if value["decks-lock"] != _LOCK_VERSION or type(value["decks-lock"]) is not int:
        raise DamagedState(number, f"version {value['decks-lock']!r} is not one this builder reads ({_LOCK_VERSION})")
    if not isinstance(value["project"], str) or not _SLUG_RE.fullmatch(value["project"]):
        raise DamagedState(number, "'project' must be a project name (lowercase letters, digits and dashes)")
    return value


def _check_note(value: list, number: int) -> str:
    if len(value) != 9:
        raise DamagedState(number, f"a note has 9 values, not {len(value)}")
    _, entry, kind, guid, nid, cards, mod, h, deck = value
    what = None
    if type(entry) is not str or not re.fullmatch(_ENTRY_RE, entry):
        what = "entry id"
    elif type(kind) is not str or (kind and not _KIND_RE.fullmatch(kind)):
        what = "kind"
    elif type(guid) is not str or not re.fullmatch(_GUID_RE, guid):
        what = "GUID"
    elif type(nid) is not int or not 1 <= nid <= _MAX_ID:
        what = "note id (an integer from 1 to 2^63-1)"
    elif type(cards) is not dict or not cards:
        what = "card ids"
    elif type(mod) is not int or not 0 <= mod <= _MAX_ID:
        what = "modification time (a whole number of seconds)"
    elif type(h) is not str or not _HASH_RE.fullmatch(h):
        what = "content hash"
    elif type(deck) is not str:
        what = "deck"
    if what is not None:
        raise DamagedState(number, f"bad {what} in a note")
    for ord_, card in cards.items():
        if not re.fullmatch(_ORD_RE, ord_) or type(card) is not int or not 1 <= card <= _MAX_ID:
            raise DamagedState(number, f"bad card id in the note of {entry!r}")
    return guid


def _check_note_type(value: list, number: int) -> NoteTypeRecord:
    if len(value) != 7:
        raise DamagedState(number, f"a note type has 7 values, not {len(value)}")
    _, kind, model_id, fields, templates, h, mod = value
    names_ok = all(
        isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)
        for names in (fields, templates)
    )
    if not (isinstance(kind, str) and _KIND_RE.fullmatch(kind)) or not _is_int(model_id, 2) or not names_ok:
        raise DamagedState(number, "bad kind, id or names in a note type")
    if not (isinstance(h, str) and _HASH_RE.fullmatch(h)) or not _is_int(mod):
        raise DamagedState(number, "bad hash or modification time in a note type")
    return NoteTypeRecord(model_id, tuple(fields), tuple(templates), h, mod)


def _read_cache(manifest: Manifest, path: Path, legacy: bool = False) -> None:
    """The output folder's build cache into ``manifest``, when it was made with the same lock."""
    _apply_cache(manifest, _cache_json(path), legacy=legacy)


class _CacheJson(dict):
    """A cache file's JSON, and its text: each topic record's text as written is found there when asked for."""

    text: str = ""
    # Each topic record's text, when found while reading the cache a line at a time.
    texts: dict[str, CacheSpan] | None = None

    def topic_texts(self) -> dict[str, str | CacheSpan]:
        """Each topic record's text (``"slug":[...]``), by slug, when the cache writes one a line (cache_bytes)."""
        if self.texts is not None:
            return self.texts
        text = self.text
        start = text.find(_TOPICS_START)
        if start < 0:
            return {}
        start += len(_TOPICS_START)
        end = text.find("\n}", start)
        texts = {}
        decode = json.JSONDecoder().raw_decode
        try:
            while start < end:
                stop = text.find("\n", start)
                line = text[start : stop - 1 if text[stop - 1] == "," else stop]
                slug, after = decode(line)
                if type(slug) is str and line[after : after + 1] == ":":
                    texts[slug] = line
                start = stop + 1
        except ValueError:
            return {}
        return texts


def _cache_json(path: Path) -> dict | None:
    """A cache file's JSON, or None when it cannot be read as such.

    A cache as cache_bytes writes it is read a topic a line, each topic's prompts and line kept as stretches of
    its text (see CacheSpan); any other JSON object is decoded whole.
    """
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
        cache = _cache_by_lines(text, data if data.isascii() else None)
        if cache is None:
            cache = json.loads(text)
    except (OSError, ValueError):
        return None
    if not isinstance(cache, dict):
        return None
    if not isinstance(cache, _CacheJson):
        cache = _CacheJson(cache)
    cache.text = text
    return cache


_TOPICS_START = '"topics":{\n'
_DECODE = json.JSONDecoder().raw_decode


def _cache_by_lines(text: str, data: bytes | None) -> _CacheJson | None:
    """The cache's JSON read as cache_bytes writes it (``data``: its bytes, when ASCII): the head and tail decoded,
    then each topic record's line in place, up to its prompts, which stay text; None when the text is laid out
    otherwise (it is then decoded whole). Nothing of the text is copied: at 10,000 entries it is 2 MB."""
    start = text.find(_TOPICS_START)
    if start < 0:
        return None
    try:
        head = json.loads(text[:start] + '"topics":{}}')
        if type(head) is not dict:
            return None
        topics: dict[str, list] = {}
        texts: dict[str, CacheSpan] = {}
        at = start + len(_TOPICS_START)
        # A line at a time (each found by its line break: a JSON text holds no other), up to the "}" that ends them.
        at += text[at] == "\n"  # no topic: an empty line, then the "}"
        while text[at] != "}":
            stop = text.find("\n", at)
            # The line's record ends before the comma that follows all but the last.
            last = stop - 1 if text[stop - 1] == "," else stop
            if stop < 0 or text[last - 1] != "]":
                return None
            slug, place = _DECODE(text, at)
            if type(slug) is not str or text[place : place + 2] != ":[":
                return None
            place += 2
            values: list = []
            # The fingerprint, title, ids, media, GUIDs and old ids; what follows them is the prompts' text.
            while len(values) < 6:
                value, place = _DECODE(text, place)
                values.append(value)
                if text[place] != ",":
                    break
                place += 1
            else:
                values.append(CacheSpan(text, data, place, last - 1))
            if len(values) < 7 and place != last - 1:
                return None
            topics[slug] = values
            texts[slug] = CacheSpan(text, data, at, last)
            at = stop + 1
        if text[at - 1 : at + 2] != "\n},":
            return None
        tail = json.loads("{" + text[at + 2 :])
        if type(tail) is not dict:
            return None
    except (ValueError, IndexError):
        return None
    cache = _CacheJson({**head, "topics": topics, **tail})
    cache.texts = texts
    return cache


def _apply_cache(
    manifest: Manifest, data: dict | None, legacy: bool = False, as_read: bool = False, layouts_only: bool = False
) -> None:
    """A build cache's JSON into ``manifest``: its records when made with the same lock, and the note types.

    ``as_read`` leaves each topic's ids, media, old ids and prompts as JSON lists, for a reader that only
    compares fingerprints and counts notes (a third of the time at 10,000 entries).
    """
    if data is None:
        return
    layouts = data.get("note_types")
    if type(layouts) is list and len(layouts) == 2 and type(layouts[0]) is str and type(layouts[1]) is dict:
        manifest.layouts = (layouts[0], layouts[1])
    if layouts_only:
        return
    try:
        if not legacy and (data.get("version") != _CACHE_VERSION or data.get("lock") != manifest.lock_digest):
            return
        topics = {}
        for slug, (fp, t, ids, media, g, *rest) in data.get("topics", {}).items():
            was, prompts = (rest + [[], []])[:2]
            if as_read:
                topics[slug] = TopicRecord(fp, t, ids, media, g, was, prompts)
                continue
            topics[slug] = TopicRecord(
                fp,
                t,
                [tuple(i) for i in ids],
                [tuple(m) for m in media],
                list(g),
                [tuple(w) for w in was],
                prompts if isinstance(prompts, CacheSpan) else [(*p[:7], tuple(p[7])) for p in prompts],
            )
        packages = {name: PackageRecord(*values) for name, values in data.get("packages", {}).items()}
        if not all(isinstance(t.title, str) and isinstance(t.fingerprint, str) for t in topics.values()):
            return
        # Media uses are unpacked by position: a cache holding other shapes (made by hand) is not used.
        if not all(type(m) in (list, tuple) and len(m) == 6 for t in topics.values() for m in t.media):
            return
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        return
    manifest.topics, manifest.packages = topics, packages
    texts = data.topic_texts() if isinstance(data, _CacheJson) and not as_read else {}
    if texts:
        # A record the build keeps unchanged (the same object) is written back as this text.
        manifest._topic_texts = {slug: (topics[slug], texts[slug]) for slug in topics if slug in texts}


def _take_over(path: Path, config: Config) -> Manifest | None:
    """The state of an older ``.decks-build.json`` (kept in an output folder), or None when there is none.

    It knew notes by GUID only: each note's entry id comes from its topic's record; notes of no
    recorded topic were already told as removed and are left out; kinds are unknown until built.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != _LEGACY_VERSION:
            return None
        entry_of: dict[str, str] = {}
        for record in data.get("topics", {}).values():
            ids, guids = record[2], record[4]
            for (entry, *_), guid in zip(ids, guids, strict=False):
                entry_of[guid] = entry
        manifest = Manifest(legacy=path, changed=True)
        taken: set[int] = set()
        for guid, (h, mod, nid, cards, *deck) in data["notes"].items():
            entry = entry_of.get(guid)
            row = ["note", entry, "", guid, nid, cards, mod, h, deck[0] if deck else ""]
            with contextlib.suppress(DamagedState):
                if entry and _check_note(row, 0) and nid not in taken:
                    taken.update((nid, *cards.values()))
                    manifest._raw_notes[guid] = row
        names = data.get("note_type_names", {})
        for kind, model_id in config.note_type_ids.items():
            if str(model_id) in data["note_types"]:
                h, mod = data["note_types"][str(model_id)]
                now = note_type_identity(KINDS[kind], model_id)
                recorded = names.get(str(model_id), {})
                fields = tuple(recorded.get("fields", now.fields))
                templates = tuple(recorded.get("templates", now.templates))
                manifest.note_types[kind] = NoteTypeRecord(model_id, fields, templates, h, mod)
        if manifest._raw_notes:
            # Its GUIDs tell whether the notes were built under this project name.
            same = any(note_guid(config.project, row[1]) == guid for guid, row in manifest._raw_notes.items())
            manifest.project = config.project if same else ""
        manifest.known_guids()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest
