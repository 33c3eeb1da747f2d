"""The build: load and validate every topic, render, package, write. Nothing is written on any error.

Topics go through the pipeline one at a time, so memory holds one topic's entries at once, not the
project's. A rebuild reads again only the topic files whose fingerprint changed, and packages only
what those feed (see incremental.py); checks across files still see every topic.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from builder.atomic import folder_lock, remove_stale_temps
from builder.breaks import NoteSeen, note_breaks, note_type_breaks, project_breaks
from builder.config import Config
from builder.errors import DecksError, Problem, ProblemsError
from builder.identity import deck_name
from builder.incremental import (
    MEDIA_DIR,
    build_stamp,
    is_current,
    is_written,
    media_clash_problems,
    media_unchanged,
    package_fingerprint,
    record_for,
    topic_fingerprint,
    topic_key,
)
from builder.load import CrossFileCheck, TopicSummary, no_topics_error, topic_files, unread_files
from builder.manifest import (
    CACHE_NAME,
    LOCK_NAME,
    DamagedCache,
    LockHead,
    Manifest,
    TopicRecord,
    damage_note,
    load_state,
    read_lock_head,
)
from builder.nochange import Signatures, options_key
from builder.reimport import earlier_layout_notices, emptied_cards_notice
from builder.rules import duplicates_are_errors
from builder.templatedirs import layout_stamp, template_dirs
from builder.topics import file_titles, select_slugs
from builder.worker import STAGES, PendingPackage, TopicWorker

if TYPE_CHECKING:
    from builder.ahead import NoteTypesAhead
    from builder.atomic import StagedWrites
    from builder.reimport import ReimportPlan


class BuiltTopic:
    """A topic file as the build knows it after reading or trusting it: its deck title and entry count."""

    # Plain classes rather than dataclasses, which would cost every build the making of their methods at import.
    __slots__ = ("slug", "path", "title", "entries")

    def __init__(self, slug: str, path: str, title: str, entries: int) -> None:
        self.slug = slug
        self.path = path
        self.title = title
        self.entries = entries

    def __eq__(self, other: object) -> bool:
        if type(other) is not BuiltTopic:
            return NotImplemented
        return (self.slug, self.path, self.title, self.entries) == (other.slug, other.path, other.title, other.entries)

    __hash__ = None


class BuildResult:
    """What a build produced."""

    def __init__(self, output_dir: Path, topics: int = 0) -> None:
        self.output_dir = output_dir
        self.written: list[Path] = []
        self.unchanged: list[Path] = []
        # Packages an earlier build wrote for topics that are gone (or renamed), deleted now.
        self.removed: list[Path] = []
        self.topics = topics
        self.notes = 0
        self.cards = 0
        # Topic files read this time (the rest were known unchanged from the last build).
        self.read = 0
        # What a re-import into Anki will not do by itself, and what to do about it.
        self.notices: list[str] = []
        # Seconds spent in each stage, in STAGES order (summed over processes when there are two).
        self.timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        # Every topic file of the project, in file order, as this build knows it (empty when it does not know them
        # all).
        self.sources: list[BuiltTopic] = []
        # The ids of the note types the build state records once the build is done (None: not told).
        self.note_type_ids: set[int] | None = None
        # The SHA-256 of each package and of decks.lock as the build hashed or wrote them, by path (None: not told).
        self.hashes: dict[str, str] | None = None

    @property
    def files(self) -> list[Path]:
        return sorted(self.written + self.unchanged)

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Add the time spent in the block to a stage."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - start


def build(
    config: Config,
    *,
    topics: Sequence[str] = (),
    single: bool = False,
    output_dir: Path | None = None,
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None = None,
    jobs: int = 0,
    new_identity: bool = False,
    ahead: NoteTypesAhead | None = None,
    freeze: bool = False,
) -> BuildResult:
    """Build decks into ``output_dir`` (the config's by default): one .apkg per topic, or one in all.

    ``progress`` wraps the list of packages to write, to report as each one is done. ``jobs`` is how
    many processes read and render topics: 0 picks one or two by the size of the work.
    ``new_identity`` lets renamed ids and a renamed project through as new notes (see breaks.py).
    ``ahead``, a process making the note types since before this was called (ahead.py), is where the build
    takes them from when it cannot take them from its cache; its caller lets it go.
    ``freeze``, for a process that ends after this build: what is still alive as it ends is never walked by the
    cyclic garbage collector again (see gc.freeze), and its build state is left for the process's end to free.
    """
    gc_was_enabled = gc.isenabled()
    # A build makes millions of small objects and no garbage cycles worth finding: the cyclic
    # collector would spend a third of the build walking them.
    gc.disable()
    try:
        out = (output_dir or config.output_dir).resolve()
        with contextlib.ExitStack() as lock:
            # The project's build state is read and saved holding the project folder's lock, so a
            # concurrent build (into any output folder) reads it only after this one saved it. The
            # output folder is made and locked only once nothing can fail on bad input.
            _lock(lock, config, config.root)
            try:
                return _build(config, out, topics, single, progress, jobs, lock, new_identity, ahead, leave=freeze)
            except DamagedCache:
                # A part of the cache read only when needed was damaged (before anything was written or the
                # output folder locked): the build starts again as if there were no cache.
                return _build(
                    config, out, topics, single, progress, jobs, lock, new_identity, ahead, cache=False, leave=freeze
                )
    finally:
        # Turned back on, the collector would walk every object made during the build at the next allocation
        # (about 10 ms at 10,000 entries), however few are still alive: they are all in its youngest generation.
        if freeze:
            gc.freeze()
        if gc_was_enabled:
            gc.enable()


# The build state of a build whose process ends right after it (``freeze``): freed object by object as the build
# returns, its note stamps and lock lines took about 5 ms at 10,000 notes, which the process's end skips.
_LEFT: list[Manifest] = []


def _lock(stack: contextlib.ExitStack, config: Config, out: Path) -> None:
    try:
        stack.enter_context(folder_lock(out))
    except OSError as exc:
        raise _write_error(config, out, exc) from exc


def _write_error(config: Config, out: Path, exc: OSError) -> DecksError:
    where = config.rel(Path(exc.filename)) if exc.filename else config.rel(out)
    return DecksError(f"cannot write {where}: {exc.strerror or exc}")


def _build(
    config: Config,
    out: Path,
    slugs: Sequence[str],
    single: bool,
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None,
    jobs: int,
    lock: contextlib.ExitStack,
    new_identity: bool,
    ahead: NoteTypesAhead | None = None,
    cache: bool = True,
    leave: bool = False,
) -> BuildResult:
    files = topic_files(config)
    if not files:
        raise no_topics_error(config)
    by_slug = {path.stem: path for path in files}
    chosen = select_slugs(list(by_slug), slugs, lambda: file_titles(by_slug))

    lock_path = config.root / LOCK_NAME
    if lock_path.is_dir() or (lock_path.exists() and not lock_path.is_file()):
        raise DecksError(f"{LOCK_NAME}: is not a file; the build records its state there, so move it away")
    groups = [(f"{config.project}.apkg", chosen)] if single else [(f"{s}.apkg", [s]) for s in chosen]
    # Signed before they are read, for the record that lets the next build skip all this (nochange.py).
    signed = Signatures()
    signed.inputs(config, by_slug.values())
    signed.add(out / CACHE_NAME)
    options = options_key(single=single, topics=slugs, new_identity=new_identity)
    folders = template_dirs(config.templates_dir)
    layouts = layout_stamp(folders)
    stamp = build_stamp(config, folders, layouts)
    fingerprints = {slug: topic_fingerprint(stamp, path) for slug, path in by_slug.items()}
    head = read_lock_head(config, out) if cache else None
    try:
        unchanged = _unchanged_build(config, out, head, by_slug, chosen, groups, fingerprints, complete=not slugs)
    except (TypeError, ValueError, LookupError, AttributeError):
        # A cache not as this builder writes it (copied, or made by hand): the full build decides.
        unchanged = head = None
    if unchanged is not None:
        _lock(lock, config, out)
        remove_stale_temps(out)
        remove_stale_temps(config.root)
        for _ in progress([]) if progress else ():
            pass  # shown as the full build shows it: no package to write
        _record(signed, config, out, options, unchanged, head.state, [])
        return unchanged

    manifest = load_state(config, out, head, cache=cache)
    # Identity breaks the state shows before any topic is read; those of entries come with their topics.
    breaks = project_breaks(config, manifest, new_identity=new_identity) + note_type_breaks(config, manifest)
    project_changed = manifest.project is not None and manifest.project != config.project
    # Notes are known by their entry ids only under the project they were built for.
    known = {} if project_changed else manifest.known_guids()
    # Topics known unchanged since the last build: same file, same everything else, same media.
    cached = {
        slug: record
        for slug, record in manifest.topics.items()
        if slug in by_slug and record.fingerprint == fingerprints[slug] and media_unchanged(config, record)
    }

    result = BuildResult(out, topics=len(chosen))
    stale: dict[str, PendingPackage] = {}
    for name, group in groups:
        record = manifest.packages.get(name)
        if all(s in cached for s in group) and is_current(
            record, package_fingerprint(name, [topic_key(cached[s]) for s in group]), out / name
        ):
            result.unchanged.append(out / name)
            result.notes += record.notes
            result.cards += record.cards
        else:
            package = PendingPackage(out / name, group, waiting=len(group))
            for slug in group:
                stale[slug] = package

    # Topics to read: those packaged now, and those changed since the last build (for their problems).
    to_read = [slug for slug in by_slug if slug in stale or slug not in cached]
    result.read = len(to_read)
    worker = TopicWorker(config, by_slug, stale, manifest, known, stamp, ahead, layouts) if to_read else None
    outcomes = worker.run_all(to_read, jobs) if worker else iter(())

    # Checked as topics come, so that nothing is packed once two entries share an id.
    across = CrossFileCheck()
    media: list[tuple[str, list[tuple]]] = []
    problems: list[Problem] = list(breaks)
    seen: list[NoteSeen] = []
    media_problems: list[Problem] = []
    # Filled in by the worker once the note types are made (with two processes, by its first outcome).
    template_problems: list[Problem] = worker.template_problems if worker else []
    # Notes built before whose content this build changes (a re-import replaces their tags).
    updated = 0
    # GUID -> the card ordinals its note had last time and makes no more (Anki keeps them, empty).
    emptied: dict[str, list[int]] = {}
    records: dict[str, TopicRecord] = {}
    # Each topic's prompts in file order: a topic not read gives its record, whose prompts are decoded only if
    # compared.
    prompts: list[TopicRecord | list[tuple]] = []
    # The duplicate rules' keys of the prompts the topics read give anew, when some topics are not read: the
    # others passed the rules together when last built, with these topics' prompts as recorded then. (A build
    # that reads every topic compares every prompt, and keeps no such set.)
    changed_keys: set[str] | None = set() if len(to_read) < len(by_slug) else None
    # A state that holds no note (a clean build) has no stamp a new one could replace, and no note that moved.
    noteless = not manifest.has_notes()
    for slug, path in by_slug.items():
        if slug not in to_read:
            record = records[slug] = cached[slug]
            prompts.append(record)
            # Where the title is written is looked up only for a message, from the file itself.
            summary = TopicSummary(config.rel(path), record.title, record.ids, locate=path, was=record.was)
            problems.extend(across.add(summary))
            if slug in chosen:
                media.append((config.rel(path), record.media))
            continue
        outcome = next(outcomes)
        for stage, seconds in outcome.timings.items():
            result.timings[stage] += seconds
        problems.extend(outcome.problems)
        seen.extend(outcome.seen)
        prompts.append(outcome.prompts)
        if changed_keys is not None and outcome.prompts:
            changed_keys.update(_new_keys(outcome.prompts, manifest.topics.get(slug)))
        if outcome.summary is not None:
            problems.extend(across.add(outcome.summary))
        if slug in chosen:
            media_problems.extend(outcome.media_problems)
            if outcome.media is not None:
                media.append((config.rel(path), outcome.media.uses))
        if not outcome.problems and not outcome.media_problems and outcome.media is not None:
            record = records[slug] = outcome.record(fingerprints[slug])
            if outcome.record_text is not None:
                manifest.keep_topic_text(slug, record, outcome.record_text)
        # Once anything is wrong nothing will be written: the rest is only read for its problems.
        if not (problems or media_problems or template_problems):
            # The build state's one writer is the build: it adopts the stamps stamping decided.
            lines, deck = None, ""
            if outcome.packed is not None:
                stamps = worker.accept(stale[slug], outcome.packed)
                lines, deck = outcome.packed.lines, outcome.packed.deck
            elif outcome.draft is not None:
                with result.timing("package"):
                    stamps = worker.pack(stale[slug], outcome.draft, outcome.media)
            else:
                stamps = {}
            if not noteless:
                updated += _updated_notes(manifest, stamps)
                emptied.update(_emptied_cards(manifest, stamps))
            manifest.adopt(stamps, lines, deck)

    # Kept no longer than needed: at 100,000 entries they are tens of megabytes, and the state's
    # encoding, the build's peak of memory, is still to come.
    del across
    # With no topic read, every topic is as a build that checked them together left it.
    if to_read and duplicates_are_errors(config):
        from builder.check import duplicate_errors

        problems.extend(duplicate_errors(config, _in_order(prompts), changed_keys))
    del prompts, changed_keys
    renamed: dict[str, str] = {}
    if not problems:
        current = {guid for record in records.values() for guid in record.guids}
        found, renamed = note_breaks(manifest, seen, current, new_identity=new_identity)
        problems.extend(found)
        if project_changed:
            # Every old note is started afresh: told as such, and forgotten whichever topics are built.
            renamed = {guid: "" for guid in manifest.guids()}
    if problems:
        raise ProblemsError(problems)
    media_problems.extend(media_clash_problems(media))
    if media_problems:
        raise ProblemsError(media_problems)
    if template_problems:
        raise ProblemsError(template_problems)

    # Told before this build's note types replace those of the earlier layout in the state.
    layout_notices = earlier_layout_notices(config, manifest)
    if worker is not None:
        for kind, record in worker.packager.note_types.items():
            manifest.record_note_type(kind, record)
        if worker.layouts is not None and worker.layouts != manifest.layouts:
            manifest.layouts = worker.layouts
            manifest.cache_changed = True
    # Nothing can fail on bad input any more: only now is the output folder touched.
    first = _first_build_note(manifest, out)
    _lock(lock, config, out)
    result.sources = _sources(config, by_slug, records)
    plan = _notices(
        config,
        manifest,
        records,
        chosen,
        to_read,
        complete=not slugs or project_changed,
        renamed=renamed,
        fresh=noteless,
    )
    plan.apply(manifest)
    unread = [f"{path} {why}" for path, why in unread_files(config)]
    result.notices = unread + [n for n in (damage_note(manifest), first) if n] + layout_notices + plan.notices
    if updated:
        result.notices.append(_tags_note(updated))
    where = {s.guid: s for s in seen} if emptied else {}
    shrunk = [(where[g].path, where[g].line, where[g].entry, ords) for g, ords in emptied.items() if g in where]
    if shrunk:
        result.notices.append(emptied_cards_notice(shrunk))
    sums: dict[Path, int] = {}
    try:
        remove_stale_temps(out)
        remove_stale_temps(config.root)
        _write(config, out, manifest, result, stale, records, by_slug, progress, sums)
    except OSError as exc:
        raise _write_error(config, out, exc) from exc
    # The note types as saved (a push asks Anki about them).
    result.note_type_ids = {record.id for record in manifest.note_types.values()}
    # The bytes of each package and of the state, as hashed or written here (a push hashes what it pushes).
    result.hashes = {str(path): manifest.packages[path.name].sha256 for path in result.files}
    if manifest.lock_digest:
        result.hashes[str(config.root / LOCK_NAME)] = manifest.lock_digest
    # What a rebuild would find now, from the state just saved: the packages are the bytes written.
    now = Manifest(project=config.project, note_types=manifest.note_types, topics=records, packages=manifest.packages)
    now.lock_digest = manifest.lock_digest
    following = _unchanged_result(
        config, out, by_slug, chosen, groups, fingerprints, now, len(manifest.guids()), complete=not slugs, saved=True
    )
    # The cache as just saved (only builds write it, holding the folder's lock).
    _record(signed, config, out, options, following, now, [(out / CACHE_NAME, None)], sums)
    if leave:
        # One at most: a caller running the command again in one process frees the one before.
        _LEFT[:] = [manifest]
    return result


def _new_keys(prompts: list[tuple], recorded: TopicRecord | None) -> set[str]:
    """The keys of a topic's prompts that its record from the last build does not hold as they are now.

    A prompt recorded the same (entry id, place, key, answer, `allow:`) stands where it stood against every
    other prompt when they passed the duplicate rules together; only a new or changed one can make an error.
    """
    before = set(recorded.decoded_prompts()) if recorded is not None else set()
    return {p[5] for p in prompts if p not in before}


def _in_order(sources: list[TopicRecord | list[tuple]]) -> Iterator[tuple]:
    """Every prompt in file order; a record's decoded only when this gets to it."""
    for source in sources:
        yield from source.decoded_prompts() if isinstance(source, TopicRecord) else source


def _updated_notes(manifest: Manifest, stamps: dict[str, tuple]) -> int:
    """How many of these new stamps change a note built before (whose content a re-import replaces)."""
    count = 0
    for guid, values in stamps.items():
        old = manifest.stamp_of(guid)
        if old is not None and old.deck and old.hash != values[0]:
            count += 1
    return count


def _emptied_cards(manifest: Manifest, stamps: dict[str, tuple]) -> dict[str, list[int]]:
    """Notes built before whose new stamp has fewer cards: GUID -> the ordinals gone."""
    out = {}
    for guid, values in stamps.items():
        old = manifest.stamp_of(guid)
        if old is not None:
            gone = sorted(set(old.cards) - set(values[3]))
            if gone:
                out[guid] = gone
    return out


def _tags_note(updated: int) -> str:
    """What a re-import of updated notes does to the tags added to them in Anki."""
    notes = "1 note" if updated == 1 else f"{updated} notes"
    return (
        f"{notes} changed: importing the package updates {'it' if updated == 1 else 'them'} and replaces the "
        "tags added in Anki to an updated note (leech, marked, your own) with the project's. `decks push` "
        "keeps them (docs/live.md)."
    )


def _unchanged_build(
    config: Config,
    out: Path,
    head: LockHead | None,
    by_slug: dict[str, Path],
    chosen: list[str],
    groups: list[tuple[str, list[str]]],
    fingerprints: dict[str, str | None],
    *,
    complete: bool,
) -> BuildResult | None:
    """The result of a build that would read no topic and write nothing, found without reading the notes in
    decks.lock (most of a no-change rebuild's time); None when the build has anything to do or to say.

    It holds when the cache was made with this very lock, every topic and package is as that build left
    them, and the lock holds no note that no topic builds (a removal a ``--topic`` build left untold):
    then the full build would find what that build found (no problem, no change) and write nothing.
    """
    if head is None:
        return None
    return _unchanged_result(
        config, out, by_slug, chosen, groups, fingerprints, head.state, head.notes, complete=complete
    )


def _unchanged_result(
    config: Config,
    out: Path,
    by_slug: dict[str, Path],
    chosen: list[str],
    groups: list[tuple[str, list[str]]],
    fingerprints: dict[str, str | None],
    state: Manifest,
    notes: int,
    *,
    complete: bool,
    saved: bool = False,
) -> BuildResult | None:
    """What a build finds with nothing to do, from a state holding ``notes`` notes (None: it has something).

    ``state`` is the lock's head with the cache as read, whose packages and media are hashed to be trusted;
    or, ``saved``, the state this build has just saved, whose packages hold the bytes it wrote or checked
    and whose media it has just hashed.
    """
    if state.project != config.project or project_breaks(config, state) or note_type_breaks(config, state):
        return None
    if state.topics.keys() != by_slug.keys():
        return None
    for slug, record in state.topics.items():
        if record.fingerprint != fingerprints[slug] or not (saved or media_unchanged(config, record)):
            return None
    # A package of a topic gone would be removed, and the cache saved without it.
    names = {f"{config.project}.apkg", *(f"{slug}.apkg" for slug in by_slug)}
    if any(name not in names for name in state.packages):
        return None
    if complete and notes != sum(len(record.guids) for record in state.topics.values()):
        return None
    if media_clash_problems([(config.rel(by_slug[s]), state.topics[s].media) for s in chosen]):
        return None
    result = BuildResult(out, topics=len(chosen))
    for name, group in groups:
        record = state.packages.get(name)
        fingerprint = package_fingerprint(name, [topic_key(state.topics[s]) for s in group])
        if saved and (record is None or record.fingerprint != fingerprint):
            return None
        if not saved and not is_current(record, fingerprint, out / name):
            return None
        result.unchanged.append(out / name)
        result.notes += record.notes
        result.cards += record.cards
    unread = [f"{path} {why}" for path, why in unread_files(config)]
    result.notices = unread + earlier_layout_notices(config, state)
    result.sources = _sources(config, by_slug, state.topics)
    result.note_type_ids = {record.id for record in state.note_types.values()}
    # Each package's bytes as hashed above (or written by the build that saved ``state``), and the state's.
    result.hashes = {str(path): state.packages[path.name].sha256 for path in result.unchanged}
    if state.lock_digest:
        result.hashes[str(config.root / LOCK_NAME)] = state.lock_digest
    return result


def _record(
    signed: Signatures,
    config: Config,
    out: Path,
    options: list,
    following: BuildResult | None,
    state: Manifest,
    files: list[tuple[Path, str | None]],
    sums: dict[Path, int] | None = None,
) -> None:
    """Record for the next build with these options what it would report (nochange.py), or that it must decide
    in full. ``state`` is what that build would read; ``files``, more files to sign now; ``sums``, the CRC-32
    of the files this build has just written."""
    report = None
    if following is not None:
        report = {
            "where": config.rel(out),
            "topics": following.topics,
            "notes": following.notes,
            "cards": following.cards,
            "unchanged": [path.name for path in following.unchanged],
            "notices": following.notices,
            "stages": list(following.timings),
        }
        # The state and the packages with the bytes this build read or wrote; the media with those it hashed.
        files = [
            *files,
            (config.root / LOCK_NAME, state.lock_digest),
            *((out / name, state.packages[name].sha256) for name in (p.name for p in following.unchanged)),
            *((config.root / MEDIA_DIR / use[1], use[2]) for record in state.topics.values() for use in record.media),
        ]
    with contextlib.suppress(OSError):  # only the next build's shortcut is lost
        signed.record(config, out, options, report, files, sums or {})


def _sources(config: Config, by_slug: dict[str, Path], records: dict[str, TopicRecord]) -> list[BuiltTopic]:
    """The topic files as their records give them; empty unless every file has one."""
    if any(slug not in records for slug in by_slug):
        return []
    return [
        BuiltTopic(slug, config.rel(path), records[slug].title, len(records[slug].ids))
        for slug, path in by_slug.items()
    ]


def _first_build_note(manifest: Manifest, out: Path) -> str | None:
    """With no build state, and decks already in the output folder: what importing them again costs."""
    if not manifest.fresh or manifest.damaged is not None:
        return None
    try:
        decks = any(p.suffix == ".apkg" for p in out.iterdir())
    except OSError:
        return None
    if not decks:
        return None
    return (
        f"no build state ({LOCK_NAME}) describes the decks already in this output folder: if they are in "
        "your Anki collection, importing these overwrites edits made in Anki to unchanged notes (review "
        f"history is kept). If this project has a {LOCK_NAME} elsewhere, copy it into the project folder first."
    )


def _notices(
    config: Config,
    manifest: Manifest,
    records: dict[str, TopicRecord],
    chosen: list[str],
    read: list[str],
    *,
    complete: bool,
    renamed: dict[str, str],
    fresh: bool = False,
) -> ReimportPlan:
    """What a re-import will not do by itself (see reimport.py), and what the state should record of it.

    Only notes of topics read again can have moved: those of a topic known unchanged are where the
    package written last time put them. So only they, and the notes gone, are looked up; none when the state
    held no note before this build (``fresh``): every note is new, and is only placed.
    """
    from builder.reimport import Previous, ReimportPlan, reimport_notices

    gone: set[str] = set()
    if complete and not fresh:
        gone = manifest.guids() - {guid for slug in chosen for guid in records[slug].guids}
    again = [slug for slug in chosen if slug in read]
    if not again and not gone:
        return ReimportPlan()
    placed: dict[str, str] = {}
    for slug in again:
        placed.update(dict.fromkeys(records[slug].guids, deck_name(config.root_deck, records[slug].title)))
    previous = {}
    for guid in () if fresh else [*placed, *gone]:
        stamp = manifest.stamp_of(guid)
        # A note built now that was never placed in a deck (new in this build) cannot have moved.
        if stamp is not None and (stamp.deck or guid in gone):
            previous[guid] = Previous(stamp.deck, stamp.id)
    decks = {deck_name(config.root_deck, records[slug].title) for slug in chosen}
    return reimport_notices(previous, placed, complete=complete, decks=decks, renamed=renamed)


def _write(
    config: Config,
    out: Path,
    manifest: Manifest,
    result: BuildResult,
    stale: dict[str, PendingPackage],
    records: dict[str, TopicRecord],
    by_slug: dict[str, Path],
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None,
    sums: dict[Path, int],
) -> None:
    """Write the packed packages, remove stale ones, and save the build state: the one place it is saved.

    Every file is staged before the first is renamed into place: a write that fails leaves them all as they were.
    ``sums`` gets the CRC-32 of each file's bytes, for the no-change record (which need not read them back).
    """
    from builder.atomic import StagedWrites

    with StagedWrites() as staged:
        removed = _stage(config, out, manifest, result, stale, records, by_slug, progress, staged)
        sums.update(staged.checksums)
        with result.timing("write"):
            staged.commit()
    # Only once every new file is in place: packages of topics that are gone, and a state taken over.
    for path in removed:
        path.unlink(missing_ok=True)
        result.removed.append(path)
    if manifest.legacy is not None and manifest.lock_digest:
        # Taken over into decks.lock: the older state would only mislead a later build.
        manifest.legacy.unlink(missing_ok=True)


def _stage(
    config: Config,
    out: Path,
    manifest: Manifest,
    result: BuildResult,
    stale: dict[str, PendingPackage],
    records: dict[str, TopicRecord],
    by_slug: dict[str, Path],
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None,
    staged: StagedWrites,
) -> list[Path]:
    """Stage the packages, the lock and the cache; return the stale packages to remove after."""
    packages = list(dict.fromkeys(stale.values()))
    for package in progress(packages) if progress else packages:
        with result.timing("write"):
            written = staged.add(package.path, package.data, sync=False)
        (result.written if written else result.unchanged).append(package.path)
        fingerprint = package_fingerprint(package.path.name, [topic_key(records[s]) for s in package.slugs])
        manifest.packages[package.path.name] = record_for(package.data, fingerprint, package.notes, package.cards)
        # Staged in its temp file: the bytes need not stay in memory while the state is encoded.
        package.data = None
        result.notes += package.notes
        result.cards += package.cards
        manifest.cache_changed = True
    if records != manifest.topics:
        manifest.topics = records
        manifest.cache_changed = True
    # Packages of topics that are gone (or whose file was renamed): deleted when the file is still the
    # one this builder wrote, so a file put there by anyone else is never touched.
    names = {f"{config.project}.apkg", *(f"{slug}.apkg" for slug in by_slug)}
    removed = []
    for name in sorted(n for n in manifest.packages if n not in names):
        path = out / name
        if is_written(manifest.packages.pop(name), path):
            removed.append(path)
        manifest.cache_changed = True
    # The packages reach the disk while the state is encoded.
    staged.sync_in_background()
    # Saved last: a build cut short before here stamps its changed notes again, never older.
    digest = manifest.lock_digest
    if manifest.changed:
        staged.add(config.root / LOCK_NAME, manifest.lock_bytes(config.project), sync=False)
        # Flushed while the cache is encoded and flushed.
        staged.sync_in_background()
    if manifest.cache_changed or manifest.lock_digest != digest or not (out / CACHE_NAME).is_file():
        staged.add(out / CACHE_NAME, manifest.cache_bytes())
    return removed
