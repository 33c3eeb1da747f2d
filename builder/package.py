"""Package rendered entries as Anki decks: genanki note types and notes, written as .apkg files.

Identities (note GUIDs, deck names and ids, note-type ids, content hashes) come from identity.py; note and
card ids and modification times from the build state (manifest.py). The note types' card templates and CSS
come from render.py, the notes' fields from notefields.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA
from markupsafe import escape

from builder.config import Config
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
from builder.kinds import KINDS, Kind, note_type_name
from builder.manifest import IdLane, Manifest
from builder.notefields import sort_text

if TYPE_CHECKING:
    from builder.render import Layout

# genanki's schema, its indexes made after the rows are in: building an index at once is cheaper
# than keeping it up to date row by row.
_TABLES, _, _rest = APKG_SCHEMA.partition("CREATE INDEX")
_INDEXES = "CREATE INDEX" + _rest
# Zip entries carry a timestamp; a fixed one keeps identical builds byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def note_type(kind: Kind, config: Config, layout: Layout) -> genanki.Model:
    """The genanki note type of an entry kind: the project's id, the layout's card templates and CSS."""
    return genanki.Model(
        model_id=note_type_id(config.note_type_ids[kind.name]),
        name=note_type_name(kind, config.project),
        fields=[{"name": name} for name in kind.field_names],
        templates=[{"name": c.name, "qfmt": c.qfmt, "afmt": c.afmt} for c in layout.cards],
        css=layout.css,
        model_type=genanki.Model.CLOZE if kind.cloze else genanki.Model.FRONT_BACK,
    )


@dataclass
class PackagePlan:
    """Everything one .apkg file holds, as rows ready for SQLite."""

    path: Path
    decks: list[dict] = field(default_factory=list)
    models: dict[int, dict] = field(default_factory=dict)
    notes: list[tuple] = field(default_factory=list)
    cards: list[tuple] = field(default_factory=list)
    # (name in Anki's media folder, file to read), sorted by name.
    media: list[tuple[str, Path]] = field(default_factory=list)


@dataclass
class TopicDraft:
    """One topic's deck and notes, each note as (kind, guid, fields, sort field, tags, hash, card ords, entry id)."""

    deck_id: int
    deck: dict
    notes: list[tuple]


class Packager:
    """Turns rendered topics into package plans, stamping notes through the manifest."""

    def __init__(self, config: Config, layouts: Mapping[str, Layout], manifest: Manifest, now: int):
        self.config = config
        self.manifest = manifest
        self.now = now
        self.models = {name: note_type(kind, config, layouts[name]) for name, kind in KINDS.items()}
        # Each kind's note-type record as this build makes it, for the build to keep.
        self.note_types = {
            name: manifest.stamp_note_type(
                name, note_type_identity(KINDS[name], model.model_id), content_hash(model.to_json(0, 0)), now
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
            content = note_hash(model.model_id, name, content_fields(flds), tags, versions.get(entry.id))
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
        return TopicDraft(did, genanki.Deck(did, name, _deck_description(topic)).to_json(), notes)

    def add_draft(self, plan: PackagePlan, draft: TopicDraft, lane: IdLane) -> None:
        """Add a drafted topic to a package plan, stamping its notes through the manifest (new ids from ``lane``)."""
        plan.decks.append(draft.deck)
        did, now, stamp_note = draft.deck_id, self.now, self.manifest.stamp_note
        for position, (kind, guid, flds, sort_field, tags, content, ords, entry_id) in enumerate(draft.notes):
            model_id = self.models[kind].model_id
            if model_id not in plan.models:
                plan.models[model_id] = self.models[kind].to_json(self._model_mods[kind], did)
            stamp = stamp_note(guid, content, ords, now, lane, entry_id, kind)
            plan.notes.append((stamp.id, guid, model_id, stamp.mod, -1, tags, flds, sort_field, 0, 0, ""))
            for ord_ in ords:
                # New cards are due in the order the entries are written.
                plan.cards.append(
                    (stamp.cards[ord_], stamp.id, did, ord_, stamp.mod, -1, 0, 0, position, 0, 0, 0, 0, 0, 0, 0, 0, "")
                )

    def _card_ords(self, model: genanki.Model, values: tuple[str, ...]) -> list[int]:
        # genanki decides which cards a note has. For a front/back note type that depends only on
        # which fields are empty, so one genanki Note per pattern answers for every note like it.
        key = None if model.model_type == genanki.Model.CLOZE else (model.model_id, *map(bool, values))
        ords = self._ords.get(key) if key else None
        if ords is None:
            note = genanki.Note(model=model, fields=list(values))
            ords = sorted(card.ord for card in note.cards)
            if key:
                self._ords[key] = ords
        return ords


def package_bytes(plan: PackagePlan) -> bytes:
    """The bytes of an .apkg: a zip holding the SQLite collection, the media files and their map."""
    # An in-memory database: nothing is left behind in the temp folder.
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_TABLES)
        conn.executescript(APKG_COL)
        decks = json.loads(conn.execute("SELECT decks FROM col").fetchone()[0])
        decks.update({str(d["id"]): d for d in plan.decks})
        models = {str(mid): m for mid, m in plan.models.items()}
        conn.execute("UPDATE col SET decks = ?, models = ?", (json.dumps(decks), json.dumps(models)))
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", plan.notes)
        conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", plan.cards)
        conn.executescript(_INDEXES)
        conn.commit()
        collection = conn.serialize()
    finally:
        conn.close()
    buffer = io.BytesIO()
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
    return buffer.getvalue()


def _deck_description(topic: Topic) -> str:
    return str(escape(topic.description)) if topic.description else ""
