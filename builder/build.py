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
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import folder_lock, remove_stale_temps
from builder.config import Config
from builder.errors import DecksError, Problem, ProblemsError
from builder.incremental import (
    build_stamp,
    is_current,
    media_clash_problems,
    media_unchanged,
    package_fingerprint,
    record_for,
    topic_fingerprint,
    topic_key,
)
from builder.kinds import KINDS
from builder.load import CrossFileCheck, TopicSummary, no_topics_error, topic_files, unread_files
from builder.manifest import MANIFEST_NAME, Manifest, NoteTypeNames, TopicRecord
from builder.templatedirs import template_dirs
from builder.topics import file_titles, select_slugs
from builder.worker import STAGES, PendingPackage, TopicWorker


@dataclass
class BuildResult:
    """What a build produced."""

    output_dir: Path
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    topics: int = 0
    notes: int = 0
    cards: int = 0
    # Topic files read this time (the rest were known unchanged from the last build).
    read: int = 0
    # What a re-import into Anki will not do by itself, and what to do about it.
    notices: list[str] = field(default_factory=list)
    # Seconds spent in each stage, in STAGES order (summed over processes when there are two).
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

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
) -> BuildResult:
    """Build decks into ``output_dir`` (the config's by default): one .apkg per topic, or one in all.

    ``progress`` wraps the list of packages to write, to report as each one is done. ``jobs`` is how
    many processes read and render topics: 0 picks one or two by the size of the work.
    """
    gc_was_enabled = gc.isenabled()
    # A build makes millions of small objects and no garbage cycles worth finding: the cyclic
    # collector would spend a third of the build walking them.
    gc.disable()
    try:
        out = (output_dir or config.output_dir).resolve()
        with contextlib.ExitStack() as lock:
            # The manifest is read and saved holding the output folder's lock, so a concurrent build
            # reads it only after this one saved it. A folder that does not exist yet is made (and
            # locked) only once nothing can fail on bad input.
            locked = out.is_dir()
            if locked:
                _lock(lock, config, out)
            result = _build(config, out, topics, single, progress, jobs, lock, locked)
        if result is None:  # another build made the folder meanwhile: build again against its manifest
            return build(config, topics=topics, single=single, output_dir=out, progress=progress, jobs=jobs)
        return result
    finally:
        if gc_was_enabled:
            gc.enable()


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
    locked: bool,
) -> BuildResult | None:
    files = topic_files(config)
    if not files:
        raise no_topics_error(config)
    by_slug = {path.stem: path for path in files}
    chosen = select_slugs(list(by_slug), slugs, lambda: file_titles(by_slug))

    manifest_path = out / MANIFEST_NAME
    manifest = Manifest.load(manifest_path)
    # Recorded even when nothing is packaged (a manifest from before they were kept gets them).
    for name, kind in KINDS.items():
        names = NoteTypeNames(kind.note_fields, tuple(card.name for card in kind.cards))
        manifest.record_note_type_names(config.note_type_ids[name], names)
    stamp = build_stamp(config, template_dirs(config.templates_dir))
    fingerprints = {slug: topic_fingerprint(stamp, path) for slug, path in by_slug.items()}
    # Topics known unchanged since the last build: same file, same everything else, same media.
    cached = {
        slug: record
        for slug, record in manifest.topics.items()
        if slug in by_slug and record.fingerprint == fingerprints[slug] and media_unchanged(config, record)
    }

    result = BuildResult(out, topics=len(chosen))
    groups = [(f"{config.project}.apkg", chosen)] if single else [(f"{s}.apkg", [s]) for s in chosen]
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
    worker = TopicWorker(config, by_slug, stale, manifest) if to_read else None
    outcomes = worker.run_all(to_read, jobs) if worker else iter(())

    # Checked as topics come, so that nothing is packed once two entries share an id.
    across = CrossFileCheck()
    media: list[tuple[str, list[tuple]]] = []
    problems: list[Problem] = []
    media_problems: list[Problem] = []
    template_problems: list[Problem] = []
    records: dict[str, TopicRecord] = {}
    for slug, path in by_slug.items():
        if slug not in to_read:
            record = records[slug] = cached[slug]
            # Where the title is written is looked up only for a message, from the file itself.
            summary = TopicSummary(config.rel(path), record.title, record.ids, locate=path)
            problems.extend(across.add(summary))
            if slug in chosen:
                media.append((config.rel(path), record.media))
            continue
        outcome = next(outcomes)
        for stage, seconds in outcome.timings.items():
            result.timings[stage] += seconds
        problems.extend(outcome.problems)
        if outcome.summary is not None:
            problems.extend(across.add(outcome.summary))
        if slug in chosen:
            media_problems.extend(outcome.media_problems)
            if outcome.media is not None:
                media.append((config.rel(path), outcome.media.uses))
        if not outcome.problems and not outcome.media_problems and outcome.media is not None:
            summary = outcome.summary
            records[slug] = TopicRecord(
                fingerprints[slug], summary.title, list(summary.ids), outcome.media.uses, outcome.guids
            )
        # Once anything is wrong nothing will be written: the rest is only read for its problems.
        if not (problems or media_problems or template_problems):
            if outcome.packed is not None:
                worker.accept(stale[slug], outcome.packed)
            elif outcome.draft is not None:
                with result.timing("package"):
                    worker.pack(stale[slug], outcome.draft, outcome.media)
        template_problems.extend(outcome.template_problems)

    if problems:
        raise ProblemsError(problems)
    media_problems.extend(media_clash_problems(media))
    if media_problems:
        raise ProblemsError(media_problems)
    if template_problems:
        raise ProblemsError(template_problems)

    # Nothing can fail on bad input any more: only now is the output folder touched.
    if not locked:
        _lock(lock, config, out)
        if (out / MANIFEST_NAME).exists():
            return None
    result.notices = [f"{path} {why}" for path, why in unread_files(config)] + _notices(
        config, manifest, records, chosen, to_read, complete=not slugs
    )
    try:
        remove_stale_temps(out)
        _write(config, out, manifest, result, stale, records, by_slug, progress)
    except OSError as exc:
        raise _write_error(config, out, exc) from exc
    return result


def _notices(
    config: Config,
    manifest: Manifest,
    records: dict[str, TopicRecord],
    chosen: list[str],
    read: list[str],
    *,
    complete: bool,
) -> list[str]:
    """What a re-import will not do by itself (see reimport.py), with the manifest updated to this build.

    Only notes of topics read again can have moved: those of a topic known unchanged are where the
    package written last time put them. So only they, and the notes gone, are looked up.
    """
    built = {guid for slug in chosen for guid in records[slug].guids}
    gone = manifest.guids() - built if complete else set()
    again = [slug for slug in chosen if slug in read]
    if not again and not gone:
        return []
    from builder.package import deck_name
    from builder.reimport import Previous, reimport_notices

    placed = {guid: deck_name(config, records[slug].title) for slug in again for guid in records[slug].guids}
    previous = {}
    for guid in [*placed, *gone]:
        stamp = manifest.stamp_of(guid)
        # A note built now that was never placed in a deck (new in this build) cannot have moved.
        if stamp is not None and (stamp.deck or guid in gone):
            previous[guid] = Previous(stamp.deck, stamp.id)
    decks = {deck_name(config, records[slug].title) for slug in chosen}
    return reimport_notices(manifest, previous, placed, complete=complete, decks=decks)


def _write(
    config: Config,
    out: Path,
    manifest: Manifest,
    result: BuildResult,
    stale: dict[str, PendingPackage],
    records: dict[str, TopicRecord],
    by_slug: dict[str, Path],
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None,
) -> None:
    """Write the packed packages and the manifest, holding the output folder's lock.

    Every file is staged before the first is renamed into place: a write that fails leaves them all as they were.
    """
    from builder.atomic import StagedWrites

    with StagedWrites() as staged:
        _stage(config, out, manifest, result, stale, records, by_slug, progress, staged)
        with result.timing("write"):
            staged.commit()


def _stage(
    config: Config,
    out: Path,
    manifest: Manifest,
    result: BuildResult,
    stale: dict[str, PendingPackage],
    records: dict[str, TopicRecord],
    by_slug: dict[str, Path],
    progress: Callable[[list[PendingPackage]], Iterable[PendingPackage]] | None,
    staged,
) -> None:
    manifest_path = out / MANIFEST_NAME
    packages = list(dict.fromkeys(stale.values()))
    for package in progress(packages) if progress else packages:
        with result.timing("write"):
            written = staged.add(package.path, package.data)
        (result.written if written else result.unchanged).append(package.path)
        fingerprint = package_fingerprint(package.path.name, [topic_key(records[s]) for s in package.slugs])
        manifest.packages[package.path.name] = record_for(package.data, fingerprint, package.notes, package.cards)
        result.notes += package.notes
        result.cards += package.cards
        manifest.changed = True
    if records != manifest.topics:
        manifest.topics = records
        manifest.changed = True
    # Forget packages of topics that are gone: a build from scratch would not know them either.
    names = {f"{config.project}.apkg", *(f"{slug}.apkg" for slug in by_slug)}
    for name in [n for n in manifest.packages if n not in names]:
        del manifest.packages[name]
        manifest.changed = True
    # Saved last: a build cut short before here stamps its changed notes again, never older.
    if manifest.changed:
        staged.add(manifest_path, manifest.encoded())
