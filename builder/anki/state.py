"""What the last push put into each Anki profile: ``decks.anki.lock`` at the project root.

Beside ``decks.lock`` (what the build made), this file records, per Anki profile pushed to, each
note as it was when the last push left it: its note id, deck, a hash of the fields and tags the
build gave it, a hash of each field as Anki then held it, and the tags that are the project's own.
``decks status`` and ``decks pull`` compare against it to tell edits in the YAML from edits in Anki,
and a push removes only the tags it wrote. Only ``decks push`` writes it (through ``save``); other
commands read it. A file that does not match its schema is treated as absent, with a note saying so.

Each push also leaves its *check* (see ``PushCheck``): what the build was and what the collection
looked like, in a few hashes, when that push ended. A push whose build and collection still hash alike
has nothing to do, and finds it out without reading every note back from Anki or every note line of
this file (``read_head``). The check is an optimisation, not shared state: it lives in the output
folder's ``.decks-push-check.json``, beside the build's caches, one record per profile, valid only with
the note lines it was made with. This file, which a project may commit, holds no check (files written
with it inline, version 2, are read, their checks ignored).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builder.atomic import StagedWrites, folder_lock, write_atomic

STATE_NAME = "decks.anki.lock"
CHECK_NAME = ".decks-push-check.json"
# Version 1 again: the form every version of decks reads. Version 2 carried each profile's check inline
# on its profile line; such a file reads alike, its checks ignored (the next push reads everything once).
_VERSION = 1
_STR = {str}
_VERSIONS = (1, 2)
# Version 2: the check maps the profile's note lines, grouped by deck, into blocks (see ``PushCheck.blocks``).
_CHECK_VERSION = 2
_HEAD = (
    "# decks.anki.lock: what `decks push` last put into each Anki profile. Written by `decks push`.\n"
    '# Lines: ["profile", profile, latest mod], then its\n'
    '# ["note", profile, GUID, entry id, note id, deck, built hash, {field: hash}, [project tags]].\n'
)


def text_hash(text: str) -> str:
    """A short hash of one field's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def built_hash(fields: Mapping[str, str], tags: tuple[str, ...] | list[str]) -> str:
    """A hash of what the build gave a note: its fields and its tags."""
    encoded = json.dumps([sorted(fields.items()), sorted(tags)], ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]


class PushedNote:
    """One note as the last push left it in one profile."""

    # This module's records are plain classes rather than dataclasses, which would cost every push the making
    # of their methods at import.
    __slots__ = ("guid", "entry", "note_id", "deck", "built", "fields", "tags")

    def __init__(
        self, guid: str, entry: str, note_id: int, deck: str, built: str, fields: dict[str, str], tags: list[str]
    ) -> None:
        self.guid = guid
        self.entry = entry
        self.note_id = note_id
        self.deck = deck
        self.built = built
        self.fields = fields
        self.tags = tags

    def _key(self) -> tuple:
        return (self.guid, self.entry, self.note_id, self.deck, self.built, self.fields, self.tags)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if type(other) is PushedNote else NotImplemented

    __hash__ = None


# A default that stands for a new empty dict: None, read from a file, is kept (and fails _check).
_NEW_DICT: Any = object()


class PushCheck:
    """What one profile's last push left, in hashes: enough to tell, cheaply, that nothing changed since."""

    def __init__(
        self,
        build: str,
        packages: dict[str, str],
        note_types: list[int],
        names: list[list],
        anki: str,
        tags: list[list[list]],
        notes: int,
        removed: int,
        lines: str = "",
        topics: dict[str, list] = _NEW_DICT,
        blocks: dict[str, list] = _NEW_DICT,
    ) -> None:
        # A hash of the build pushed (its packages' bytes and decks.lock's), and of each package, by file name.
        self.build = build
        self.packages = packages
        # The note types searched, those of them Anki held ([id, name]), and a hash of what it held of the
        # project (see live.Facts).
        self.note_types = note_types
        self.names = names
        self.anki = anki
        # The built notes by the project's own tags: [[tags...], [note ids carrying exactly those project tags]].
        self.tags = tags
        # How many of the build's notes were in step, and how many records of removed entries are kept.
        self.notes = notes
        self.removed = removed
        # A hash of the profile's note lines as written: a line edited or lost by hand voids the check.
        self.lines = lines
        # Each package whose notes are all in one deck of their own, by file name: [that deck, how many notes].
        # The records of that deck (less those of removed entries) are then that package's notes, so a push
        # that finds the package unchanged need not read it.
        self.topics = {} if topics is _NEW_DICT else topics
        # The profile's note lines are written grouped by deck: each deck's block of lines, by deck name:
        # [its first byte, the byte after its last (both counted from the first note line), how many lines,
        # the package whose notes are exactly these records ("" for none), and where its built notes are in
        # ``tags``: [[group, first, how many], ...], each a run of that group's note ids]. A push that finds
        # that package unchanged neither reads it nor decodes the block: it copies the block's bytes.
        self.blocks = {} if blocks is _NEW_DICT else blocks

    def __eq__(self, other: object) -> bool:
        # A push's check is compared with the one its answer was asked for (push.Ahead.fits).
        return self.row() == other.row() if type(other) is PushCheck else NotImplemented

    __hash__ = None

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
            "blocks": self.blocks,
        }


def block_groups(check: PushCheck, block: list) -> list[list]:
    """One block's built notes by project tags, [[tags...], [note ids...]], from the runs it names in ``tags``."""
    return [[check.tags[group][0], check.tags[group][1][first : first + count]] for group, first, count in block[4]]


def merge_blocks(blocks: dict[str, list]) -> tuple[list[list[list]], dict[str, list]]:
    """Blocks holding their tag groups as lists, merged: the check's ``tags`` (each group's notes in the order of
    the blocks' decks) and the blocks as the check keeps them, each naming its runs in those groups."""
    where: dict[tuple[str, ...], int] = {}
    tags: list[list] = []
    out = {}
    for deck in sorted(blocks):
        block = blocks[deck]
        runs = []
        for names, ids in block[4]:
            group = where.setdefault(tuple(names), len(tags))
            if group == len(tags):
                tags.append([list(names), []])
            runs.append([group, len(tags[group][1]), len(ids)])
            tags[group][1].extend(ids)
        out[deck] = [*block[:4], runs]
    return tags, out


def _check(value: object) -> PushCheck | None:
    """A profile's check as read; None when absent or not of this form (the next push then reads everything)."""
    if not isinstance(value, dict):
        return None
    try:
        check = PushCheck(**value)
    except TypeError:
        return None
    if not _groups(check.tags):
        return None
    sizes = [len(ids) for _, ids in check.tags]
    if not (
        isinstance(check.blocks, dict)
        and all(
            type(b) is list
            and len(b) == 5
            and type(b[0]) is int
            and type(b[1]) is int
            and 0 <= b[0] <= b[1]
            and type(b[2]) is int
            and type(b[3]) is str
            and type(b[4]) is list
            and all(
                type(run) is list
                and len(run) == 3
                and all(type(n) is int for n in run)
                and 0 <= run[0] < len(sizes)
                and run[1] >= 0
                and run[2] >= 0
                and run[1] + run[2] <= sizes[run[0]]
                for run in b[4]
            )
            for b in check.blocks.values()
        )
    ):
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
    ):
        return None
    return check


def _groups(value: object) -> bool:
    """Whether ``value`` is a list of tag groups: [[tags...], [note ids...]]."""
    return isinstance(value, list) and all(
        isinstance(g, list)
        and len(g) == 2
        and isinstance(g[0], list)
        and all(isinstance(t, str) for t in g[0])
        and isinstance(g[1], list)
        and all(type(n) is int for n in g[1])
        for g in value
    )


class PushState:
    """Every profile's pushed notes, by profile then GUID."""

    def __init__(
        self,
        project: str,
        profiles: dict[str, dict[str, PushedNote]] | None = None,
        mods: dict[str, int] | None = None,
        checks: dict[str, PushCheck | None] | None = None,
        damaged: str | None = None,
        lines: dict[tuple[str, str], tuple[PushedNote, str]] | None = None,
    ) -> None:
        self.project = project
        self.profiles: dict[str, dict[str, PushedNote]] = {} if profiles is None else profiles
        # The latest note ``mod`` each profile was given by a push: the next push stamps later than it.
        self.mods: dict[str, int] = {} if mods is None else mods
        # The checks this push leaves, by profile (None: drop that profile's); other profiles' stay as they are.
        self.checks: dict[str, PushCheck | None] = {} if checks is None else checks
        # Why the file on disk was not usable, when it was there but damaged.
        self.damaged = damaged
        # Each note line as read, with its record: a record saved unchanged (the same object) is written as read.
        self.lines: dict[tuple[str, str], tuple[PushedNote, str]] = {} if lines is None else lines
        # Read in part (``load_partial``): blocks of a profile's note lines left undecoded, by profile then
        # deck, and whole profiles not read (their profile line and note lines), by name. Both are written
        # back byte for byte; ``profiles`` then holds only the records decoded.
        self.opaque: dict[str, dict[str, bytes]] = {}
        self.raw: dict[str, bytes] = {}

    def notes(self, profile: str) -> dict[str, PushedNote]:
        """The pushed notes of one profile (empty when never pushed to)."""
        return self.profiles.get(profile, {})


def load_state(root: Path, project: str, data: bytes | None = None) -> PushState:
    """The push state of the project at ``root`` (empty when there is none); ``data``: the file's bytes, when
    read already."""
    path = root / STATE_NAME
    try:
        text = (path.read_bytes() if data is None else data).decode("utf-8")
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
    _read_lines(state, lines[1:], 2)
    return state


def _read_lines(state: PushState, lines: list[str], first: int, deck: str | None = None) -> None:
    """Decode note and profile lines into ``state``; with ``deck``, only note lines of that deck may come."""
    try:
        # One decode for every line is several times faster than one per line.
        rows = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        rows = None
    profiles = state.profiles
    kept = state.lines
    for number, line in enumerate(lines, start=first):
        row = rows[number - first] if rows is not None else json.loads(line)
        # JSON gives exact types (a bool is no int here) and string keys: ``type(x) is`` says all.
        if type(row) is list and len(row) == 9 and row[0] == "note":
            _, profile, guid, entry, note_id, deck_name, built, fields, tags = row
            if not (
                type(profile) is str
                and type(guid) is str
                and type(entry) is str
                and type(note_id) is int
                and type(deck_name) is str
                and type(built) is str
                and type(fields) is dict
                and _STR.issuperset(map(type, fields.values()))
                and type(tags) is list
                and _STR.issuperset(map(type, tags))
            ):
                raise ValueError(f"line {number} has a value of the wrong type")
            if deck is not None and deck_name != deck:
                raise ValueError(f"line {number} is not of the block of deck '{deck}'")
            record = PushedNote(guid, entry, note_id, deck_name, built, fields, tags)
            notes = profiles.get(profile)
            if notes is None:
                notes = profiles[profile] = {}
            notes[guid] = record
            # Kept as read (without its line break) for writing back unchanged.
            kept[profile, guid] = (record, line)
            continue
        if deck is None and type(row) is list and len(row) in (3, 4) and row[0] == "profile":
            if not (type(row[1]) is str and type(row[2]) is int):
                raise ValueError(f"line {number} has a value of the wrong type")
            # A version-2 line's fourth value, its check, is not read: checks live in the output folder now.
            state.mods[row[1]] = row[2]
            profiles.setdefault(row[1], {})
            continue
        raise ValueError(f"line {number} is not a note line")


def load_partial(head: PushHead, project: str, profile: str, check: PushCheck, keep: set[str]) -> PushState | None:
    """The push state as ``head`` read it, decoding only ``profile``'s note lines outside the blocks of the decks
    in ``keep`` (``check`` maps the blocks; it was made with these very lines): those blocks, and other profiles,
    are kept as bytes, to be written back as they are. None when the blocks do not map the lines as they should
    (the caller then reads the whole file).
    """
    span = head.spans.get(profile)
    if head.data is None or span is None or head.profiles.get(profile) is not check:
        return None
    data = head.data
    line_at, start, end = span
    state = PushState(project)
    try:
        row = json.loads(data[line_at:start])
        if not (type(row) is list and len(row) in (3, 4) and type(row[1]) is str and type(row[2]) is int):
            return None
        state.mods[profile] = row[2]
        state.profiles[profile] = {}
        opaque: dict[str, bytes] = {}
        at = 0
        # The blocks must tile the profile's lines exactly, in order, each as many lines as recorded.
        for deck, block in sorted(check.blocks.items(), key=lambda item: item[1][0]):
            first, last, count = block[0], block[1], block[2]
            chunk = data[start + first : start + last]
            if first != at or start + last > end or not chunk.endswith(b"\n") or chunk.count(b"\n") != count:
                return None
            at = last
            if deck in keep:
                opaque[deck] = chunk
                continue
            lines = chunk.decode("utf-8").split("\n")[:-1]
            _read_lines(state, lines, 0, deck)
        if start + at != end:
            return None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if set(state.profiles) != {profile}:
        return None
    state.opaque[profile] = opaque
    for name, (other_line, _, other_end) in head.spans.items():
        if name != profile:
            state.raw[name] = data[other_line:other_end]
    return state


class PushHead:
    """The push state's header and profile lines only: what a push needs to decide it has nothing to do."""

    def __init__(self, profiles: dict[str, PushCheck | None] | None = None, damaged: str | None = None) -> None:
        self.profiles: dict[str, PushCheck | None] = {} if profiles is None else profiles
        self.damaged = damaged
        # The file's bytes as read, and where each profile's line, its first note line and its end are in them:
        # what ``load_partial`` decodes in part (None when they cannot serve: no file, a profile named twice).
        self.data: bytes | None = None
        self.spans: dict[str, tuple[int, int, int]] = {}


def read_head(
    root: Path, project: str, output_dir: Path | None = None, checks: dict[str, PushCheck] | None = None
) -> PushHead:
    """The profiles of the push state and their checks (from ``output_dir``), without decoding its note lines.

    A check whose note lines no longer hash as it was made with is dropped (the full read then says what is
    wrong); so is every check when ``output_dir`` is None or holds none for this state. ``checks``, when
    given, are that folder's checks as read already for this state (``peek_checks``).
    """
    try:
        data = (root / STATE_NAME).read_bytes()
    except FileNotFoundError:
        return PushHead()
    except OSError:
        return PushHead(damaged="unreadable")
    if checks is None:
        checks = _read_checks(root, project, output_dir) if output_dir is not None else {}
    head = PushHead()
    twice = False
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
            check = checks.get(row[1])
            # Hashed in place: a slice would copy the profile's note lines first.
            if check is not None and check.lines != _block_hash(memoryview(data)[end + 1 : block_end]):
                check = None
            # A profile named twice has its notes in two places: its check is void, and the file is read whole.
            twice = twice or row[1] in head.spans
            head.profiles[row[1]] = None if row[1] in head.spans else check
            head.spans[row[1]] = (at, end + 1, block_end)
            at = block_end
    except (ValueError, TypeError) as e:
        return PushHead(damaged=str(e))
    if not twice:
        head.data = data
    return head


_PROFILE = b'["profile",'


def _block_hash(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _known_head(head: object) -> bool:
    return isinstance(head, dict) and head.get("decks-anki") in _VERSIONS


def save_state(root: Path, state: PushState, output_dir: Path | None = None) -> bool:
    """Write the push state (atomically), then its checks into ``output_dir``'s check file when given.

    Each profile's note lines are written grouped by deck (decks in order, then by entry and GUID), so that
    each deck's lines are one block a later push can leave undecoded; the blocks of this push's checks are
    mapped as written. False when the state file already held these bytes and was left untouched.
    """
    return stage_state(root, state, output_dir).commit()


class StagedState:
    """A push state written beside its file and flushed to disk, not yet in its place (``stage_state``).

    ``commit`` puts it in place (and its checks into the check file after it); ``discard`` leaves the file
    as it was. Until one of them, nothing a reader sees has changed.
    """

    def __init__(
        self,
        root: Path,
        state: PushState,
        output_dir: Path | None,
        writes: StagedWrites,
        written: bool,
        hashes: dict,
        checks: bytes | None = None,
    ) -> None:
        self._root = root
        self._state = state
        self._output_dir = output_dir
        self._writes: StagedWrites | None = writes
        self._written = written
        self._hashes = hashes
        # The check file's bytes, made with the state's when no other profile's check is kept from that file.
        self._checks = checks

    def commit(self) -> bool:
        """Replace the state file with the staged bytes, then write the checks; False when it held them already."""
        writes, self._writes = self._writes, None
        if writes is None:
            raise RuntimeError("a staged push state is committed or discarded once")
        with writes:
            writes.commit()
        if self._output_dir is not None:
            _save_checks(self._root, self._state, self._output_dir, self._hashes, self._checks)
        return self._written

    def discard(self) -> None:
        """Remove the staged bytes; the state file stays as it was."""
        writes, self._writes = self._writes, None
        if writes is not None:
            writes.__exit__(None, None, None)


def stage_state(root: Path, state: PushState, output_dir: Path | None = None) -> StagedState:
    """The push state encoded as ``save_state`` writes it, in a temp file beside it, flushed to disk: what
    ``StagedState.commit`` puts in place. The checks' blocks are mapped as the bytes lay them out."""
    out = [
        _HEAD.encode("utf-8"),
        (json.dumps({"decks-anki": _VERSION, "project": state.project}, ensure_ascii=False) + "\n").encode("utf-8"),
    ]
    hashes: dict[str, str] = {}
    for profile in sorted(set(state.profiles) | set(state.raw)):
        if profile not in state.profiles:
            out.append(state.raw[profile])
            continue
        notes = state.profiles[profile]
        opaque = state.opaque.get(profile, {})
        by_deck: dict[str, list[tuple[str, str]]] = {}
        for guid, n in notes.items():
            by_deck.setdefault(n.deck, []).append((n.entry, guid))
        chunks = []
        spans: dict[str, tuple[int, int, int]] = {}
        at = 0
        for deck in sorted(by_deck.keys() | opaque.keys()):
            if deck in opaque and deck not in by_deck:
                chunk = opaque[deck]
                count = chunk.count(b"\n")
            else:
                if deck in opaque:
                    # Records of a deck left undecoded beside new ones of it: decoded after all, to sort them in.
                    extra = PushState(state.project)
                    _read_lines(extra, opaque[deck].decode("utf-8").split("\n")[:-1], 0, deck)
                    for guid, n in extra.profiles.get(profile, {}).items():
                        if guid not in notes:
                            by_deck[deck].append((n.entry, guid))
                            notes[guid] = n
                    state.lines.update(extra.lines)
                lines = []
                # Sorted as (entry, GUID) pairs: comparing tuples made once beats a key function called per note.
                for _, guid in sorted(by_deck[deck]):
                    n = notes[guid]
                    read = state.lines.get((profile, guid))
                    if read is not None and read[0] is n:
                        lines.append(read[1] + "\n")
                        continue
                    row = [
                        "note", profile, guid, n.entry, n.note_id, n.deck, n.built, dict(sorted(n.fields.items())),
                        n.tags,
                    ]  # fmt: skip
                    lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                chunk = "".join(lines).encode("utf-8")
                count = len(lines)
            chunks.append(chunk)
            spans[deck] = (at, at + len(chunk), count)
            at += len(chunk)
        # Hashed block by block, and joined once with the rest: the 3.4 MB of a large profile copied once.
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        hashes[profile] = digest.hexdigest()[:16]
        _map_blocks(state.checks.get(profile), spans)
        head = ["profile", profile, state.mods.get(profile, 0)]
        out.append((json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
        out.extend(chunks)
    writes = StagedWrites()
    try:
        written = writes.add(root / STATE_NAME, b"".join(out))
        checks = None
        if output_dir is not None and not _other_profiles(state, hashes):
            checks = _made_checks(root, state, output_dir, hashes, {})
    except BaseException:
        writes.__exit__(None, None, None)
        raise
    return StagedState(root, state, output_dir, writes, written, hashes, checks)


def _map_blocks(check: PushCheck | None, spans: dict[str, tuple[int, int, int]]) -> None:
    """Set where each block of ``check`` was written; a check whose blocks are not the lines written gets none."""
    if check is None or not check.blocks:
        return
    if check.blocks.keys() != spans.keys() or any(check.blocks[d][2] != spans[d][2] for d in spans):
        check.blocks = {}
        return
    for deck, (first, last, _) in spans.items():
        check.blocks[deck][0:2] = [first, last]


def _check_owner(root: Path, project: str, output_dir: Path) -> dict:
    # What a check file is for: a copied or moved output folder, or another project's, holds none for this one.
    return {
        "decks-push-check": _CHECK_VERSION,
        "project": project,
        "state": os.path.realpath(root / STATE_NAME),
        "output": os.path.realpath(output_dir),
    }


def _read_checks(root: Path, project: str, output_dir: Path) -> dict[str, PushCheck]:
    """The checks kept in ``output_dir`` for this push state, by profile (none when absent or not for it)."""
    made_for, checks = peek_checks(root, output_dir)
    return checks if made_for == project else {}


def peek_checks(root: Path, output_dir: Path) -> tuple[str, dict[str, PushCheck]]:
    """The project the check file in ``output_dir`` was made for, and its checks by profile; ("", {}) when there
    is none for the push state at ``root``. Its note lines are not compared here (``read_head`` does that)."""
    try:
        data = json.loads((output_dir / CHECK_NAME).read_bytes())
    except (OSError, ValueError):
        return "", {}
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        return "", {}
    project = data.get("project")
    if not isinstance(project, str) or {
        k: data.get(k) for k in ("decks-push-check", "project", "state", "output")
    } != _check_owner(root, project, output_dir):
        return "", {}
    checks = {}
    for profile, value in data["profiles"].items():
        check = _check(value)
        if check is not None:
            checks[profile] = check
    return project, checks


def _save_checks(
    root: Path, state: PushState, output_dir: Path, hashes: dict[str, str], made: bytes | None = None
) -> None:
    """Write the checks of ``state`` into ``output_dir``'s check file; ``made``: the file's bytes as
    ``_made_checks`` made them already (only when no other profile's check is kept from the file)."""
    # Other profiles' checks stay as they were: each still holds only while its note lines hash alike.
    try:
        with folder_lock(output_dir):
            path = output_dir / CHECK_NAME
            if made is None:
                # The file is read only for the checks of profiles this push did not go to.
                others = _other_profiles(state, hashes)
                checks = (
                    {p: c for p, c in _read_checks(root, state.project, output_dir).items() if p in others}
                    if others
                    else {}
                )
                made = _made_checks(root, state, output_dir, hashes, checks)
            if made == b"" and not path.exists():
                return
            # Not flushed to disk first: a check torn by a crash does not decode, and one older than the note
            # lines does not hash alike with them (``read_head``); either way it is no check, and costs one full read.
            write_atomic(path, made or _empty_checks(root, state, output_dir), durable=False)
    except OSError:
        # Only an optimisation: a check that could not be written must not stand for the old note lines.
        with contextlib.suppress(OSError):
            (output_dir / CHECK_NAME).unlink()


def _other_profiles(state: PushState, hashes: dict[str, str]) -> set[str]:
    """The profiles written whose checks this push does not set: theirs are kept from the check file."""
    return (set(hashes) | set(state.raw)) - set(state.checks)


def _made_checks(
    root: Path, state: PushState, output_dir: Path, hashes: dict[str, str], checks: dict[str, PushCheck]
) -> bytes:
    """The check file's bytes: ``checks`` (other profiles' kept) with this push's; b"" when there are none."""
    for profile, check in state.checks.items():
        checks.pop(profile, None)
        if check is not None and profile in hashes:
            check.lines = hashes[profile]
            checks[profile] = check
    if not checks:
        return b""
    record = {
        **_check_owner(root, state.project, output_dir),
        "profiles": {p: checks[p].row() for p in sorted(checks)},
    }
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _empty_checks(root: Path, state: PushState, output_dir: Path) -> bytes:
    record = {**_check_owner(root, state.project, output_dir), "profiles": {}}
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
