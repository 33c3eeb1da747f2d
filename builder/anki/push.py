"""``decks push``, ``decks status``: the collection brought to the project's state, or compared with it.

A push decides everything first (plan.py), then acts in an order that a re-run after an interruption
completes: note types changed in place, the trimmed packages imported, tags and suspension put right,
cards moved, emptied decks of renamed topics removed, removed entries tagged and suspended (or
deleted), and only then the push state saved from what the collection holds afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.anki.client import AnkiConnect, AnkiError, action
from builder.anki.early import Early, take
from builder.anki.live import (
    ENTRY_FIELD,
    REMOVED_TAG,
    Facts,
    Live,
    connect,
    connect_and_ask,
    fact_actions,
    facts_from,
    ours_of,
    read_live,
)
from builder.anki.searches import check_actions, connect_actions
from builder.anki.state import (
    PushCheck,
    PushedNote,
    PushHead,
    PushState,
    StagedState,
    block_groups,
    built_hash,
    load_partial,
    load_state,
    merge_blocks,
    peek_checks,
    read_head,
    save_state,
    stage_state,
    text_hash,
)
from builder.errors import DecksError
from builder.nochange import LOCK_NAME

if TYPE_CHECKING:
    from builder.anki.apkg import BuiltPackages
    from builder.anki.plan import Plan, TopicInfo
    from builder.build import BuildResult, BuiltTopic
    from builder.config import Config

# The build's modules (YAML, the build state, the packager) are imported where a push builds or reads the
# project: a push with nothing to do needs none of them. The plan's and the packages' modules are imported
# while Anki answers the first request (``_meanwhile``), off the path of a push with nothing to do.


class Session:
    """The project, its build, the collection and the push state, read once for one command."""

    # This module's classes are plain classes rather than dataclasses, which would cost every push the making
    # of their methods at import.
    def __init__(
        self,
        config: Config,
        client: AnkiConnect,
        state: PushState,
        built: BuiltPackages,
        topics: list[TopicInfo],
        live: Live,
        build_result: BuildResult | None = None,
        messages: list[str] | None = None,
        note_types: set[int] | None = None,
        trusted: set[str] | None = None,
        quick: bool = False,
        unchanged: int = 0,
        build_hash: str = "",
        package_hashes: dict[str, str] | None = None,
        after_import: tuple[Facts, list] | None = None,
        facts: Facts | None = None,
        opaque: dict[str, list] | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.state = state
        self.built = built
        self.topics = topics
        self.live = live
        self.build_result = build_result
        # Notes for the user (a damaged push state).
        self.messages: list[str] = [] if messages is None else messages
        # Every note type of the project: those its config and build state name, and those built now.
        self.note_types: set[int] = set() if note_types is None else note_types
        # GUIDs whose notes were not read from Anki: the push state's check showed them as the last push left them.
        self.trusted: set[str] = set() if trusted is None else trusted
        # The push state's check showed nothing to do: nothing else was read (``unchanged`` notes in step).
        self.quick = quick
        self.unchanged = unchanged
        # A hash of the build (its packages and decks.lock); "" without a build. And each package's hash, by name.
        self.build_hash = build_hash
        self.package_hashes: dict[str, str] = {} if package_hashes is None else package_hashes
        # What the request that imported asked besides, when the import was a push's last change: the facts of
        # the collection afterwards and the notes it touched (``notesInfo``), for recording the result.
        self.after_import = after_import
        # The facts ``live`` was read with, when they came from the check's searches (None after a full read).
        self.facts = facts
        # The blocks of the push state left undecoded, by deck, as the check maps them: their packages were not
        # read either, and their notes (``PushCheck.blocks``) count as unchanged and not read back.
        self.opaque: dict[str, list] = {} if opaque is None else opaque
        # The push state as this push expects to leave it, written and flushed while Anki imported (see
        # ``_import``), with what it was made from: put in place only when the state made from Anki's answer is
        # that very one.
        self.staged: _Expected | None = None

    @property
    def pushed(self) -> dict[str, PushedNote]:
        return self.state.notes(self.live.profile)


@contextlib.contextmanager
def collector_off(*, freeze: bool = False) -> Iterator[None]:
    """The cyclic garbage collector paused for the block; with ``freeze``, what is alive at its end is never
    walked again (for a whole command, whose objects mostly live until the process ends)."""
    # A push makes a few objects per note (records, built notes, replies) and no garbage cycles worth
    # finding: the cyclic collector would walk all of them again and again, as in a build. Turned back on,
    # it walks every object made meanwhile at the next allocation, unless they are frozen first.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


class Ahead:
    """The searches of a push's check, sent before the project's config is loaded (see ``ask_ahead``)."""

    def __init__(
        self,
        root: str,
        output: str,
        project: str,
        profile: str,
        check: PushCheck,
        asking: list,
        answer: _Background | _Answered,
        head: PushHead,
    ) -> None:
        self.root = root
        self.output = output
        self.project = project
        # The profile asked about, its check, and what was asked.
        self.profile = profile
        self.check = check
        self.asking = asking
        self.answer = answer
        # The push state's head, read with the check file's checks: read once when the push owns that file.
        self.head = head

    def owns(self, config: Config) -> bool:
        """Whether the check file read here is the one this push, with its config loaded, reads."""
        return (
            self.root == os.path.realpath(config.root)
            and self.output == os.path.realpath(config.output_dir)
            and self.project == config.project
        )

    def fits(self, config: Config, profile: str, check: PushCheck) -> bool:
        """Whether the answer is to the questions this push, with its config loaded, asks: those of ``check``."""
        return self.owns(config) and self.profile == profile and self.check == check


def ask_ahead(
    project: str | None, client: AnkiConnect, *, profile: str | None = None, delete: bool = False
) -> Ahead | None:
    """Send the searches of the check a push would start from, before anything else of the project is read.

    Where the project, its output folder and the check's profile are only guessed here (from deck.yaml's text,
    the check file and the push state's profile lines), ``open_session`` takes the answer only when the config
    it loads asks the same questions; the searches change nothing in Anki, so an answer not taken costs nothing
    but the request.
    """
    from builder.nochange import configured_output
    from builder.projectroot import nearest_root

    try:
        root = nearest_root(project or os.getcwd())
        if root is None:
            return None
        output = configured_output(root)
        made_for, checks = peek_checks(Path(root), Path(output))
        if not checks:
            return None
        # The push state's profiles, and their checks as long as their note lines hash as they were made with.
        head = read_head(Path(root), made_for, Path(output), checks=checks)
    except (OSError, ValueError):
        return None
    # Which profile the push goes to is known before asking Anki when it is given or the only one pushed to.
    candidates = [profile] if profile is not None else list(head.profiles)
    check = _usable(head.profiles.get(candidates[0]), delete) if len(candidates) == 1 else None
    if check is None:
        return None
    # The same request, sent as the process started (early.py), is taken when it is this one to this URL.
    early = take(client.url, client.key, check.names, check.tags)
    if early is not None:
        asking = early.actions[len(connect_actions()) :]
        answered = _Answered(client, asking, early)
        return Ahead(root, output, made_for, candidates[0], check, asking, answered, head)
    asking = _asking(check)
    sent = threading.Event()

    def ask() -> tuple[str, list | None]:
        try:
            return connect_and_ask(client, asking, sent=sent.set)
        finally:
            sent.set()

    answer = _Background(ask)
    # Held until the request is out: loading the config first would keep the thread from sending it for a
    # switch interval of the interpreter's lock, while Anki could already be at work.
    sent.wait(1.0)
    return Ahead(root, output, made_for, candidates[0], check, asking, answer, head)


@collector_off()
def open_session(
    config: Config,
    client: AnkiConnect,
    *,
    profile: str | None = None,
    do_build: bool = True,
    quick: bool = False,
    delete: bool = False,
    ahead: Ahead | None = None,
    unchanged: list[Path] | None = None,
    hashes: dict | None = None,
) -> Session:
    """Build (incrementally), read the packages, the topics, the push state and the collection.

    With ``quick`` (a push), a few searches first compare the collection with the push state's check: when
    neither the build nor the collection changed since the last push, nothing more is read; when only the
    build did, only the notes whose entries changed (or were removed) are read back from Anki. ``ahead``
    holds those searches when ``ask_ahead`` sent them already; ``unchanged``, the packages, when the build's
    no-change record was found to hold already (``recorded_build``), with ``hashes``, the SHA-256 it knew.
    """
    # A push reads the push state's head first, and its note lines only when the check does not settle it.
    state = None if quick else load_state(config.root, config.project)
    # The push state's head and the check file, when read already to ask ahead for this project, state file and
    # output folder, are not read again.
    head = (
        (
            ahead.head
            if ahead is not None and ahead.owns(config)
            else read_head(config.root, config.project, config.output_dir)
        )
        if state is None
        else PushHead(dict.fromkeys(state.profiles))
    )
    # The check of the profile this push goes to, when that is known before asking Anki: its searches then
    # go in the request that finds out which profile is open.
    candidates = [profile] if profile is not None else list(head.profiles)
    check = _usable(head.profiles.get(candidates[0]), delete) if quick and len(candidates) == 1 else None
    replies = None
    result = None
    packages: list[Path] | None = None
    hashed: tuple[list[Path], tuple[str, dict[str, str]]] | None = None
    if check is not None:
        ours = {int(mid): name for mid, name in check.names}
        # Anki answers in its own process while this one builds: the two waits overlap.
        if ahead is not None and ahead.fits(config, candidates[0], check):
            answer = ahead.answer
        else:
            asking = _asking(check)
            answer = _Background(lambda: connect_and_ask(client, asking))
        _meanwhile()
        # With nothing to build, the build's own no-change record says so without loading the project.
        if do_build:
            packages = unchanged if unchanged is not None else _unchanged_packages(config)
        if do_build and packages is None:
            result = _build(config)
            packages = result.files
        if packages is not None:
            # Hashed while Anki still answers: after its answer, this is all a push with nothing to do waits on.
            known = hashes if unchanged is not None and packages is unchanged else (result.hashes if result else None)
            hashed = (packages, _build_hash(config, packages, known))
        profile_open, replies = answer.result()
    else:
        profile_open = connect(client)
        check = _usable(head.profiles.get(profile_open), delete) if quick else None
        if check is not None:
            # More than one profile pushed to: which one is open was not known before asking.
            ours = {int(mid): name for mid, name in check.names}
            replies = client.batch(_asking(check), lenient=True)
            if any(isinstance(reply, AnkiError) for reply in replies):
                replies = None
    from builder.anki.apkg import BuiltNote, BuiltPackages, read_packages
    from builder.anki.plan import TopicInfo

    if profile is not None and profile != profile_open:
        raise AnkiError(f"Anki has profile '{profile_open}' open, not '{profile}': switch profiles in Anki first.")
    if profile is None and head.profiles and profile_open not in head.profiles:
        known = ", ".join(f"'{p}'" for p in sorted(head.profiles))
        raise AnkiError(
            f"Anki has profile '{profile_open}' open, but this project was pushed to {known}. Switch profiles in "
            f"Anki (File > Switch Profile), or pass --profile '{profile_open}' to use this one too."
        )
    if check is not None and do_build and packages is None:
        packages = unchanged if unchanged is not None else _unchanged_packages(config)
        if packages is None:
            result = _build(config)
            packages = result.files
    facts = None
    asked: set[int] = set()
    if check is not None and replies is not None and ours_of(replies[0], set(check.note_types)) == ours:
        asked = set(check.note_types)
        facts = facts_from(ours, replies[1:], check.tags)
    if facts is None or facts.digest != check.anki:
        # Anki changed since the last push (or it was never checked): read it all, with this build.
        check = None
    if packages is None:
        build_hash, package_hashes = "", {}
    elif hashed is not None and hashed[0] is packages:
        build_hash, package_hashes = hashed[1]
    else:
        build_hash, package_hashes = _build_hash(config, packages)
    if check is not None and facts is not None and check.build == build_hash and not facts.missing_tags:
        live = Live(profile_open, facts.note_types, {}, facts.decks, facts.digest)
        return Session(
            config,
            client,
            PushState(config.project),
            BuiltPackages({}, {}),
            [],
            live,
            result,
            quick=True,
            unchanged=check.notes,
        )
    if result is None and do_build:
        result = _build(config)
        build_hash, package_hashes = _build_hash(config, result.files, result.hashes)
    # Packages unchanged since the last push whose records are a block of their own in the push state: neither
    # read nor decoded (see ``_opaque_topics``); their blocks, by deck.
    opaque: dict[str, list] = {}
    present = _present(check, facts) if check is not None and facts is not None else set()
    if state is None and check is not None and facts is not None and head.data is not None:
        opaque = _opaque_topics(check, package_hashes, present)
        state = load_partial(head, config.project, profile_open, check, set(opaque))
        if state is None:
            opaque = {}
    if state is None:
        state = load_state(config.root, config.project, head.data)
    messages = [state.damaged] if state.damaged else []
    output = result.output_dir if result else config.output_dir
    from builder.identity import deck_name

    infos = [
        TopicInfo(t.slug, t.path, t.title, deck_name(config.root_deck, t.title), t.entries)
        for t in (result.sources if result and result.sources else _read_topics(config))
    ]
    packages = result.files if result else sorted(output.glob("*.apkg"))
    from builder.manifest import load_state as load_lock
    from builder.manifest import read_lock_head

    # The build state's note types come from the build just made, else from the state's head (vouched for by
    # the build's cache); the whole state is read only when a note does not name its entry, or the head cannot
    # be had.
    heads: list = []
    whole: list = []

    def lock_head():
        if not heads:
            heads.append(read_lock_head(config, config.output_dir))
        return heads[0]

    def lock():
        if not whole:
            whole.append(load_lock(config, None, lock_head()))
        return whole[0]

    def entry_of(guid: str, fields: dict[str, str]) -> str:
        # The entry a note is built from is its "Entry ID" field (the build writes the entry's id there);
        # the build state (decks.lock), which decodes a note's line on demand, names it otherwise.
        if fields.get(ENTRY_FIELD):
            return fields[ENTRY_FIELD]
        stamp = lock().stamp_of(guid)
        return stamp.entry if stamp is not None and stamp.entry else ""

    # With the check holding, a package unchanged since the last push is not read: its notes are known
    # from their records (see ``_unread_topics``).
    unread = (
        _unread_topics(check, package_hashes, state.notes(profile_open), facts, present)
        if check is not None and facts is not None and not state.damaged
        else {}
    )
    left = {block[3] for block in opaque.values()}
    built = read_packages([p for p in packages if p.name not in unread and p.name not in left], entry_of)
    if result is not None and result.note_type_ids is not None:
        note_types = set(result.note_type_ids)
    else:
        lock_types = (lock_head().state if lock_head() is not None else lock()).note_types
        note_types = {record.id for record in lock_types.values()}
    note_types |= set(config.note_type_ids.values())
    note_types |= set(built.note_types)
    if asked != note_types:
        # The searches asked about other note types than this build has: ask again.
        facts = check = None
    if opaque and (check is None or any(note.deck in opaque for note in built.notes.values())):
        # The blocks left undecoded cannot stand (the check fell, or a package read puts notes into one of their
        # decks): the whole push state is decoded, and their packages read, after all.
        state = load_state(config.root, config.project, head.data)
        more = read_packages([p for p in packages if p.name in left], entry_of)
        built.notes.update(more.notes)
        built.note_types.update(more.note_types)
        opaque = {}
    if unread and check is None:
        more = read_packages([p for p in packages if p.name in unread], entry_of)
        built.notes.update(more.notes)
        built.note_types.update(more.note_types)
        unread = {}
    trusted: set[str] = set()
    if check is not None and facts is not None and not state.damaged:
        # Anki holds the project's notes as the last push left them (but for edits of fields, which a push
        # does not look for unless it changes the note): only notes whose build changed need reading.
        same = {name for name, digest in package_hashes.items() if check.packages.get(name) == digest}
        trusted = _as_recorded(built, state.notes(profile_open), present, same)
        pushed = state.notes(profile_open)
        for name, guids in unread.items():
            path = output / name
            for guid in guids:
                record = pushed[guid]
                built.notes[guid] = BuiltNote(
                    guid,
                    0,
                    dict.fromkeys(record.fields, ""),
                    tuple(record.tags),
                    record.deck,
                    0,
                    path,
                    record.note_id,
                    record.entry,
                )
                trusted.add(guid)
    pushed = state.notes(profile_open)
    skip = {pushed[guid].note_id for guid in trusted} | _block_ids(opaque)
    # Where a note's cards are matters only to move them: to a note whose record names another deck than
    # its build (with every note read, any may).
    moving = not (trusted or opaque) or any(
        guid in pushed and pushed[guid].deck != note.deck for guid, note in built.notes.items() if guid not in trusted
    )
    live = read_live(client, profile_open, note_types, skip=skip, facts=facts, decks=moving)
    return Session(
        config,
        client,
        state,
        built,
        infos,
        live,
        result,
        messages,
        note_types,
        trusted,
        build_hash=build_hash,
        package_hashes=package_hashes,
        facts=facts,
        opaque=opaque,
    )


def _meanwhile() -> None:
    """Import what the rest of a push needs, while this process would only wait for Anki."""
    import builder.anki.apkg
    import builder.anki.plan  # noqa: F401


def _usable(check: PushCheck | None, delete: bool) -> PushCheck | None:
    # A push that deletes the notes of removed entries reads them all; a check naming no note type has none.
    if check is None or (delete and check.removed) or not check.names:
        return None
    return check


def _asking(check: PushCheck) -> list:
    return check_actions(check.names, check.tags)


class _Answered:
    """``connect_and_ask``'s result from a request sent early, as ``_Background.result`` gives its own."""

    def __init__(self, client: AnkiConnect, asking: list, early: Early) -> None:
        self._client = client
        self._asking = asking
        self._early = early

    def result(self) -> tuple[str, list | None]:
        return connect_and_ask(self._client, self._asking, answered=self._early)


class _Background:
    """A call run on a thread of its own; ``result()`` waits for it and returns (or raises) what it did."""

    def __init__(self, call: Callable[[], Any]):
        self._call = call
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as e:  # handed to the caller of result()
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def recorded_build(project: str | None) -> tuple[Config, list[Path], dict] | None:
    """The config and packages of the last build, when the build's no-change record shows that a build would
    find nothing to do; else None.

    deck.yaml is among the files the record signs, so while it holds, the config that build loaded is the one
    deck.yaml gives: a push with nothing to build then loads neither PyYAML nor the build. The SHA-256 the build
    knew of its packages and of decks.lock come with them, by path: those files keep the signatures they had.
    """
    from builder.config import Config
    from builder.nochange import options_key, unchanged_build

    found = unchanged_build(project, None, options_key(single=False, topics=(), new_identity=False))
    if found is None or not isinstance(found.config, dict):
        return None
    made = found.config
    try:
        config = Config(
            root=Path(made["root"]),
            project=made["project"],
            root_deck=made["root_deck"],
            note_type_ids=dict(made["note_type_ids"]),
            cards_dir=Path(made["cards"]),
            templates_dir=Path(made["templates"]),
            output_dir=Path(made["output"]),
            rules=dict(made["rules"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    hashes = found.hashes if isinstance(found.hashes, dict) else {}
    return config, sorted(config.output_dir / name for name in found.unchanged), hashes


def _unchanged_packages(config: Config) -> list[Path] | None:
    """The packages, when the build's no-change record shows that a build would find nothing to do; else None."""
    from builder.nochange import options_key, unchanged_build

    found = unchanged_build(str(config.root), None, options_key(single=False, topics=(), new_identity=False))
    return None if found is None else sorted(config.output_dir / name for name in found.unchanged)


def _build_hash(config: Config, files: list[Path], known: dict | None = None) -> tuple[str, dict[str, str]]:
    """A hash of what the build gave a push (every package's bytes and the build state's), and each package's.

    ``known``: the SHA-256 of files whose bytes the build vouches for, by path (those it hashed or wrote, whose
    signatures its no-change record found unchanged); the others are read and hashed here.
    """
    total = hashlib.sha256()
    packages = {}
    for path in [*files, config.root / LOCK_NAME]:
        digest = known.get(str(path)) if known else None
        if isinstance(digest, str) and len(digest) == 64:
            digest = digest[:16]
        else:
            try:
                data = path.read_bytes()
            except OSError:
                return "", {}
            digest = hashlib.sha256(data).hexdigest()[:16]
        if path in files:
            packages[path.name] = digest
        total.update(f"{path.name}\0{digest}\0".encode())
    return total.hexdigest()[:16], packages


def _present(check: PushCheck, facts: Facts) -> set[int]:
    """The notes the last push built that are still in Anki, with their project tags and not tagged removed."""
    last_built = {n for _, ids in check.tags for n in ids}
    return (last_built.intersection(facts.note_ids) - set(facts.missing_tags)).difference(facts.removed)


def _unread_topics(
    check: PushCheck, package_hashes: dict[str, str], pushed: dict[str, PushedNote], facts: Facts, present: set[int]
) -> dict[str, list[str]]:
    """The packages a push need not read, by name, with the GUIDs of their notes (from their records).

    A package qualifies when its bytes are as last pushed and the last push found it alone in its deck
    with every note recorded; its notes are then the records of that deck less those of removed entries
    (tagged so in Anki, as the check's digest shows), and every one of them must still be in Anki as the
    last push left it. Anything else has the package read.
    """
    removed = set(facts.removed)
    by_deck: dict[str, list[str]] = defaultdict(list)
    for guid, record in pushed.items():
        if record.note_id not in removed:
            by_deck[record.deck].append(guid)
    out = {}
    for name, (deck, count) in check.topics.items():
        digest = package_hashes.get(name)
        if not digest or check.packages.get(name) != digest:
            continue
        guids = by_deck.get(deck, [])
        if len(guids) == count and all(pushed[guid].note_id in present for guid in guids):
            out[name] = guids
    return out


def _opaque_topics(check: PushCheck, package_hashes: dict[str, str], present: set[int]) -> dict[str, list]:
    """The blocks of the push state a push need not decode, by deck, as ``check`` maps them (each with its tag
    groups, not their runs).

    A block qualifies when it holds exactly the records of one package (alone in its deck, every note
    recorded), that package's bytes are as last pushed, and each of its notes is in Anki, with its project
    tags and not tagged removed (the check's digest vouches for the rest). Its notes then stand as
    recorded: the package is not read, and the block's bytes are written back as they were.
    """
    out = {}
    for name, (deck, count) in check.topics.items():
        digest = package_hashes.get(name)
        block = check.blocks.get(deck)
        if not digest or check.packages.get(name) != digest or block is None or block[3] != name:
            continue
        groups = block_groups(check, block)
        ids = [n for _, group in groups for n in group]
        if block[2] == count == len(ids) and present.issuperset(ids):
            out[deck] = [*block[:4], groups]
    return out


def _block_ids(blocks: dict[str, list]) -> set[int]:
    """The note ids of the notes built from these blocks' records."""
    return {n for block in blocks.values() for _, group in block[4] for n in group}


def _topics(notes: dict[str, PushedNote], built: BuiltPackages, opaque: dict[str, list]) -> dict[str, list]:
    """Each package alone in its deck with every note recorded: [its deck, how many notes] (see ``PushCheck``);
    those of the blocks left undecoded (``opaque``) among them, as they were."""
    decks: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    complete: dict[str, bool] = defaultdict(lambda: True)
    for guid, note in built.notes.items():
        name = note.package.name
        decks[name].add(note.deck)
        counts[name] += 1
        if guid not in notes:
            complete[name] = False
    for deck, block in opaque.items():
        decks[block[3]].add(deck)
        counts[block[3]] += block[2]
    owners: dict[str, int] = defaultdict(int)
    for names in decks.values():
        for deck in names:
            owners[deck] += 1
    out = {}
    for name, names in sorted(decks.items()):
        if len(names) != 1 or not complete[name]:
            continue
        (deck,) = names
        if owners[deck] == 1:
            out[name] = [deck, counts[name]]
    return out


def _as_recorded(built: BuiltPackages, pushed: dict[str, PushedNote], present: set[int], same: set[str]) -> set[str]:
    """GUIDs whose push record is what the build gives now, with their notes still in Anki, tags intact.

    Only notes the last push built count (not those of entries it found removed, even if they are back).
    A note of a package named in ``same`` (byte for byte as pushed) has the fields its record was made
    from: its hash is not made again.
    """
    out = set()
    for guid, note in built.notes.items():
        record = pushed.get(guid)
        if (
            record is not None
            and record.note_id in present
            and record.deck == note.deck
            and record.entry == note.entry
            and record.tags == list(note.tags)
            and record.fields.keys() == note.fields.keys()
            and (note.package.name in same or record.built == built_hash(note.fields, note.tags))
        ):
            out.add(guid)
    return out


def _build(config: Config) -> BuildResult:
    from builder.build import build

    return build(config)


def _read_topics(config: Config) -> list[BuiltTopic]:
    from builder.build import BuiltTopic
    from builder.load import load_project

    # Without a build that knows every topic (``--no-build``), the topic files are read as they are now.
    return [BuiltTopic(t.slug, t.path, t.title, len(t.entries)) for t in load_project(config)]


def plan_push(session: Session, *, overwrite: bool = False) -> Plan:
    """What a push would do now."""
    from builder.anki.plan import Plan, make_plan

    if session.quick:
        return Plan(session.live.profile, unchanged=session.unchanged, quick=True, unread=session.unchanged)
    # The notes of the blocks left undecoded are as the last push left them, like those not read back.
    left = sum(block[2] for block in session.opaque.values())
    with collector_off():
        plan = make_plan(
            session.built,
            session.topics,
            session.live,
            session.pushed,
            overwrite=overwrite,
            trusted=session.trusted,
            elsewhere=left,
        )
    plan.unchanged += left
    plan.unread += left
    return plan


class PushReport:
    """What a push did."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.deleted = 0


def apply_plan(session: Session, plan: Plan, *, delete: bool = False) -> PushReport:
    """Carry the plan out; on an error midway, the message says what was already done."""
    report = PushReport()
    if plan.quick:
        return report
    with collector_off():
        return _apply_plan(session, plan, report, delete)


def _apply_plan(session: Session, plan: Plan, report: PushReport, delete: bool) -> PushReport:
    client = session.client
    try:
        _note_types(client, plan, report)
        _import(session, plan, report, delete)
        _tags(session, plan, report)
        if plan.card_moves:
            by_deck: dict[str, list[int]] = defaultdict(list)
            for card, deck in plan.card_moves.items():
                by_deck[deck].append(card)
            client.batch([action("changeDeck", cards=sorted(cards), deck=deck) for deck, cards in by_deck.items()])
            report.done.append(f"moved the cards of {len(plan.moved)} notes")
        _renamed_decks(client, plan, report)
        _removals(client, plan, report, delete)
        _save(session, plan, delete, changed=bool(report.done))
    except AnkiError as e:
        done = "; ".join(report.done) if report.done else "nothing"
        raise AnkiError(
            f"{e.format_message()}\nDone before this error: {done}. Run `decks push` again to finish."
        ) from None
    finally:
        if session.staged is not None:
            session.staged.staged.discard()
            session.staged = None
    return report


def _note_types(client: AnkiConnect, plan: Plan, report: PushReport) -> None:
    for change in plan.note_types:
        actions = [
            action("modelFieldRename", modelName=change.name, oldFieldName=a, newFieldName=b)
            for a, b in change.renamed_fields
        ]
        actions += [
            action("modelFieldAdd", modelName=change.name, fieldName=name, index=index)
            for name, index in sorted(change.added_fields, key=lambda item: item[1])
        ]
        actions += [
            action("modelFieldReposition", modelName=change.name, fieldName=name, index=index)
            for index, name in enumerate(change.field_order)
        ]
        actions += [
            action("modelTemplateRename", modelName=change.name, oldTemplateName=a, newTemplateName=b)
            for a, b in change.renamed_templates
        ]
        actions += [
            action("modelTemplateAdd", modelName=change.name, template={"Name": name, "Front": front, "Back": back})
            for name, front, back in change.added_templates
        ]
        client.batch(actions)
        report.done.append(f"changed note type {change.describe()}")


def _touched(plan: Plan) -> set[int]:
    """The notes a plan acts on that were in the collection before it."""
    changes = plan.updated + plan.retagged + plan.restored + plan.moved + plan.removed + plan.already_removed
    return {c.note_id for c in changes if c.note_id is not None}


def _import_is_last(plan: Plan, delete: bool) -> bool:
    """Whether the import is the last change a plan makes to the collection."""
    return not (
        plan.retagged
        or plan.restored
        or plan.unsuspend
        or plan.card_moves
        or plan.renamed_decks
        or plan.removed
        or (delete and plan.already_removed)
    )


def _import(session: Session, plan: Plan, report: PushReport, delete: bool) -> None:
    if not plan.to_import:
        return
    # Anki takes an update only from a strictly newer note: the plan decided these, so they are made
    # newer than anything a push stamped before (changing a note type in place, just before, stamps
    # its notes now; two pushes can fall in one second).
    now = max(int(time.time()), session.state.mods.get(session.live.profile, 0)) + 1
    session.state.mods[session.live.profile] = now
    changed_types = {c.id for c in plan.note_types}
    keep = {change.guid: plan.tags[change.guid] for change in plan.to_import}
    packages = sorted({session.built.notes[guid].package for guid in keep})
    import tempfile  # only a push that imports needs it (and its imports)

    with tempfile.TemporaryDirectory(prefix="decks-push-") as tmp:
        target = Path(tmp) / "decks-push.apkg"
        from builder.anki.apkg import write_trimmed

        count = write_trimmed(packages, target, keep, now, changed_types)
        imported = action("importPackage", path=str(target))
        guess = {mid: t.name for mid, t in session.live.note_types.items()}
        if plan.note_types or not guess or not _import_is_last(plan, delete):
            session.client.call("importPackage", path=str(target))
        elif not plan.added and session.facts is not None:
            # Only notes already in Anki are updated, and nothing changes after: the import keeps every note id,
            # note type, suspension and decks::removed tag the first searches found, so the facts recorded are
            # those (were Anki changed meanwhile, they differ from the next push's, which then reads it all).
            touched = action("notesInfo", notes=sorted(_touched(plan)))
            sent = threading.Event()

            def ask() -> list:
                try:
                    return session.client.batch([imported, touched], lenient=True, sent=sent.set)
                finally:
                    sent.set()

            answer = _Background(ask)
            # Held until the request is out, as in ask_ahead; then, while Anki imports, the push state this
            # push expects to leave is made, written and flushed (put in place by _save if Anki's answer makes
            # the same state).
            sent.wait(1.0)
            session.staged = _stage_expected(session, plan, delete)
            replies = answer.result()
            if isinstance(replies[0], AnkiError):
                raise replies[0]
            if not isinstance(replies[1], AnkiError):
                session.after_import = (session.facts, replies[1])
        else:
            # Nothing else changes the collection after the import: what the push records of it afterwards
            # (the note types, the facts, the notes it touched) is asked in the same request, after the import.
            touched = action("notesInfo", notes=sorted(_touched(plan)))
            asked = [action("modelNamesAndIds"), *fact_actions(guess), touched]
            replies = session.client.batch([imported, *asked], lenient=True)
            if isinstance(replies[0], AnkiError):
                raise replies[0]
            rest = replies[1:]
            if not any(isinstance(r, AnkiError) for r in rest) and ours_of(rest[0], session.note_types) == guess:
                session.after_import = (facts_from(guess, rest[1:-1]), rest[-1])
    report.done.append(f"imported {count} notes from {len(packages)} topics")


def _tags(session: Session, plan: Plan, report: PushReport) -> None:
    actions = []
    for change in plan.retagged + plan.restored:
        note = session.live.notes[change.note_id]
        wanted = plan.tags[change.guid]
        have = {t.casefold() for t in note.tags}
        want = {t.casefold() for t in wanted}
        drop = [t for t in note.tags if t.casefold() not in want]
        add = [t for t in wanted if t.casefold() not in have]
        if drop:
            actions.append(action("removeTags", notes=[note.id], tags=" ".join(drop)))
        if add:
            actions.append(action("addTags", notes=[note.id], tags=" ".join(add)))
    if plan.unsuspend:
        actions.append(action("unsuspend", cards=sorted(set(plan.unsuspend))))
    if actions:
        session.client.batch(actions)
        report.done.append(f"set the tags of {len(plan.retagged) + len(plan.restored)} notes")


def _renamed_decks(client: AnkiConnect, plan: Plan, report: PushReport) -> None:
    for old, new in sorted(plan.renamed_decks.items()):
        config = client.call("getDeckConfig", deck=old)
        if isinstance(config, dict) and "id" in config:
            client.call("setDeckConfigId", decks=[new], configId=config["id"])
        left = client.call("findCards", query=f'"deck:{_quote(old)}"')
        if not left:
            client.call("deleteDecks", decks=[old], cardsToo=True)
            report.done.append(f"removed the emptied deck '{old}'")


def _removals(client: AnkiConnect, plan: Plan, report: PushReport, delete: bool) -> None:
    gone = plan.removed + (plan.already_removed if delete else [])
    if not gone:
        return
    ids = sorted(change.note_id for change in gone)
    if delete:
        client.call("deleteNotes", notes=ids)
        report.deleted = len(ids)
        report.done.append(f"deleted {len(ids)} notes")
        return
    actions = [action("addTags", notes=ids, tags=REMOVED_TAG)]
    if plan.suspend:
        actions.append(action("suspend", cards=sorted(plan.suspend)))
    client.batch(actions)
    report.done.append(f"tagged {REMOVED_TAG} and suspended {len(ids)} notes")


def _save(session: Session, plan: Plan, delete: bool, *, changed: bool) -> None:
    """Record each note as the collection now holds it; keep the old record where an edit waits."""
    stamp = int(time.time())
    expected, session.staged = session.staged, None
    state = None
    if expected is not None:
        # Anki answered what was expected, in the same second: the state made from the answer is the one made
        # from the guess (made the same way from the same values), which need not be made again to compare.
        same = (
            changed
            and session.after_import is not None
            and session.after_import[1] == expected.replies
            and _stamped(session, stamp) == _stamped(session, expected.stamp)
        )
        if not same:
            state = _state_to_save(session, plan, delete, changed, session.after_import, session.client, stamp)
        if same or expected.made == _saved_as(state, session.live.profile):
            # The state written while Anki imported is this one, byte for byte: it goes in place as it is.
            try:
                expected.staged.commit()
                return
            except OSError:
                # Its temp file gone (a build's sweep of temp files, say): the state file is as it was.
                pass
        expected.staged.discard()
    if state is None:
        state = _state_to_save(session, plan, delete, changed, session.after_import, session.client, stamp)
    # A push that changed nothing and learned nothing new leaves the file's bytes, and so the file, as they were.
    save_state(session.config.root, state, session.config.output_dir)


class _WouldAsk(Exception):
    """A guess at the push state needed to ask Anki something: there is no guess."""


class _NoRequests:
    """A client for making the expected push state: it asks Anki nothing."""

    def call(self, *args: object, **kwargs: object) -> Any:
        raise _WouldAsk

    def batch(self, *args: object, **kwargs: object) -> Any:
        raise _WouldAsk


class _Expected:
    """The push state a push expects to leave, staged (``_stage_expected``), with what it was made from."""

    def __init__(self, made: tuple, staged: StagedState, replies: list, stamp: int) -> None:
        # What its bytes are made from (``_saved_as``), the bytes staged, the answer to ``notesInfo`` the
        # import's request was expected to give, and the time it was stamped with.
        self.made = made
        self.staged = staged
        self.replies = replies
        self.stamp = stamp


def _stamped(session: Session, stamp: int) -> int:
    """The profile's latest stamp recorded by a push that changed Anki at time ``stamp``."""
    return max(session.state.mods.get(session.live.profile, 0), stamp)


def _stage_expected(session: Session, plan: Plan, delete: bool) -> _Expected | None:
    """The push state this push leaves if Anki's import only updates the planned notes to their built fields
    and tags, written beside the state file and flushed to disk, with what it was made from (``_saved_as``);
    None when there is no such guess (a note acted on that was not read) or it cannot be written now.

    Made while Anki imports, for ``_save`` to put in place once the answer shows the same state: what is
    recorded always comes from Anki's answer, and a guess that differs in anything is dropped.
    """
    replies = _expected_replies(session, plan)
    if replies is None:
        return None
    stamp = int(time.time())
    try:
        state = _state_to_save(session, plan, delete, True, (session.facts, replies), _NoRequests(), stamp)
        made = _saved_as(state, session.live.profile)
        return _Expected(made, stage_state(session.config.root, state, session.config.output_dir), replies, stamp)
    except Exception:
        # Only a head start (a guess that would ask Anki, a disk that refuses the temp file, anything else): the
        # state is made and written after Anki's answer, as it always was, and reports what fails then.
        return None


def _expected_replies(session: Session, plan: Plan) -> list[dict] | None:
    """What ``notesInfo`` should answer for the notes a plan acts on once Anki imported its updates (their built
    fields and the tags the plan gives them); None when a note acted on was not read."""
    live = session.live
    infos = {}
    for nid in _touched(plan):
        note = live.notes.get(nid)
        note_type = live.note_types.get(note.note_type) if note is not None else None
        if note is None or note_type is None:
            return None
        infos[nid] = [note_type.name, dict(note.fields), list(note.tags), note.cards]
    for change in plan.to_import:
        built = session.built.notes.get(change.guid)
        if change.note_id not in infos or built is None:
            return None
        info = infos[change.note_id]
        info[1].update(built.fields)
        # Anki keeps a note's tags in order, whatever order the package gives them in.
        info[2] = sorted(plan.tags[change.guid], key=str.casefold)
    return [
        {
            "noteId": nid,
            "modelName": name,
            "tags": tags,
            "fields": {field: {"value": value, "order": n} for n, (field, value) in enumerate(fields.items())},
            "cards": cards,
        }
        for nid, (name, fields, tags, cards) in sorted(infos.items())
    ]


def _saved_as(state: PushState, profile: str) -> tuple:
    """What the bytes ``stage_state`` writes for ``state`` are made from (besides what it shares with the state
    it was read as): the profile's records, every profile's stamp, and its check (where each block lands left
    out: that follows from the rest)."""
    check = state.checks.get(profile)
    row = None if check is None else {**check.row(), "blocks": {d: list(b[2:]) for d, b in check.blocks.items()}}
    # Copied: writing a state can sort records of a block left undecoded into the profile's records.
    return dict(state.profiles.get(profile, {})), dict(state.mods), row


def _state_to_save(
    session: Session,
    plan: Plan,
    delete: bool,
    changed: bool,
    after_import: tuple[Facts, list] | None,
    client: Any,
    stamp: int,
) -> PushState:
    """The push state this push leaves: each note as the collection holds it after the plan (``after_import``:
    what the request that imported asked besides), the old record where an edit waits. ``session.state`` is
    not changed: the result shares its records and lines as read."""
    # Read again only what this push changed; after a push that did nothing, the first read stands.
    live = session.live
    old = session.pushed
    if changed:
        # A note type changed in place changes every note of it; otherwise only the notes acted on changed
        # (and the notes the import added, which the first read did not see).
        whole = bool(plan.note_types)
        facts, infos = after_import or (None, [])
        live = read_live(
            client,
            live.profile,
            session.note_types,
            before=None if whole else live,
            touched=_touched(plan),
            skip=() if whole else {old[guid].note_id for guid in session.trusted} | _block_ids(session.opaque),
            # The note types as first read, unless this push changed them: the searches go with the
            # question of their names. What is recorded comes from the built notes' decks, not the cards'.
            guess=None if whole else {mid: t.name for mid, t in live.note_types.items()},
            decks=False,
            facts=facts,
            infos=infos,
        )
    from builder.anki.plan import match_notes

    found = match_notes(session.built, live, {**old, **_records(plan, session.trusted)}, session.trusted)
    waiting = {c.guid for c in plan.conflicts + plan.edited_in_anki}
    notes: dict[str, PushedNote] = {}
    for guid, built in session.built.notes.items():
        entry = built.entry
        if guid in session.trusted:
            notes[guid] = old[guid]
            continue
        if guid in waiting and guid in old:
            record = old[guid]
            notes[guid] = PushedNote(
                guid, entry, record.note_id, built.deck, record.built, record.fields, list(built.tags)
            )
            continue
        if guid in waiting:
            continue
        current = found.get(guid)
        if current is None:
            continue
        if guid in plan.steady and current.id == old[guid].note_id:
            # The record would come out as it is (the plan compared its hashes): no need to hash again.
            notes[guid] = old[guid]
            continue
        notes[guid] = PushedNote(
            guid,
            entry,
            current.id,
            built.deck,
            built_hash(built.fields, built.tags),
            {name: text_hash(current.fields.get(name, "")) for name in built.fields},
            list(built.tags),
        )
    if not delete:
        for guid, record in old.items():
            if guid not in session.built.notes and record.note_id in live.notes:
                notes[guid] = record
    read = session.state
    state = PushState(read.project, dict(read.profiles), dict(read.mods), dict(read.checks), read.damaged, read.lines)
    state.opaque = read.opaque
    state.raw = read.raw
    state.profiles[session.live.profile] = notes
    state.checks[session.live.profile] = None
    if session.build_hash and not plan.conflicts:
        # What the next push compares with to find out, cheaply, whether it has anything to do.
        opaque = session.opaque
        topics = _topics(notes, session.built, opaque)
        tags, blocks = _blocks(notes, session.built, topics, opaque)
        state.checks[session.live.profile] = PushCheck(
            session.build_hash,
            session.package_hashes,
            sorted(session.note_types),
            [[mid, t.name] for mid, t in sorted(live.note_types.items())],
            live.digest,
            tags,
            sum(1 for guid in session.built.notes if guid in notes) + sum(block[2] for block in opaque.values()),
            sum(1 for guid in notes if guid not in session.built.notes),
            topics=topics,
            blocks=blocks,
        )
    if changed:
        # What this push changed in Anki (tags, note types) was stamped now: a later push stamps later.
        state.mods[session.live.profile] = _stamped(session, stamp)
    return state


def _blocks(
    notes: dict[str, PushedNote], built: BuiltPackages, topics: dict[str, list], opaque: dict[str, list]
) -> tuple[list[list[list]], dict[str, list]]:
    """The built notes' ids by project tags, and the check's blocks of the push state (one per deck of the
    records; see ``PushCheck.blocks``), where they are in the file left for ``save_state`` to set.

    A deck whose records are exactly one package's notes (``topics``) names that package. The blocks left
    undecoded (``opaque``) stay as they were.
    """
    by_deck: dict[str, list[str]] = defaultdict(list)
    for guid, record in notes.items():
        by_deck[record.deck].append(guid)
    pure = {deck: (name, count) for name, (deck, count) in topics.items()}
    blocks = {}
    for deck, guids in by_deck.items():
        name, count = pure.get(deck, ("", 0))
        blocks[deck] = [0, 0, len(guids), name if count == len(guids) else "", _tag_groups(notes, built, guids)]
    clash = blocks.keys() & opaque.keys()
    for deck, block in opaque.items():
        blocks[deck] = [*block[:4], block[4]] if deck not in clash else [0, 0, -1, "", block[4]]
    tags, blocks = merge_blocks(blocks)
    # Records of a deck left undecoded beside new ones of it (which a push avoids): no blocks for the next push.
    return tags, ({} if clash else blocks)


def _tag_groups(notes: dict[str, PushedNote], built: BuiltPackages, guids: list[str]) -> list[list[list]]:
    # The built notes' ids, grouped by the project tags each carries (none too): one search finds those that
    # lost one, and the groups together are the notes this push built.
    # Grouped by the tags as recorded first (most notes share a few lists), then by the sorted tags.
    as_recorded: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for guid in guids:
        if guid in built.notes:
            record = notes[guid]
            as_recorded[tuple(record.tags)].append(record.note_id)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for tags, ids in as_recorded.items():
        groups[tuple(sorted(tags))] += ids
    return [[list(tags), sorted(ids)] for tags, ids in sorted(groups.items())]


def _records(plan: Plan, trusted: set[str]) -> dict[str, PushedNote]:
    # Notes the plan matched (less those not read, whose records stand), as records that carry only their
    # note id: enough to find them again.
    return {
        guid: PushedNote(guid, "", note_id, "", "", {}, [])
        for guid, note_id in plan.matched.items()
        if guid not in trusted
    }


def _quote(deck: str) -> str:
    return deck.replace("\\", "\\\\").replace('"', '\\"')


def plan_lines(plan: Plan, *, delete: bool = False) -> list[str]:
    """The plan as a user reads it, one line per kind of change."""
    lines = []

    def listing(items, verb: str, detail=lambda c: c.entry) -> None:
        if items:
            names = ", ".join(detail(c) for c in items[:8]) + (", ..." if len(items) > 8 else "")
            lines.append(f"  {verb}: {len(items)} ({names})")

    for change in plan.note_types:
        if change.dropped:
            continue
        lines.append(f"  note type changed in place: {change.describe()}")
    listing(plan.added, "add")
    listing(plan.updated, "update")
    listing(plan.moved, "move", lambda c: f"{c.entry} -> {c.deck}")
    for old, new in sorted(plan.renamed_decks.items()):
        lines.append(f"  rename deck: '{old}' -> '{new}'")
    listing(plan.removed, "delete" if delete else f"remove (tag {REMOVED_TAG}, suspend)")
    if delete:
        listing(plan.already_removed, "delete (removed earlier)")
    listing(plan.restored, "restore (back in the YAML)")
    listing([c for c in plan.retagged if c not in plan.restored], "retag")
    listing(plan.edited_in_anki, "keep edits made in Anki (`decks pull` takes them)")
    listing(plan.conflicts, "conflict, left as is (see `decks status`)")
    if plan.unchanged:
        lines.append(f"  unchanged: {plan.unchanged}")
    if plan.unread:
        what = "the build" if plan.quick else "their entries"
        lines.append(
            f"  not read back: {plan.unread} ({what}, and the project's note ids, note types, tags and suspended "
            "cards in Anki, are as the last push left them; edits of fields made in Anki show in `decks status`)"
        )
    return lines


def refuse_if_needed(plan: Plan) -> None:
    """Stop before acting when removals are refused or a note type would lose a field."""
    problems = list(plan.refusals)
    for change in plan.note_types:
        if change.dropped:
            problems.append(
                f"note type '{change.name}' in Anki has field(s) {', '.join(repr(f) for f in change.dropped)} the "
                "project no longer has: decks never deletes a field and its contents. Remove it in Anki "
                "(Tools > Manage Note Types) or put it back, then push again"
            )
    if problems:
        raise DecksError("\n".join(problems) + "\nNothing was changed in Anki.")
