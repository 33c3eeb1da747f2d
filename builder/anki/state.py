"""What the last push put into each Anki profile: ``decks.anki.lock`` at the project root.

Beside ``decks.lock`` (what the build made), this file records, per Anki profile pushed to, each
note as it was when the last push left it: its note id, deck, a hash of the fields and tags the
build gave it, a hash of each field as Anki then held it, and the tags that are the project's own.
``decks status`` and ``decks pull`` compare against it to tell edits in the YAML from edits in Anki,
and a push removes only the tags it wrote. Only ``decks push`` writes it (through ``save``); other
commands read it. A file that does not match its schema is treated as absent, with a note saying so.

Each profile's line also carries the push's *check* (see ``PushCheck``): what the build was and what
the collection looked like, in a few hashes, when that push ended. A push whose build and collection
still hash alike has nothing to do, and finds it out without reading every note back from Anki or
every note line of this file (``read_head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import write_atomic

STATE_NAME = "decks.anki.lock"
_VERSION = 2
_STR = {str}
# Files written before the check existed: read alike, with no check (the next push reads everything once).
_VERSIONS = (1, 2)
_HEAD = (
    "# decks.anki.lock: what `decks push` last put into each Anki profile. Written by `decks push`.\n"
    '# Lines: ["profile", profile, latest mod, check or null], then its\n'
    '# ["note", profile, GUID, entry id, note id, deck, built hash, {field: hash}, [project tags]].\n'
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
class PushCheck:
    """What one profile's last push left, in hashes: enough to tell, cheaply, that nothing changed since."""

    # A hash of the build pushed (its packages' bytes and decks.lock's), and of each package, by file name.
    build: str
    packages: dict[str, str]
    # The note types searched, those of them Anki held ([id, name]), and a hash of what it held of the
    # project (see live.Facts).
    note_types: list[int]
    names: list[list]
    anki: str
    # The built notes by the project's own tags: [[tags...], [note ids carrying exactly those project tags]].
    tags: list[list[list]]
    # How many of the build's notes were in step, and how many records of removed entries are kept.
    notes: int
    removed: int
    # A hash of the profile's note lines as written: a line edited or lost by hand voids the check.
    lines: str = ""
    # Each package whose notes are all in one deck of their own, by file name: [that deck, how many notes].
    # The records of that deck (less those of removed entries) are then that package's notes, so a push
    # that finds the package unchanged need not read it.
    topics: dict[str, list] = field(default_factory=dict)

    def row(self) -> dict:
        return {
            "build": self.build,
            "packages": self.packages,
            "note_types": self.note_types,
            "names": self.names,
            "anki": self.anki,
            "tags": self.tags,
            "notes": self.notes,
            "removed": self.removed,
            "lines": self.lines,
            "topics": self.topics,
        }


def _check(value: object) -> PushCheck | None:
    """A profile's check as read; None when absent or not of this form (the next push then reads everything)."""
    if not isinstance(value, dict):
        return None
    try:
        check = PushCheck(**value)
    except TypeError:
        return None
    if not (
        all(isinstance(getattr(check, k), str) for k in ("build", "anki", "lines"))
        and all(isinstance(getattr(check, k), int) for k in ("notes", "removed"))
        and isinstance(check.packages, dict)
        and all(isinstance(v, str) for v in check.packages.values())
        and isinstance(check.note_types, list)
        and all(isinstance(m, int) for m in check.note_types)
        and isinstance(check.names, list)
        and all(
            isinstance(n, list) and len(n) == 2 and isinstance(n[0], int) and isinstance(n[1], str) for n in check.names
        )
        and isinstance(check.topics, dict)
        and all(
            isinstance(t, list) and len(t) == 2 and isinstance(t[0], str) and type(t[1]) is int
            for t in check.topics.values()
        )
        and isinstance(check.tags, list)
        and all(
            isinstance(g, list)
            and len(g) == 2
            and isinstance(g[0], list)
            and all(isinstance(t, str) for t in g[0])
            and isinstance(g[1], list)
            and all(isinstance(n, int) for n in g[1])
            for g in check.tags
        )
    ):
        return None
    return check


@dataclass
class PushState:
    """Every profile's pushed notes, by profile then GUID."""

    project: str
    profiles: dict[str, dict[str, PushedNote]] = field(default_factory=dict)
    # The latest note ``mod`` each profile was given by a push: the next push stamps later than it.
    mods: dict[str, int] = field(default_factory=dict)
    # Each profile's check, as the last push left it (absent: read everything on the next push).
    checks: dict[str, PushCheck] = field(default_factory=dict)
    # Why the file on disk was not usable, when it was there but damaged.
    damaged: str | None = None
    # Each note line as read, with its record: a record saved unchanged (the same object) is written as read.
    lines: dict[tuple[str, str], tuple[PushedNote, str]] = field(default_factory=dict, repr=False, compare=False)

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
    # Split at line breaks only: a JSON string written as is may hold other characters splitlines() splits at.
    lines = [line for line in text.split("\n") if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError("no header line")
    head = json.loads(lines[0])
    if not _known_head(head) or not isinstance(head.get("project"), str):
        raise ValueError("unknown header")
    state = PushState(project)
    if head["project"] != project:
        # Another project's notes are not this one's: start afresh rather than touch them.
        return PushState(project, damaged=f"{STATE_NAME} belongs to project '{head['project']}'; treated as absent")
    try:
        # One decode for every line is several times faster than one per line.
        rows = json.loads("[" + ",".join(lines[1:]) + "]")
    except ValueError:
        rows = None
    for number, line in enumerate(lines[1:], start=2):
        row = rows[number - 2] if rows is not None else json.loads(line)
        if isinstance(row, list) and len(row) in (3, 4) and row[0] == "profile":
            if not (isinstance(row[1], str) and isinstance(row[2], int) and not isinstance(row[2], bool)):
                raise ValueError(f"line {number} has a value of the wrong type")
            state.mods[row[1]] = row[2]
            state.profiles.setdefault(row[1], {})
            check = _check(row[3]) if len(row) == 4 else None
            if check is not None:
                state.checks[row[1]] = check
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
            and set(map(type, fields)) <= _STR
            and set(map(type, fields.values())) <= _STR
            and isinstance(tags, list)
            and set(map(type, tags)) <= _STR
        ):
            raise ValueError(f"line {number} has a value of the wrong type")
        record = PushedNote(guid, entry, note_id, deck, built, fields, tags)
        state.profiles.setdefault(profile, {})[guid] = record
        state.lines[profile, guid] = (record, line + "\n")
    return state


@dataclass
class PushHead:
    """The push state's header and profile lines only: what a push needs to decide it has nothing to do."""

    profiles: dict[str, PushCheck | None] = field(default_factory=dict)
    damaged: str | None = None


def read_head(root: Path, project: str) -> PushHead:
    """The profiles of the push state and their checks, without decoding its note lines.

    A check whose note lines no longer hash as written is dropped (the full read then says what is wrong).
    """
    try:
        data = (root / STATE_NAME).read_bytes()
    except FileNotFoundError:
        return PushHead()
    except OSError:
        return PushHead(damaged="unreadable")
    head = PushHead()
    try:
        # Past the comment lines, the header line, then each profile's line and the block of its note
        # lines, found by searching for the next profile line rather than by walking every line.
        at = 0
        while data.startswith(b"#", at):
            at = data.index(b"\n", at) + 1
        end = data.index(b"\n", at)
        if not _known_head(first := json.loads(data[at:end])) or first.get("project") != project:
            raise ValueError("another project's file, or an unknown header")
        at = end + 1
        while at < len(data):
            if not data.startswith(_PROFILE, at):
                raise ValueError("a note line comes before its profile line")
            end = data.index(b"\n", at)
            row = json.loads(data[at:end])
            if not (isinstance(row, list) and len(row) in (3, 4) and isinstance(row[1], str)):
                raise ValueError("a profile line is damaged")
            following = data.find(b"\n" + _PROFILE, end)
            block_end = len(data) if following < 0 else following + 1
            check = _check(row[3]) if len(row) == 4 else None
            if check is not None and check.lines != _block_hash(data[end + 1 : block_end]):
                check = None
            head.profiles[row[1]] = check
            at = block_end
    except (ValueError, TypeError) as e:
        return PushHead(damaged=str(e))
    return head


_PROFILE = b'["profile",'


def _lines_hash(lines: list[str]) -> str:
    return _block_hash("".join(lines).encode("utf-8"))


def _block_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _known_head(head: object) -> bool:
    return isinstance(head, dict) and head.get("decks-anki") in _VERSIONS


def save_state(root: Path, state: PushState) -> bool:
    """Write the push state (atomically); False when the file already held these bytes and was left untouched."""
    out = [_HEAD, json.dumps({"decks-anki": _VERSION, "project": state.project}, ensure_ascii=False) + "\n"]
    for profile in sorted(state.profiles):
        notes = state.profiles[profile]
        lines = []
        for guid in sorted(notes, key=lambda g: (notes[g].entry, g)):
            n = notes[guid]
            read = state.lines.get((profile, guid))
            if read is not None and read[0] is n:
                lines.append(read[1])
                continue
            row = ["note", profile, guid, n.entry, n.note_id, n.deck, n.built, dict(sorted(n.fields.items())), n.tags]
            lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        check = state.checks.get(profile)
        if check is not None:
            check.lines = _lines_hash(lines)
        head = ["profile", profile, state.mods.get(profile, 0), check.row() if check is not None else None]
        out.append(json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n")
        out += lines
    return write_atomic(root / STATE_NAME, "".join(out).encode("utf-8"))
