"""Package rendered entries as Anki decks: note types and notes in genanki's form, written as .apkg files.

Identities (note GUIDs, deck names and ids, note-type ids, content hashes) come from identity.py; note and
card ids and modification times from the build state (manifest.py). The note types' card templates and CSS
come from render.py, the notes' fields from notefields.py.

Each note type's JSON (in the form genanki writes, made by notetypes.py) and its rule for which cards a note
makes are made once, when the note types are made from the templates; the build cache keeps both
(``NoteType.cached``), so a rebuild under the same templates imports no Jinja2: the notes, cards, decks and the
collection's SQL (genanki's, read as text) are written here, and genanki itself (which loads asyncio) is never
imported by a build.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import sqlite3
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import escape

from builder.config import Config
from builder.ctrlc import ctrl_c_held
from builder.entries import Topic
from builder.identity import (
    content_fields,
    content_hash,
    deck_id,
    deck_name,
    note_hash,
    note_tags,
    note_type_id,
    note_type_identity,
)
from builder.kinds import KINDS, note_type_name
from builder.manifest import IdLane, Manifest
from builder.notefields import sort_text

if TYPE_CHECKING:
    from builder.render import Layout

# Zip entries carry a timestamp; a fixed one keeps identical builds byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# A cloze deletion as it makes a card: {{c<number>::<at least one character>...}}.
_CLOZE_CARD = re.compile(r"{{c(\d+)::.+?}}", re.DOTALL)


class NoteType:
    """A kind's note type as packages hold it, and which cards a note of it makes.

    ``json`` is its definition in the collection with ``mod`` and deck 0 (``req`` in it names the fields each
    card of a front/back note type needs); ``cloze_fields`` are the fields whose deletions make the cards of
    a cloze note type.
    """

    # This module's classes are plain classes rather than dataclasses, which would cost every build the making
    # of their methods at import.
    def __init__(self, id: int, cloze: bool, json: dict, cloze_fields: tuple[int, ...] = ()) -> None:
        self.id = id
        self.cloze = cloze
        self.json = json
        self.cloze_fields = cloze_fields

    def to_json(self, mod: int, deck_id: int) -> dict:
        """Its definition as a package of this deck holds it, with this ``mod``."""
        return {**self.json, "mod": mod, "did": deck_id}

    def json_text(self, mod: int, deck_id: int) -> str:
        """``json.dumps(self.to_json(mod, deck_id))``: the definition is encoded once, not for every package."""
        pieces = self._json_pieces
        if pieces is None:
            return json.dumps(self.to_json(mod, deck_id))
        head, first, middle, second, tail = pieces
        values = {"mod": int(mod), "did": int(deck_id)}
        return f"{head}{values[first]}{middle}{values[second]}{tail}"

    @functools.cached_property
    def _json_pieces(self) -> tuple[str, str, str, str, str] | None:
        """The definition's JSON cut where ``mod`` and ``did`` go (the two keys in the order they come)."""
        marks = {"mod": json.dumps("\0mod\0"), "did": json.dumps("\0did\0")}
        text = json.dumps({**self.json, **{key: json.loads(mark) for key, mark in marks.items()}})
        if any(text.count(mark) != 1 for mark in marks.values()):
            return None  # a definition holding those very strings: encoded whole each time
        first, second = sorted(marks, key=lambda key: text.index(marks[key]))
        head, rest = text.split(marks[first])
        middle, tail = rest.split(marks[second])
        return head, first, middle, second, tail

    def card_ords(self, values: Sequence[str]) -> list[int]:
        """The ordinals of the cards a note with these field values makes."""
        if self.cloze:
            ords = set()
            for index in self.cloze_fields:
                ords.update(int(n) - 1 for n in _CLOZE_CARD.findall(values[index]) if int(n) > 0)
            return sorted(ords)
        return sorted(
            ord_ for ord_, how, needs in self.json["req"] if (all if how == "all" else any)(values[i] for i in needs)
        )

    def cached(self) -> list:
        """What the build cache keeps of it (see from_cache)."""
        return [self.id, self.cloze, self.json, list(self.cloze_fields)]

    @classmethod
    def from_cache(cls, value: list) -> NoteType:
        """A note type as ``cached`` gave it."""
        model_id, cloze, definition, fields = value
        if type(model_id) is not int or type(cloze) is not bool or type(definition) is not dict:
            raise TypeError("not a cached note type")
        if not isinstance(definition.get("req"), list) or not all(type(i) is int for i in fields):
            raise TypeError("not a cached note type")
        return cls(model_id, cloze, definition, tuple(fields))


def note_types_from_cache(cached: Mapping[str, list]) -> dict[str, NoteType] | None:
    """Every kind's note type as the build cache keeps them; None unless it holds each kind, well formed."""
    if set(cached) != set(KINDS):
        return None
    try:
        return {kind: NoteType.from_cache(cached[kind]) for kind in KINDS}
    except (TypeError, ValueError):
        return None


def make_note_types(config: Config, layouts: Mapping[str, Layout]) -> dict[str, NoteType]:
    """Every kind's note type, made from the layouts render.py made, in the form genanki writes."""
    from builder.notetypes import layout_parts

    return note_types_from_parts(config, layout_parts(layouts))


def note_types_from_parts(config: Config, parts: Mapping[str, list]) -> dict[str, NoteType]:
    """Every kind's note type, from what notetypes.layout_parts took of its layout and the id and name the config
    gives it; a ValueError, TypeError or LookupError when ``parts`` are not as it gives them."""
    from builder.notetypes import definition

    if set(parts) != set(KINDS):
        raise ValueError("not every kind's note type")
    out = {}
    for key, kind in KINDS.items():
        cards, css, req, fields = parts[key]
        model_id = note_type_id(config.note_type_ids[kind.name])
        name = note_type_name(kind, config.project)
        made = definition(model_id, name, kind.field_names, [tuple(c) for c in cards], css, kind.cloze, req)
        # Through JSON, so that this build holds what a later build reads from the cache, exactly.
        out[key] = NoteType(model_id, kind.cloze, json.loads(json.dumps(made)), tuple(fields))
    return out


@functools.cache
def _collection_sql() -> tuple[str, str, str]:
    """genanki's SQL of an empty collection: its tables, its indexes, and the row of its ``col`` table.

    Read from the two modules of genanki that hold them, as plain strings, without importing genanki
    itself (about 25 ms, asyncio included) when nothing else needs it.
    """
    import importlib.util

    texts = []
    for module, name in (("apkg_schema", "APKG_SCHEMA"), ("apkg_col", "APKG_COL")):
        loaded = sys.modules.get(f"genanki.{module}")
        if loaded is None:
            folder = Path(importlib.util.find_spec("genanki").submodule_search_locations[0])
            spec = importlib.util.spec_from_file_location(f"genanki.{module}", folder / f"{module}.py")
            loaded = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(loaded)
        texts.append(getattr(loaded, name))
    schema, col = texts
    # The indexes are made after the rows are in: building an index at once is cheaper than keeping it up
    # to date row by row.
    tables, _, indexes = schema.partition("CREATE INDEX")
    return tables, "CREATE INDEX" + indexes, col


@functools.cache
def _empty_collection() -> bytes:
    """The bytes of the collection's tables and ``col`` row, with no index: every package starts as a copy.

    Made once per process: running the schema's SQL for every package cost a quarter of a millisecond each.
    """
    tables, _, col = _collection_sql()
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(tables)
        conn.executescript(col)
        return conn.serialize()
    finally:
        conn.close()


# The connection packages are made in, by the process that opened it: a connection never crosses a fork (SQLite's
# rule), so a forked worker opens its own. Opening one for every package cost about 0.15 ms of the 0.65 ms a package
# of 50 notes takes; a database deserialized into it is the same database whichever came before.
_CONNECTION: dict[int, sqlite3.Connection] = {}


def _connection() -> sqlite3.Connection:
    """This process's connection for packages, holding an in-memory database: nothing is left in the temp folder."""
    pid = os.getpid()
    conn = _CONNECTION.get(pid)
    if conn is None:
        # One for this process alone: a copy inherited from the parent is let be, never used nor closed here.
        conn = _CONNECTION[pid] = sqlite3.connect(":memory:")
    return conn


# Where a database file's header counts its changes and names the SQLite that last wrote it (its bytes 24-27
# and 92-99): a database made in memory leaves them as they were made, one copied into memory counts on.
_CHANGE_COUNTERS = ((24, 28), (92, 100))


def _collection_bytes(plan: PackagePlan) -> bytes:
    """The SQLite file of a package's collection: the empty collection, the decks, note types, notes and cards,
    then the indexes (building an index once is cheaper than keeping it up to date row by row)."""
    _, indexes, _ = _collection_sql()
    empty = _empty_collection()
    conn = _connection()
    try:
        conn.deserialize(empty)
        decks = json.loads(conn.execute("SELECT decks FROM col").fetchone()[0])
        decks.update({str(d["id"]): d for d in plan.decks})
        # As json.dumps of {"<id>": definition, ...} writes it.
        models = "{" + ", ".join(f'"{mid}": {text}' for mid, text in plan.models.items()) + "}"
        conn.execute("UPDATE col SET decks = ?, models = ?", (json.dumps(decks), models))
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", plan.notes)
        conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", plan.cards)
        conn.executescript(indexes)
        conn.commit()
        collection = bytearray(conn.serialize())
        # Back to the empty collection: the package's database is not held until the next one.
        conn.deserialize(empty)
    except BaseException:
        # Whatever state it was left in, the next package starts from a connection of its own.
        del _CONNECTION[os.getpid()]
        conn.close()
        raise
    # The header as a database made in memory from the start has it, so that the bytes do not depend on how
    # the empty collection was come by.
    for start, end in _CHANGE_COUNTERS:
        collection[start:end] = empty[start:end]
    return bytes(collection)


def _deck_json(deck_id: int, name: str, description: str) -> dict:
    """A deck as a package's collection lists it (the values genanki writes)."""
    return {
        "collapsed": False,
        "conf": 1,
        "desc": description,
        "dyn": 0,
        "extendNew": 0,
        "extendRev": 50,
        "id": deck_id,
        "lrnToday": [163, 2],
        "mod": 1425278051,
        "name": name,
        "newToday": [163, 2],
        "revToday": [163, 0],
        "timeToday": [163, 23598],
        "usn": -1,
    }


class PackagePlan:
    """Everything one .apkg file holds, as rows ready for SQLite."""

    def __init__(self, path: Path, media: list[tuple[str, Path]] | None = None) -> None:
        self.path = path
        self.decks: list[dict] = []
        # Note-type id -> its definition as JSON text.
        self.models: dict[int, str] = {}
        self.notes: list[tuple] = []
        self.cards: list[tuple] = []
        # (name in Anki's media folder, file to read), sorted by name.
        self.media: list[tuple[str, Path]] = [] if media is None else media


class TopicDraft:
    """One topic's deck and notes, each note as (kind, guid, fields, sort field, tags, hash, card ords, entry id)."""

    __slots__ = ("deck_id", "deck", "notes")

    def __init__(self, deck_id: int, deck: dict, notes: list[tuple]) -> None:
        self.deck_id = deck_id
        self.deck = deck
        self.notes = notes


class Packager:
    """Turns rendered topics into package plans, stamping notes through the manifest."""

    def __init__(self, config: Config, note_types: Mapping[str, NoteType], manifest: Manifest, now: int):
        self.config = config
        self.manifest = manifest
        self.now = now
        self.models = dict(note_types)
        # Each kind's note-type record as this build makes it, for the build to keep.
        self.note_types = {
            name: manifest.stamp_note_type(
                name, note_type_identity(KINDS[name], model.id), content_hash(model.json), now
            )
            for name, model in self.models.items()
        }
        self._model_mods = {name: record.mod for name, record in self.note_types.items()}
        self._ords: dict[tuple, list[int]] = {}

    def draft(
        self,
        topic: Topic,
        fields: dict[str, tuple[str, ...]],
        media_versions: Mapping[str, str],
        guids: Sequence[str],
    ) -> TopicDraft:
        """A topic's deck and notes without the ids and times the manifest gives them.

        Depends on nothing but the topic, its fields and its media, so topics can be drafted in any
        order or process. ``guids`` are the entries' note GUIDs, in order.
        """
        name = deck_name(self.config.root_deck, topic.title)
        did = deck_id(name)
        models = self.models
        versions = media_versions
        notes = []
        for entry, guid in zip(topic.entries, guids, strict=True):
            model = models[entry.kind]
            values = fields[entry.id]
            flds = "\x1f".join(values)
            tags = note_tags(entry.tags)
            content = note_hash(model.id, name, content_fields(flds), tags, versions.get(entry.id))
            notes.append(
                (
                    entry.kind,
                    guid,
                    flds,
                    sort_text(values[0]),
                    tags,
                    content,
                    self._card_ords(model, values),
                    entry.id,
                )
            )
        return TopicDraft(did, _deck_json(did, name, _deck_description(topic)), notes)

    def add_draft(self, plan: PackagePlan, draft: TopicDraft, lane: IdLane) -> None:
        """Add a drafted topic to a package plan, stamping its notes through the manifest (new ids from ``lane``)."""
        plan.decks.append(draft.deck)
        did, now, stamp_note = draft.deck_id, self.now, self.manifest.stamp_note
        for position, (kind, guid, flds, sort_field, tags, content, ords, entry_id) in enumerate(draft.notes):
            model_id = self.models[kind].id
            if model_id not in plan.models:
                plan.models[model_id] = self.models[kind].json_text(self._model_mods[kind], did)
            stamp = stamp_note(guid, content, ords, now, lane, entry_id, kind)
            plan.notes.append((stamp.id, guid, model_id, stamp.mod, -1, tags, flds, sort_field, 0, 0, ""))
            for ord_ in ords:
                # New cards are due in the order the entries are written.
                plan.cards.append(
                    (stamp.cards[ord_], stamp.id, did, ord_, stamp.mod, -1, 0, 0, position, 0, 0, 0, 0, 0, 0, 0, 0, "")
                )

    def _card_ords(self, model: NoteType, values: tuple[str, ...]) -> list[int]:
        # For a front/back note type the cards depend only on which fields are empty: one answer per pattern.
        key = None if model.cloze else (model.id, *map(bool, values))
        ords = self._ords.get(key) if key else None
        if ords is None:
            ords = model.card_ords(values)
            if key:
                self._ords[key] = ords
        return ords


def package_bytes(plan: PackagePlan) -> bytes:
    """The bytes of an .apkg: a zip holding the SQLite collection, the media files and their map."""
    collection = _collection_bytes(plan)
    buffer = io.BytesIO()
    # The zip file's objects run Python code as they are freed: Ctrl-C landing there would be printed and lost,
    # so it waits until they are gone.
    with ctrl_c_held():
        with zipfile.ZipFile(buffer, "w") as archive:
            # Anki's package format: media files are stored as "0", "1", ... and the "media" map names them.
            names = {str(i): name for i, (name, _) in enumerate(plan.media)}
            files = [(str(i), path.read_bytes()) for i, (_, path) in enumerate(plan.media)]
            media_map = json.dumps(names, ensure_ascii=False).encode("utf-8")
            for name, data in (("collection.anki2", collection), *files, ("media", media_map)):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                # Level 1 deflates four times faster than the default 6, for files about 15% larger.
                archive.writestr(info, data, compresslevel=1)
        del archive
    return buffer.getvalue()


def _deck_description(topic: Topic) -> str:
    return str(escape(topic.description)) if topic.description else ""
