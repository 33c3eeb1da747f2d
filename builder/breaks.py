"""Identity breaks: changes that would make Anki duplicate notes or strand them, found before anything is written.

Anki matches notes by GUID and note types by id, then by field and template names. Compared with the
build state (decks.lock), a project can change in ways that look harmless in YAML but cost review
history in Anki: an entry's id renamed, the project renamed, a note type's identity changed, an entry's
kind changed under the same id. The build refuses each (so does `decks check`), naming the old and new
value, what Anki would do, and the ways forward. `--new-identity` lets a deliberate fresh start through
where one is possible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import yaml

from builder.config import CONFIG_NAME, Config
from builder.errors import Location, Problem
from builder.identity import note_type_id, note_type_identity
from builder.kinds import KINDS
from builder.manifest import LOCK_NAME, Manifest, NoteStamp
from builder.yamlfile import YamlFile

if TYPE_CHECKING:
    from builder.entries import Entry

NEW_IDENTITY = "--new-identity"


class NoteSeen(NamedTuple):
    """One entry's note as this build makes it, beside what the state recorded of its GUID.

    A tuple: one is made for every entry, and they cross from worker processes.
    """

    entry: str
    kind: str
    guid: str
    # The note's content hash, when the entry was rendered (None otherwise).
    hash: str | None
    # What the state recorded under this GUID: None when the note is new to it.
    old_entry: str | None
    old_kind: str | None
    path: str
    line: int
    col: int

    @classmethod
    def of(cls, entry: Entry, guid: str, content: str | None, old: NoteStamp | None) -> NoteSeen:
        """The note an entry makes, beside the stamp the state recorded under its GUID (None when new)."""
        # A changed kind is reported at the entry's kind; anything else at its id.
        changed_kind = old is not None and bool(old.kind) and old.kind != entry.kind
        loc = entry.key_loc("kind" if changed_kind else "id")
        return cls(
            entry.id,
            entry.kind,
            guid,
            content,
            old.entry if old is not None else None,
            old.kind if old is not None else None,
            loc.path,
            loc.line,
            loc.col,
        )


def project_breaks(config: Config, manifest: Manifest, *, new_identity: bool = False) -> list[Problem]:
    """The project renamed since the notes in the state were built."""
    if manifest.project is None or manifest.project == config.project or new_identity:
        return []
    place = config_places(config).get("project")
    old = f"'{manifest.project}'" if manifest.project else "another name"
    return [
        _problem(
            place,
            f"'project' is '{config.project}', but the notes in {LOCK_NAME} were built under {old}: "
            "every note's identity in Anki comes from it, so Anki would add every note again beside "
            "the old ones and leave their review history behind. Put back the old project name, or build "
            f"with {NEW_IDENTITY} to start every note afresh",
            "project-changed",
        )
    ]


def note_type_breaks(config: Config, manifest: Manifest) -> list[Problem]:
    """A kind's note type whose identity in Anki changed in a way Anki cannot follow."""
    places = config_places(config)
    out = []
    for name, kind in KINDS.items():
        old = manifest.note_types.get(name)
        now = note_type_identity(kind, note_type_id(config.note_type_ids[name]))
        if old is None:
            continue
        place = places.get(f"note_types.{name}")
        same_names = (old.fields, old.templates) == now.names
        if old.id == now.id and not same_names:
            changes = []
            if old.fields != now.fields:
                changes.append(f"fields {_names(old.fields)} -> {_names(now.fields)}")
            if old.templates != now.templates:
                changes.append(f"templates {_names(old.templates)} -> {_names(now.templates)}")
            message = (
                f"note type {now.id} ({name}) changed since the last build: {'; '.join(changes)}; "
                "Anki would import a copy of it instead of updating it, and leave the notes conflicting. "
                "Give the new shape a new id in note_types (a new note type), or put back the old names"
            )
            out.append(_problem(place, message, "note-type-changed"))
        elif old.id != now.id and same_names:
            # deck.yaml names the id it gives; Anki's is derived from it (identity.note_type_id).
            given = config.note_type_ids[name]
            before = next((c for c in config.note_type_ids.values() if old.id in (c, note_type_id(c))), None)
            message = (
                f"note_types.{name} is {given}, but the {name} notes were built with note type {old.id} "
                "of the same fields and templates: Anki would add a second note type and leave every "
                f"{name} note conflicting, never updated. "
                + (f"Put back {before}" if before is not None else "Put back the id they were built with")
            )
            out.append(_problem(place, message, "note-type-changed"))
    return out


def note_breaks(
    manifest: Manifest,
    seen: Iterable[NoteSeen],
    current: set[str],
    *,
    new_identity: bool = False,
) -> tuple[list[Problem], dict[str, str]]:
    """Entries whose kind changed under their id, and ids renamed (an entry gone, a new id with its content).

    ``current`` holds the GUID of every entry in the project. Returns the breaks, and, with
    ``new_identity``, the renames let through (GUID of the old note -> the new entry id).
    """
    seen = list(seen)
    out: list[Problem] = []
    gone: dict[str, tuple[str, str]] = {}
    candidates = [s for s in seen if s.old_entry is None and s.hash is not None]
    if candidates:
        for guid in manifest.guids() - current:
            stamp = manifest.stamp_of(guid)
            if stamp is not None:
                gone.setdefault(stamp.hash, (guid, stamp.entry))
    renamed: dict[str, str] = {}
    for s in seen:
        if s.old_kind and s.old_kind != s.kind:
            out.append(
                Problem(
                    s.path,
                    s.line,
                    s.col,
                    f"entry '{s.entry}' is now a {s.kind} entry, but its note was built as a "
                    f"{s.old_kind}: Anki would mark the note conflicting on import and never show the "
                    f"change. Keep 'kind: {s.old_kind}', or give the entry a new id (a new note; the "
                    "old one stays in Anki with its review history)",
                    "kind-changed",
                )
            )
        if s.old_entry is None and s.hash is not None and s.hash in gone:
            old_guid, old_entry = gone.pop(s.hash)
            if new_identity:
                renamed[old_guid] = s.entry
                continue
            old = f"'{old_entry}'" if old_entry else "another id"
            keep = f"'was: {old_entry}'" if old_entry else "'was:' with the old id"
            out.append(
                Problem(
                    s.path,
                    s.line,
                    s.col,
                    f"id '{s.entry}' is new, and its content is that of {old}, which is gone: Anki "
                    f"would add '{s.entry}' as a new note and leave the review history with the old "
                    f"one. Add {keep} to the entry to keep its note, put back the old id, or build "
                    f"with {NEW_IDENTITY} to start the note afresh",
                    "id-changed",
                )
            )
    return out, renamed


def config_places(config: Config) -> dict[str, Location]:
    """Where deck.yaml gives the project name and each note-type id, for messages about them."""
    doc = YamlFile(config.root / CONFIG_NAME, CONFIG_NAME).read()
    out: dict[str, Location] = {}
    if isinstance(doc.root, yaml.MappingNode):
        for key, value in doc.root.value:
            if key.value == "project":
                out["project"] = doc.loc(value)
            if key.value == "note_types" and isinstance(value, yaml.MappingNode):
                out.update(
                    {f"note_types.{k.value}": doc.loc(v) for k, v in value.value if isinstance(k, yaml.ScalarNode)}
                )
    return out


def _problem(place: Location | None, message: str, rule: str) -> Problem:
    if place is None:
        return Problem(CONFIG_NAME, None, None, message, rule)
    return Problem.at(place, message, rule)


def _names(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(names) + "]"
