"""A rebuild with nothing to do, told from file signatures alone, before YAML, the lock or the cache is read.

Every build that leaves its output folder as a rebuild would find it (it wrote, or found nothing to
write) records beside its packages what that rebuild would report, and the signature of every file and
folder the decision rests on: ``deck.yaml``, the topic files and the listing of their folder, every
template file, the builder's own code, the media the topics use, ``decks.lock``, the cache and the
packages; and the options it was made for. A later `decks build` whose files all still have those
signatures prints the same report without loading anything else.

A signature is a file's size, modification and change times (nanoseconds), inode and device. As git does
for its index, a file whose change time is not clearly older than the build that signed it ("racy": it may
change again within the same tick of the file system's clock and keep its signature) is also recorded with
a checksum of the bytes the build used, and is read again each time. The change time cannot be set by
hand, so a file copied over another with its old modification time (``cp -p``) is seen too.

The build is the record's only writer (``Signatures.record``); ``unchanged_build`` only reads it. The
reading side uses ``os.path`` and strings, not pathlib: it runs before anything else is imported.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from collections.abc import Iterable
from stat import S_ISREG
from typing import TYPE_CHECKING

import builder
from builder.projectroot import CONFIG_NAME, nearest_root
from builder.templatedirs import template_names

if TYPE_CHECKING:
    from pathlib import Path

    from builder.config import Config

STAMP_NAME = ".decks-nochange.json"
LOCK_NAME = "decks.lock"  # as manifest.py names them; that module is not imported here
CACHE_NAME = ".decks-cache.json"
_VERSION = 1
# How much older than the build a file's change time must be for its signature alone to be trusted: a
# tick of the kernel's clock is a few milliseconds; FAT keeps times to two seconds.
RACY_NS = 2_000_000_000
# The output folder deck.yaml names, when it names one on a line of its own: only a guess of where the
# record is, which the record itself then confirms (it names the output folder of the config it was made
# with, and holds deck.yaml's signature).
# A folder's key in deck.yaml, on a line of its own at the top level, with a plain or quoted value on that line.
_FOLDER_RE = r"""^{key}[ \t]*:[ \t]*(?P<q>["']?)(?P<value>[^"'#\n]*?)(?P=q)[ \t]*(?:#.*)?$"""


class Unchanged:
    """What a no-change rebuild reports, as `decks build` prints it."""

    def __init__(self, report: dict):
        self.where: str = report["where"]
        self.topics: int = report["topics"]
        self.notes: int = report["notes"]
        self.cards: int = report["cards"]
        self.unchanged: list[str] = report["unchanged"]
        self.written: list[str] = []
        self.removed: list[str] = []
        self.notices: list[str] = list(report["notices"])
        self.timings: dict[str, float] = dict.fromkeys(report["stages"], 0.0)
        self.read = 0
        # The config the build was made with (see ``Signatures.record``), which deck.yaml's signature vouches for.
        self.config: dict | None = None
        # The SHA-256 of the files whose bytes the build knew (its packages, decks.lock), by path.
        self.hashes: dict | None = None


def options_key(*, single: bool, topics: Iterable[str], new_identity: bool) -> list:
    """The options of `decks build` that change what it builds or says (the output folder is the record's place)."""
    return [bool(single), list(topics), bool(new_identity)]


# -- reading (the no-change check) --------------------------------------------------


def unchanged_build(project: str | None, output: str | None, options: list) -> Unchanged | None:
    """The report of a build with these options, when its record shows nothing changed; else None.

    Holds the project folder's lock while it looks, as a build does, and then sweeps the temp files a
    killed build left, as a build that has nothing to write does. Anything unexpected means None: the
    full build decides, and says what is wrong.
    """
    try:
        root = nearest_root(project or os.getcwd())
        if root is None:
            return None
        out = os.path.realpath(output) if output is not None else configured_output(root)
        record = os.path.join(out, STAMP_NAME)
        if not os.path.isfile(record):
            return None
        from builder.atomic import folder_lock, remove_stale_temps

        with folder_lock(root):
            data = _read(record)
            if data is None or not _holds(data, root, out, output is None, options):
                return None
            with folder_lock(out):
                remove_stale_temps(out)
                remove_stale_temps(root)
            found = Unchanged(data["result"])
            found.config = data.get("config")
            found.hashes = data.get("hashes")
            return found
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None


def configured_output(root: str) -> str:
    """The output folder deck.yaml names (real path), guessed from its text without YAML: confirm it."""
    return os.path.realpath(os.path.join(root, configured_folder(root, "output")))


def configured_folder(root: str, key: str) -> str:
    """The folder deck.yaml names under ``key`` as written (``key`` itself when it names none), guessed from its
    text without YAML: confirm it."""
    with open(os.path.join(root, CONFIG_NAME), encoding="utf-8") as file:
        found = re.search(_FOLDER_RE.format(key=re.escape(key)), file.read(), re.M)
    value = found["value"].strip() if found else ""
    return value or key


def _read(path: str) -> dict | None:
    with open(path, "rb") as file:
        data = json.loads(file.read())
    if not isinstance(data, dict) or data.get("version") != _VERSION or data.get("builder") != builder.__version__:
        return None
    return data


def _holds(data: dict, root: str, out: str, configured: bool, options: list) -> bool:
    """Whether every folder, listing and file of the record is as it was, for this project, folder and options."""
    if data["root"] != root or data["out"] != out or data["options"] != options:
        return False
    if configured and data["config_output"] != out:
        return False
    if any(os.path.realpath(path) != real for path, real in data["folders"].items()):
        return False
    if any(_listing(folder, what) != listing for folder, what, listing in data["listings"]):
        return False
    for path, *recorded, checksum in data["files"]:
        if _signature(path) != recorded:
            return False
        if checksum is not None:
            summed = _checksum(path)
            if summed is None or summed[0] != checksum:
                return False
    return True


def _signature(path: str) -> list | None:
    """A regular file's signature; None for anything else (a named pipe is never opened: it would block)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not S_ISREG(st.st_mode):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _checksum(path: str, sha256: bool = False) -> tuple[int, str | None] | None:
    """CRC-32 of a file's bytes (enough to see that a racy file changed within a tick: its size is compared
    too), and their SHA-256 when asked; None when it cannot be read. Read in pieces: the lock and the cache
    of a large project are tens of megabytes, and a build reads them at its end, when it holds the most."""
    digest = None
    if sha256:
        import hashlib

        digest = hashlib.sha256()
    crc = 0
    # One small buffer filled again and again: it stays in the processor's cache, and a fresh process pays
    # more to make each new megabyte of bytes than to read it (at 3 MB: 1 ms, against 3.6 ms read by the MB).
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as file:
            while size := file.readinto(buffer):
                crc = zlib.crc32(view[:size], crc)
                if digest is not None:
                    digest.update(view[:size])
    except OSError:
        return None
    return crc, digest.hexdigest() if digest is not None else None


def _listing(folder: str, what: str) -> list | None:
    """A folder's entries as the build sees them: ``cards`` (each name, and whether a folder), ``code`` (the
    builder's modules) or ``templates`` (every file below it); None when it is no folder."""
    if not os.path.isdir(folder):
        return None
    if what == "templates":
        return sorted(template_names(folder))
    with os.scandir(folder) as entries:
        if what == "code":
            return sorted(e.name for e in entries if e.name.endswith(".py"))
        return sorted([e.name, e.is_dir()] for e in entries if not e.name.startswith("."))


# -- writing (the build) ------------------------------------------------------------


class Signatures:
    """The files and folders a build decides from, signed as it goes (see the module's docstring).

    Inputs are signed before the build reads them: a file changed after that shows another signature,
    or, when racy, other bytes than those summed here.
    """

    def __init__(self) -> None:
        self.started = time.time_ns()
        self.files: dict[str, list] = {}
        self.listings: list[list] = []

    def add(self, path: Path, sha256: str | None = None, crc: int | None = None) -> None:
        """Sign one file as it is now. A racy one is recorded with ``crc``, the CRC-32 of the bytes this build
        wrote there (or read from it), when given; else it is read, and must hold the bytes ``sha256`` names when given.

        A file missing, or racy and not holding those bytes (it changed while the build ran), cannot be
        recorded: ``record`` then writes no record.
        """
        signature = _signature(str(path))
        entry = [*(signature or [None] * 5), None]
        if signature is not None and signature[2] >= self.started - RACY_NS and crc is not None:
            entry[5] = crc
        elif signature is not None and signature[2] >= self.started - RACY_NS:
            summed = _checksum(str(path), sha256=sha256 is not None)
            if summed is not None and summed[1] == sha256:
                entry[5] = summed[0]
            else:
                entry[0] = None
        self.files[str(path)] = entry

    def inputs(self, config: Config, topic_paths: Iterable[Path]) -> None:
        """Sign what a build reads before anything else: deck.yaml, the topics, the templates, the builder's code."""
        from pathlib import Path

        from builder.templatedirs import template_dirs

        code = Path(builder.__file__).parent
        # By the bytes the config was read from: deck.yaml is read before anything is signed, and saved again
        # meanwhile it must not be taken for what this build used.
        self.add(config.root / CONFIG_NAME, crc=None if config.source is None else zlib.crc32(config.source))
        for folder, what in [(config.cards_dir, "cards"), (code, "code")]:
            self.listings.append([str(folder), what, _listing(str(folder), what)])
        for path in topic_paths:
            self.add(path)
        for name in self.listings[-1][2] or ():
            self.add(code / name)
        for folder in dict.fromkeys([config.templates_dir, *template_dirs(config.templates_dir)]):
            listing = _listing(str(folder), "templates")
            self.listings.append([str(folder), "templates", listing])
            for name in listing or ():
                self.add(folder / name)

    def record(
        self,
        config: Config,
        out: Path,
        options: list,
        report: dict | None,
        files: Iterable[tuple[Path, str | None]],
        written: dict[Path, int],
    ) -> None:
        """Sign ``files`` (with the SHA-256 the build found of each, when it knows it, and the CRC-32 of those it
        ``written``) and write the record of a build whose next run would report ``report``; with no report, or
        a file that cannot be signed, remove it.

        Written without fsync: a record lost or cut short is only no record.
        """
        # The SHA-256 of each file whose bytes the build knows, kept for a push: while the file keeps its signature,
        # these are its bytes.
        hashes = {}
        for path, sha256 in files:
            self.add(path, sha256, written.get(path))
            if sha256 is not None:
                hashes[str(path)] = sha256
        path = out / STAMP_NAME
        if report is None or any(entry[0] is None for entry in self.files.values()):
            path.unlink(missing_ok=True)
            return
        folders = [config.root, config.cards_dir, config.templates_dir, config.output_dir, config.root / "media", out]
        data = {
            "version": _VERSION,
            "builder": builder.__version__,
            "root": str(config.root),
            "out": str(out),
            "config_output": os.path.realpath(config.output_dir),
            "options": options,
            "folders": {str(folder): os.path.realpath(folder) for folder in folders},
            "listings": self.listings,
            "files": [[name, *entry] for name, entry in self.files.items()],
            "result": report,
            # The config this build loaded, for a push to take when the record holds (deck.yaml is signed above).
            "config": {
                "root": str(config.root),
                "project": config.project,
                "root_deck": config.root_deck,
                "note_type_ids": config.note_type_ids,
                "cards": str(config.cards_dir),
                "templates": str(config.templates_dir),
                "output": str(config.output_dir),
                "rules": config.rules,
            },
            "hashes": hashes,
        }
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            if path.read_bytes() == text:
                return
        except OSError:
            pass
        from builder.atomic import TEMP_PREFIX

        # A temp name the sweep of a killed build's temps knows.
        tmp = out / f"{TEMP_PREFIX}{os.urandom(4).hex()}.tmp"
        try:
            tmp.write_bytes(text)
            os.replace(tmp, path)
        except BaseException:
            # Ctrl-C as it is written, or a full disk: no temp file is left behind.
            tmp.unlink(missing_ok=True)
            raise
