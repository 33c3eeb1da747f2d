"""What the last push put into each Anki profile: ``decks.anki.lock`` at the project root.

Beside ``decks.lock`` (what the build made), this file records, per Anki profile pushed to, each
note as it was when the last push left it: its note id, deck, a hash of the fields and tags the
build gave it, a hash of each field as Anki then held it, and the tags that are the project's own.
``decks status`` and ``decks pull`` compare against it to tell edits in the YAML from edits in Anki,
and a push removes only the tags it wrote. Only ``decks push`` writes it (through ``save``); other
commands read it. A file that does not match its schema is treated as absent, with a note saying so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import write_atomic

STATE_NAME = "decks.anki.lock"
_VERSION = 1
_HEAD = (
    "# decks.anki.lock: what `decks push` last put into each Anki profile. Written by `decks push`.\n"
    '# Lines: ["note", profile, GUID, entry id, note id, deck, built hash, {field: hash}, [project tags]].\n'
)


def text_hash(text: str) -> str:
    """A short hash of one field's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def built_hash(fields: Mapping[str, str], tags: tuple[str, ...] | list[str]) -> str:
    """A hash of what the build gave a note: its fields and its tags."""
    encoded = json.dumps([sorted(fields.items()), sorted(tags)], ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]


@dataclass
class PushedNote:
    """One note as the last push left it in one profile."""

    guid: str
    entry: str
    note_id: int
    deck: str
    built: str
    fields: dict[str, str]
    tags: list[str]


@dataclass
class PushState:
    """Every profile's pushed notes, by profile then GUID."""

    project: str
    profiles: dict[str, dict[str, PushedNote]] = field(default_factory=dict)
    # The latest note ``mod`` each profile was given by a push: the next push stamps later than it.
    mods: dict[str, int] = field(default_factory=dict)
    # Why the file on disk was not usable, when it was there but damaged.
    damaged: str | None = None

    def notes(self, profile: str) -> dict[str, PushedNote]:
        """The pushed notes of one profile (empty when never pushed to)."""
        return self.profiles.get(profile, {})


def load_state(root: Path, project: str) -> PushState:
    """The push state of the project at ``root`` (empty when there is none)."""
    path = root / STATE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PushState(project)
    except (OSError, UnicodeDecodeError) as e:
        return PushState(project, damaged=f"{STATE_NAME} could not be read ({e}); treated as absent")
    try:
        return _parse(text, project)
    except (ValueError, TypeError, KeyError) as e:
        return PushState(project, damaged=f"{STATE_NAME} is damaged ({e}); treated as absent")


def _parse(text: str, project: str) -> PushState:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError("no header line")
    head = json.loads(lines[0])
    if not isinstance(head, dict) or head.get("decks-anki") != _VERSION or not isinstance(head.get("project"), str):
        raise ValueError("unknown header")
    state = PushState(project)
    if head["project"] != project:
        # Another project's notes are not this one's: start afresh rather than touch them.
        return PushState(project, damaged=f"{STATE_NAME} belongs to project '{head['project']}'; treated as absent")
    for number, line in enumerate(lines[1:], start=2):
        row = json.loads(line)
        if isinstance(row, list) and len(row) == 3 and row[0] == "profile":
            if not (isinstance(row[1], str) and isinstance(row[2], int) and not isinstance(row[2], bool)):
                raise ValueError(f"line {number} has a value of the wrong type")
            state.mods[row[1]] = row[2]
            state.profiles.setdefault(row[1], {})
            continue
        if not (isinstance(row, list) and len(row) == 9 and row[0] == "note"):
            raise ValueError(f"line {number} is not a note line")
        _, profile, guid, entry, note_id, deck, built, fields, tags = row
        if not (
            isinstance(profile, str)
            and isinstance(guid, str)
            and isinstance(entry, str)
            and isinstance(note_id, int)
            and not isinstance(note_id, bool)
            and isinstance(deck, str)
            and isinstance(built, str)
            and isinstance(fields, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
            and isinstance(tags, list)
            and all(isinstance(t, str) for t in tags)
        ):
            raise ValueError(f"line {number} has a value of the wrong type")
        state.profiles.setdefault(profile, {})[guid] = PushedNote(guid, entry, note_id, deck, built, fields, tags)
    return state


def save_state(root: Path, state: PushState) -> bool:
    """Write the push state (atomically); False when the file already held these bytes and was left untouched."""
    out = [_HEAD, json.dumps({"decks-anki": _VERSION, "project": state.project}, ensure_ascii=False) + "\n"]
    for profile in sorted(state.profiles):
        notes = state.profiles[profile]
        out.append(json.dumps(["profile", profile, state.mods.get(profile, 0)], ensure_ascii=False) + "\n")
        for guid in sorted(notes, key=lambda g: (notes[g].entry, g)):
            n = notes[guid]
            row = ["note", profile, guid, n.entry, n.note_id, n.deck, n.built, dict(sorted(n.fields.items())), n.tags]
            out.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return write_atomic(root / STATE_NAME, "".join(out).encode("utf-8"))
