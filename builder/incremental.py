"""Fingerprints of a build's inputs, so that a rebuild skips the topics and packages they show unchanged.

A topic's fingerprint covers its file's bytes and everything else its package is made from: the config,
every template file, and the builder's own code. Equal fingerprints and an output file untouched since it
was written mean the package would come out byte for byte the same, so it is not built again.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from builder.config import CONFIG_NAME, Config
from builder.entries import Topic
from builder.errors import Problem, ProblemsError
from builder.manifest import PackageRecord, TopicRecord
from builder.templatedirs import layout_stamp

MEDIA_DIR = "media"  # as media.py names it; that module is imported only when a topic is read


def build_stamp(config: Config, template_dirs: Sequence[Path], layouts: str | None = None) -> str:
    """A hash of everything besides the topic files that a package is made from: the config, and what the note
    types are made from (``layouts``, templatedirs.layout_stamp of ``template_dirs``, taken here unless given)."""
    if layouts is None:
        layouts = layout_stamp(template_dirs)
    digest = hashlib.sha256(f"decks-build/v2\0{layouts}\0".encode())
    # The config file's bytes, not the loaded config: every setting counts, and the folder does not
    # (a project moved elsewhere keeps its cache).
    # Those it was read from, when known: the file may have been saved again since.
    source = config.source if config.source is not None else (config.root / CONFIG_NAME).read_bytes()
    _add_bytes(digest, CONFIG_NAME, source)
    return digest.hexdigest()


def _add_bytes(digest, name: str, data: bytes) -> None:
    digest.update(f"{name}\0{len(data)}\0".encode())
    digest.update(data)


def topic_fingerprint(stamp: str, path: Path) -> str | None:
    """The fingerprint of one topic file under a build stamp; None when it is not a file that can be read."""
    try:
        # Never open anything but a regular file: a named pipe would block the build.
        if not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return hashlib.sha256(f"{stamp}\0{path.name}\0".encode() + data).hexdigest()


def package_fingerprint(name: str, topic_fingerprints: Sequence[str]) -> str:
    """The fingerprint of a package from those of the topics it holds, in order."""
    return hashlib.sha256("\0".join((name, *topic_fingerprints)).encode()).hexdigest()


def is_current(record: PackageRecord | None, fingerprint: str, path: Path) -> bool:
    """Whether the file at ``path`` is the package last written from inputs with this fingerprint."""
    if record is None or record.fingerprint != fingerprint:
        return False
    # Hashing the file (milliseconds) rather than trusting its mtime keeps the manifest reproducible
    # and catches a package replaced by hand.
    try:
        if not path.is_file():
            return False
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == record.sha256


def is_written(record: PackageRecord, path: Path) -> bool:
    """Whether the file at ``path`` is still the package this record says the builder wrote there."""
    try:
        if not path.is_file() or path.is_symlink():
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
    except OSError:
        return False


def record_for(data: bytes, fingerprint: str, notes: int, cards: int) -> PackageRecord:
    """The record of a package written with these bytes."""
    return PackageRecord(fingerprint, hashlib.sha256(data).hexdigest(), notes, cards)


def topic_key(record: TopicRecord) -> str:
    """What a package's fingerprint takes of one of its topics: the file's fingerprint and its media's."""
    return ":".join((record.fingerprint, *(use[2] for use in record.media)))


class TopicMedia:
    """The media files one topic uses."""

    def __init__(
        self,
        uses: list[tuple] | None = None,
        versions: dict[str, str] | None = None,
        files: dict[str, Path] | None = None,
    ) -> None:
        # (Anki name, path in media/, sha256, line, column, reference) of each file, first use first.
        self.uses: list[tuple] = [] if uses is None else uses
        # Entry id -> digest of its files: a note whose media changed counts as edited.
        self.versions: dict[str, str] = {} if versions is None else versions
        # Anki name -> the file to pack.
        self.files: dict[str, Path] = {} if files is None else files


def topic_media(config: Config, topic: Topic) -> tuple[Topic, TopicMedia, list[Problem]]:
    """Resolve one topic's media references: the topic as rewritten, its media, and any problems."""
    from builder.kinds import MEDIA_KEYS
    from builder.media import media_dir, resolve_media

    try:
        [resolved], media = resolve_media(config, [topic])
    except ProblemsError as exc:
        return topic, TopicMedia(), list(exc.problems)
    root = media_dir(config).resolve()
    found = TopicMedia(versions=media.versions, files={f.name: f.path for f in media.files.values()})
    for entry, before in zip(resolved.entries, topic.entries, strict=True):
        for name in media.by_entry.get(entry.id, ()):
            if any(use[0] == name for use in found.uses):
                continue
            key = next((k.name for k in MEDIA_KEYS if entry.values.get(k.name) == name), None)
            loc = before.key_loc(key) if key else before.loc
            what = f"{key} '{before.values[key]}'" if key else f"sound '{name}'"
            path = media.files[name].path
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found.uses.append((name, path.relative_to(root).as_posix(), digest, loc.line, loc.col, what))
    return resolved, found, []


def media_unchanged(config: Config, record: TopicRecord) -> bool:
    """Whether every media file a topic used last time is still there, inside media/, with the same bytes."""
    root = (config.root / MEDIA_DIR).resolve()
    for _, relpath, digest, *_ in record.media:
        path = (root / relpath).resolve()
        try:
            if not path.is_relative_to(root) or not path.is_file():
                return False
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                return False
        except OSError:
            return False
    return True


def media_clash_problems(topics: Iterable[tuple[str, Sequence[tuple]]]) -> list[Problem]:
    """Two different files used under one name by different topics: Anki keeps all media in one folder."""
    problems = []
    seen: dict[str, str] = {}
    for display, uses in topics:
        for name, relpath, _, line, col, what in uses:
            known = seen.setdefault(unicodedata.normalize("NFC", name).casefold(), relpath)
            if known != relpath:
                problems.append(
                    Problem(
                        display,
                        line,
                        col,
                        (
                            f"{what}: another file has the same name ({MEDIA_DIR}/{known}); "
                            "Anki keeps all media in one folder, so rename one of them"
                        ),
                    )
                )
    return problems
