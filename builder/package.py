"""Package rendered entries as Anki decks: genanki note types and notes, written as .apkg files.

Identity rules: a note's GUID comes from the project and the entry id only, so editing
its text updates the note in Anki instead of adding a duplicate; note-type ids come from
the config; decks are named ``Root::Topic title`` (Anki matches decks by name).
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_str
from pathlib import Path

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA
from markupsafe import escape

from builder.config import Config
from builder.kinds import KINDS, Kind
from builder.manifest import IdLane, Manifest
from builder.model import Topic

_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"
# Every two-digit base-91 string, by value: GUIDs are made for every note of a build.
_BASE91_PAIRS = [high + low for high in _BASE91 for low in _BASE91]
_PAIR_BASE = len(_BASE91) ** 2
# genanki's schema, its indexes made after the rows are in: building an index at once is cheaper
# than keeping it up to date row by row.
_TABLES, _, _rest = APKG_SCHEMA.partition("CREATE INDEX")
_INDEXES = "CREATE INDEX" + _rest
# Zip entries carry a timestamp; a fixed one keeps identical builds byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def note_guid(project: str, entry_id: str) -> str:
    """A note's GUID: a hash of an unambiguous encoding of (project, entry id)."""
    # The bytes of json.dumps(["decks-note/v1", project, entry_id], ensure_ascii=False), built without
    # the encoder's per-call overhead.
    encoded = f'["decks-note/v1", {_json_str(project)}, {_json_str(entry_id)}]'
    return _base91(int.from_bytes(hashlib.sha256(encoded.encode("utf-8")).digest()[:8], "big"))


def _base91(number: int) -> str:
    # Most significant digit first, no leading zeros; two digits at a time, since every note needs one.
    chars = ""
    while number >= _PAIR_BASE:
        number, pair = divmod(number, _PAIR_BASE)
        chars = _BASE91_PAIRS[pair] + chars
    if number >= len(_BASE91):
        return _BASE91_PAIRS[number] + chars
    return _BASE91[number] + chars if number or not chars else chars


def deck_id(name: str) -> int:
    """A stable deck id from the deck's name (Anki matches decks by name; the id only has to be valid)."""
    digest = hashlib.sha256(("decks-deck/v1\0" + name).encode("utf-8")).digest()
    # Keep clear of Anki's Default deck (1) and inside JavaScript's exact integer range.
    return (int.from_bytes(digest[:8], "big") % (2**52)) + 2**40


def deck_name(config: Config, title: str) -> str:
    """The Anki deck the cards of the topic with this title go to."""
    return f"{config.root_deck}::{title}"


def note_type(kind: Kind, config: Config, css: str) -> genanki.Model:
    """The genanki note type of an entry kind, with the project's id and stylesheet."""
    return genanki.Model(
        model_id=config.note_type_ids[kind.name],
        name=f"{kind.title} ({config.project})",
        fields=[{"name": name} for name in kind.note_fields],
        templates=[{"name": c.name, "qfmt": c.qfmt, "afmt": c.afmt} for c in kind.cards],
        css=css,
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
    """One topic's deck and notes, each note as (kind, guid, fields, sort field, tags, hash, card ords)."""

    deck_id: int
    deck: dict
    notes: list[tuple]


class Packager:
    """Turns rendered topics into package plans, stamping notes through the manifest."""

    def __init__(self, config: Config, css: str, manifest: Manifest, now: int):
        self.config = config
        self.manifest = manifest
        self.now = now
        self.models = {name: note_type(kind, config, css) for name, kind in KINDS.items()}
        self._model_mods = {
            name: manifest.stamp_note_type(model.model_id, _hash(model.to_json(0, 0)), now)
            for name, model in self.models.items()
        }
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
        name = deck_name(self.config, topic.title)
        did = deck_id(name)
        models = self.models
        versions = media_versions
        notes = []
        for entry, guid in zip(topic.entries, guids, strict=True):
            model = models[entry.kind]
            values = fields[entry.id]
            flds = "\x1f".join(values)
            tags = " " + " ".join(entry.tags) + " " if entry.tags else ""
            content = note_hash(model.model_id, name, flds, tags, versions.get(entry.id))
            notes.append(
                (
                    entry.kind,
                    guid,
                    flds,
                    values[0],
                    tags,
                    content,
                    self._card_ords(model, values),
                )
            )
        return TopicDraft(did, genanki.Deck(did, name, _deck_description(topic)).to_json(), notes)

    def add_draft(self, plan: PackagePlan, draft: TopicDraft, lane: IdLane) -> None:
        """Add a drafted topic to a package plan, stamping its notes through the manifest (new ids from ``lane``)."""
        plan.decks.append(draft.deck)
        did, now, stamp_note = draft.deck_id, self.now, self.manifest.stamp_note
        for position, (kind, guid, flds, sort_field, tags, content, ords) in enumerate(draft.notes):
            model_id = self.models[kind].model_id
            if model_id not in plan.models:
                plan.models[model_id] = self.models[kind].to_json(self._model_mods[kind], did)
            stamp = stamp_note(guid, content, ords, now, lane)
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


def note_hash(model_id: int, deck: str, flds: str, tags: str, media_version: str | None = None) -> str:
    """What a note's manifest stamp records of its content: note type, deck, fields, tags, and media."""
    # The bytes of json.dumps of that list, as _hash makes them, built without the encoder's
    # per-call overhead: this runs for every note.
    media = f", {_json_str(media_version)}" if media_version else ""
    encoded = f"[{model_id}, {_json_str(deck)}, {_json_str(flds)}, {_json_str(tags)}{media}]"
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def _deck_description(topic: Topic) -> str:
    return str(escape(topic.description)) if topic.description else ""


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]
