"""Reading the packages a build wrote, and writing the trimmed copies a push imports.

A push imports only the notes it decided to add or update, each with the tags it must end up with
(the project's own plus those added in Anki) and a ``mod`` that makes Anki take it; everything else
in the copy is the build's package as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_FIELD_SEP = "\x1f"


class NoteType:
    """A note type as a package defines it."""

    # This module's records are plain classes rather than dataclasses, which would cost a push the making of
    # their methods at import.
    __slots__ = ("id", "name", "fields", "templates")

    def __init__(
        self, id: int, name: str, fields: tuple[str, ...], templates: tuple[tuple[str, str, str], ...]
    ) -> None:
        self.id = id
        self.name = name
        self.fields = fields
        # (name, question format, answer format) of each card template, in order.
        self.templates = templates

    @property
    def template_names(self) -> tuple[str, ...]:
        return tuple(t[0] for t in self.templates)


class BuiltNote:
    """A note as a package holds it (not changed once read)."""

    # Not frozen: a push makes one for each note of a package it does not read.
    __slots__ = ("guid", "note_type", "fields", "tags", "deck", "mod", "package", "id", "entry")

    def __init__(
        self,
        guid: str,
        note_type: int,
        fields: dict[str, str],
        tags: tuple[str, ...],
        deck: str,
        mod: int,
        package: Path,
        id: int = 0,
        entry: str = "",
    ) -> None:
        self.guid = guid
        self.note_type = note_type
        self.fields = fields
        self.tags = tags
        self.deck = deck
        self.mod = mod
        self.package = package
        # The note's id in the package, which Anki keeps on import unless the collection already uses it.
        self.id = id
        # The entry it is built from (from the build state; "" when unknown).
        self.entry = entry


class BuiltPackages:
    """Every note and note type of a build's packages."""

    def __init__(self, notes: dict[str, BuiltNote], note_types: dict[int, NoteType]) -> None:
        self.notes = notes
        self.note_types = note_types


def read_packages(paths: Iterable[Path], entry_of: Callable[[str, dict[str, str]], str] | None = None) -> BuiltPackages:
    """The notes (by GUID) and note types (by id) of these packages; ``entry_of(guid, fields)`` names each
    note's entry."""
    # Imported here: a push that finds nothing to do reads no package, and starts faster without them.
    import sqlite3
    import tempfile
    import zipfile

    notes: dict[str, BuiltNote] = {}
    note_types: dict[int, NoteType] = {}
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="decks-read-") as tmp:
            db_path = Path(tmp) / "collection.anki2"
            with zipfile.ZipFile(path) as archive:
                db_path.write_bytes(archive.read("collection.anki2"))
            db = sqlite3.connect(db_path)
            try:
                models_json, decks_json = db.execute("select models, decks from col").fetchone()
                models = json.loads(models_json)
                decks = {int(d["id"]): d["name"] for d in json.loads(decks_json).values()}
                types = {}
                for model in models.values():
                    fields = tuple(f["name"] for f in sorted(model["flds"], key=lambda f: f["ord"]))
                    templates = tuple(
                        (t["name"], t["qfmt"], t["afmt"]) for t in sorted(model["tmpls"], key=lambda t: t["ord"])
                    )
                    types[int(model["id"])] = NoteType(int(model["id"]), model["name"], fields, templates)
                note_types.update(types)
                note_decks = dict(db.execute("select nid, min(did) from cards group by nid"))
                for nid, guid, mid, mod, tags, flds in db.execute("select id, guid, mid, mod, tags, flds from notes"):
                    names = types[int(mid)].fields
                    fields = dict(zip(names, flds.split(_FIELD_SEP), strict=False))
                    notes[guid] = BuiltNote(
                        guid=guid,
                        note_type=int(mid),
                        fields=fields,
                        tags=tuple(tags.split()),
                        deck=decks.get(note_decks.get(nid), ""),
                        mod=int(mod),
                        package=path,
                        id=int(nid),
                        entry=entry_of(guid, fields) if entry_of is not None else "",
                    )
            finally:
                db.close()
    return BuiltPackages(notes, note_types)


def write_trimmed(
    packages: Iterable[Path],
    target: Path,
    keep: Mapping[str, tuple[str, ...]],
    mod: int,
    note_types: Iterable[int] = (),
) -> int:
    """One package holding only the notes in ``keep`` (GUID -> the tags to give them), from these packages.

    Anki imports one package much faster than many (each import has a fixed cost), so the kept notes
    of every package go into one, with the note types, decks and media files of them all. Kept notes,
    and the note types in ``note_types``, get ``mod`` so that Anki updates them. Returns how many
    notes the package holds.
    """
    import shutil
    import sqlite3
    import tempfile
    import zipfile

    bump = set(note_types)
    models: dict = {}
    decks: dict = {}
    media: list[bytes] = []
    media_names: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="decks-push-") as tmp:
        db_path = Path(tmp) / "collection.anki2"
        db: sqlite3.Connection | None = None
        try:
            for index, package in enumerate(packages):
                with zipfile.ZipFile(package) as archive:
                    members = {name: archive.read(name) for name in archive.namelist()}
                names = json.loads(members.get("media") or b"{}")
                for number, name in sorted(names.items(), key=lambda item: int(item[0])):
                    if name not in media_names.values():
                        media_names[str(len(media))] = name
                        media.append(members[number])
                part = Path(tmp) / f"part-{index}.anki2"
                part.write_bytes(members["collection.anki2"])
                if db is None:
                    # The first package's database, emptied, holds the others' kept notes.
                    shutil.copyfile(part, db_path)
                    db = sqlite3.connect(db_path)
                    # A scratch file, zipped once written: nothing to wait on the disk for at each commit.
                    db.execute("pragma synchronous = off")
                    db.execute("pragma journal_mode = memory")
                    db.execute("delete from cards")
                    db.execute("delete from notes")
                    db.execute("create temp table keep (guid text primary key)")
                    db.executemany("insert into temp.keep values (?)", [(guid,) for guid in keep])
                    db.commit()
                db.execute("attach database ? as src", (str(part),))
                models_json, decks_json = db.execute("select models, decks from src.col").fetchone()
                models.update(json.loads(models_json))
                decks.update(json.loads(decks_json))
                db.execute("insert into main.notes select * from src.notes where guid in (select guid from temp.keep)")
                db.execute(
                    "insert into main.cards select * from src.cards where nid in "
                    "(select id from src.notes where guid in (select guid from temp.keep))"
                )
                db.commit()
                db.execute("detach database src")
            if db is None:
                return 0
            db.executemany(
                "update notes set tags = ?, mod = ? where guid = ?", [(_tags(tags), mod, g) for g, tags in keep.items()]
            )
            for model in models.values():
                if int(model["id"]) in bump:
                    model["mod"] = mod
            db.execute("update col set models = ?, decks = ?", (json.dumps(models), json.dumps(decks)))
            db.commit()
            (count,) = db.execute("select count() from notes").fetchone()
        finally:
            if db is not None:
                db.close()
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(db_path, "collection.anki2")
            for number, data in enumerate(media):
                archive.writestr(str(number), data)
            archive.writestr("media", json.dumps(media_names))
    return count


def _tags(tags: tuple[str, ...]) -> str:
    return " " + " ".join(tags) + " " if tags else ""
