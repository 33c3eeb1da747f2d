"""Media: the image and audio files entries reference, found in the project's media/ folder.

An entry names a file by its path inside ``media/`` (``image: diagrams/loop.png``), or inline in
any text with Anki's own ``[sound:clip.mp3]``. Anki keeps media in one flat folder, so a file is
known there by its base name: references are rewritten to it, and two different files with the
same base name are an error. Nothing outside ``media/`` is ever read.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from builder.config import Config
from builder.entries import Entry, Topic
from builder.errors import Location, Problem, ProblemsError
from builder.kinds import MEDIA_KEYS

MEDIA_DIR = "media"
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp")
AUDIO_TYPES = (".mp3", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".aac", ".flac", ".webm")
SOUND_RE = re.compile(r"\[sound:([^\]]*)\]")
# Characters that Anki strips from media names or that would break the HTML or
# template text the name is written into.
_BAD_NAME_CHARS = set('[]<>:"/\\|?*^&#%{}') | {chr(c) for c in range(32)} | {"\x7f"}
_MEDIA_KEY_NAMES = tuple(k.name for k in MEDIA_KEYS)


class MediaFile:
    """One file as Anki will hold it: its name in the flat media folder and where it is read from."""

    __slots__ = ("name", "path")

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path


class Media:
    """Every media file the chosen topics use, and which entry uses which."""

    def __init__(self) -> None:
        self.files: dict[str, MediaFile] = {}
        self.by_entry: dict[str, tuple[str, ...]] = {}
        # Entry id -> digest of its files' names and bytes: a note whose media change counts as edited.
        self.versions: dict[str, str] = {}


def media_dir(config: Config) -> Path:
    """The project's media folder."""
    return config.root / MEDIA_DIR


def resolve_media(config: Config, topics: list[Topic]) -> tuple[list[Topic], Media]:
    """Check every media reference; return the topics with references rewritten to Anki names.

    Raises ProblemsError naming file:line:col of every bad reference.
    """
    resolver = _Resolver(media_dir(config))
    out = []
    for topic in topics:
        entries = tuple(resolver.entry(entry) for entry in topic.entries)
        changed = any(new is not old for new, old in zip(entries, topic.entries, strict=True))
        out.append(topic.replace(entries) if changed else topic)
    if resolver.problems:
        raise ProblemsError(resolver.problems)
    return out, resolver.media


class _Resolver:
    def __init__(self, folder: Path):
        self.folder = folder
        self.root = folder.resolve()
        self.media = Media()
        self.problems: list[Problem] = []
        # Anki's folder may be on a case-insensitive file system: names equal when folded clash.
        self._folded: dict[str, MediaFile] = {}
        self._digests: dict[str, str] = {}

    def entry(self, entry: Entry) -> Entry:
        # Copied only for an entry with media: most have none, and every entry of a topic read comes here.
        values: dict[str, object] | None = None
        names: list[str] = []
        for key, value in entry.values.items():
            if not isinstance(value, str):
                continue
            if key in _MEDIA_KEY_NAMES:
                name = self._reference(value, key, entry.key_loc(key))
                if name is not None:
                    values = dict(entry.values) if values is None else values
                    values[key] = name
                    names.append(name)
            elif "[sound:" in value:
                loc = entry.key_loc(key)
                values = dict(entry.values) if values is None else values
                values[key] = SOUND_RE.sub(lambda m, loc=loc: self._sound(m, loc, names), value)
        if not names or values is None:
            return entry
        used = tuple(dict.fromkeys(names))
        self.media.by_entry[entry.id] = used
        if not self.problems:
            self.media.versions[entry.id] = self._version(used)
        return entry.replace(values)

    def _version(self, names: tuple[str, ...]) -> str:
        digest = hashlib.sha256()
        for name in sorted(names):
            if name not in self._digests:
                self._digests[name] = hashlib.sha256(self.media.files[name].path.read_bytes()).hexdigest()
            digest.update(f"{name}\0{self._digests[name]}\0".encode())
        return digest.hexdigest()[:32]

    def _sound(self, match: re.Match, loc: Location, names: list[str]) -> str:
        name = self._reference(match.group(1), "sound", loc)
        if name is None:
            return match.group(0)
        names.append(name)
        return f"[sound:{name}]"

    def _reference(self, ref: str, key: str, loc: Location) -> str | None:
        """The Anki name of one reference, or None after recording a problem."""
        what = f"{key} '{ref}'"
        if not ref.strip():
            return self._problem(loc, f"{key} has no file name")
        if "\\" in ref:
            return self._problem(loc, f"{what}: write paths with '/', not '\\'")
        pure = PurePosixPath(ref)
        if pure.is_absolute() or re.match(r"^[A-Za-z]:", ref):
            return self._problem(loc, f"{what} is an absolute path; give a path inside {MEDIA_DIR}/")
        if ".." in pure.parts:
            return self._problem(loc, f"{what} leaves the {MEDIA_DIR}/ folder ('..' is not allowed)")
        name = pure.name
        bad = sorted({ch for ch in name if ch in _BAD_NAME_CHARS})
        if bad or name.startswith((".", " ")) or name.endswith(" "):
            shown = " ".join(repr(ch) for ch in bad) or "a leading dot or outer spaces"
            return self._problem(loc, f"{what}: the name has {shown}, which Anki cannot keep in a media name")
        suffix = pure.suffix.lower()
        if key == "image" and suffix not in IMAGE_TYPES:
            return self._problem(loc, f"{what} is not an image (use {', '.join(IMAGE_TYPES)})")
        if key in ("audio", "sound") and suffix not in AUDIO_TYPES:
            return self._problem(loc, f"{what} is not an audio file (use {', '.join(AUDIO_TYPES)})")

        path = self.folder.joinpath(*pure.parts)
        if not os.path.lexists(path):
            return self._problem(loc, f"{what} not found: no file {MEDIA_DIR}/{pure.as_posix()}")
        real = path.resolve()
        if not real.is_relative_to(self.root):
            return self._problem(loc, f"{what} is a symbolic link to a file outside the {MEDIA_DIR}/ folder")
        if not real.exists():
            return self._problem(loc, f"{what} is a broken symbolic link")
        if real.is_dir():
            return self._problem(loc, f"{what} is a folder, not a file")
        if not real.is_file():
            return self._problem(loc, f"{what} is not a regular file (a named pipe or a device?)")
        if not os.access(real, os.R_OK):
            return self._problem(loc, f"{what} cannot be read: permission denied")

        folded = unicodedata.normalize("NFC", name).casefold()
        known = self._folded.get(folded)
        if known is not None and known.path != real:
            other = known.path.relative_to(self.root).as_posix()
            return self._problem(
                loc,
                f"{what}: another file has the same name ({MEDIA_DIR}/{other}); "
                "Anki keeps all media in one folder, so rename one of them",
            )
        if known is None:
            known = self._folded[folded] = MediaFile(name, real)
            self.media.files[name] = known
        return known.name

    def _problem(self, loc: Location, message: str) -> None:
        self.problems.append(Problem.at(loc, message))
        return None
