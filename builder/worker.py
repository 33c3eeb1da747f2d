"""Reading topics for a build: read, validate, render and draft each topic, in this process or two.

A build (build.py) asks a TopicWorker for each topic's outcome in topic order; with large work and a free
core the outcomes come from forked processes too. The note types (made once, from the templates) are then made
by the forked worker while the build's own process reads its first topics, and handed back with the worker's
first outcome: the build's own process never imports Jinja2. A package
of one topic is packed where its topic is read, its notes stamped with ids from the package's own lane, so the
bytes are the same in whichever process that happens; a package of several topics is packed by the build.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from builder.ahead import idle_cores
from builder.config import Config
from builder.ctrlc import ctrl_c_held
from builder.errors import Problem
from builder.incremental import TopicMedia, topic_media
from builder.load import TopicSummary, check_topic
from builder.manifest import IdLane, Manifest, TopicRecord, build_time, note_lines, record_text
from builder.rules import ERROR, RULES, duplicates_are_errors
from builder.templatedirs import template_dirs
from builder.yamlfile import YamlFile

if TYPE_CHECKING:
    from builder.ahead import NoteTypesAhead
    from builder.breaks import NoteSeen
    from builder.entries import Topic
    from builder.package import PackagePlan, Packager, TopicDraft

STAGES = ("load", "validate", "render", "package", "write")


class PendingPackage:
    """One .apkg to produce: the topics it holds, packed once the last of them is in."""

    # This module's records are plain classes rather than dataclasses, which would cost every build the making
    # of their methods at import. Outcomes cross between processes pickled, as any object does.
    def __init__(self, path: Path, slugs: list[str], waiting: int = 0) -> None:
        self.path = path
        self.slugs = slugs
        self.plan: PackagePlan | None = None
        self.data: bytes | None = None
        self.media: dict[str, Path] = {}
        self.waiting = waiting
        self.notes = 0
        self.cards = 0
        # Where its new note and card ids come from (given by the TopicWorker).
        self.lane: IdLane | None = None


class Packed:
    """A package of one topic, packed where the topic was read: its bytes and the note stamps made for it."""

    def __init__(
        self, data: bytes, notes: int, cards: int, stamps: dict[str, tuple], lines: dict[str, str], deck: str
    ) -> None:
        self.data = data
        self.notes = notes
        self.cards = cards
        # Manifest.take_touched()'s tuples.
        self.stamps = stamps
        # Their lock lines once placed in the topic's deck (manifest.note_lines), made here rather than by the build.
        self.lines = lines
        self.deck = deck


class TopicOutcome:
    """What reading (and, when asked, rendering) one topic file gave."""

    def __init__(self, summary: TopicSummary | None, problems: list[Problem], timings: dict[str, float]) -> None:
        self.summary = summary
        self.problems = problems
        self.media: TopicMedia | None = None
        self.guids: list[str] = []
        self.media_problems: list[Problem] = []
        # Each entry's note beside what the build state recorded of it (see breaks.py); none when the state
        # had no notes.
        self.seen: list[NoteSeen] = []
        # What the duplicate rules need of its entries, when the project makes them errors.
        self.prompts: list[tuple] = []
        self.draft: TopicDraft | None = None
        self.packed: Packed | None = None
        # The cache's text of the topic's record (manifest.record_text), when it read without problems.
        self.record_text: str | None = None
        # A forked worker's first outcome: the note types it made, what the cache keeps of them, and their problems.
        self.note_types: tuple | None = None
        self.timings = timings

    def record(self, fingerprint: str) -> TopicRecord:
        """The build cache's record of the topic, once it read without problems (media resolved, GUIDs made)."""
        summary = self.summary
        return TopicRecord(
            fingerprint,
            summary.title,
            list(summary.ids),
            self.media.uses,
            self.guids,
            list(summary.was),
            self.prompts,
        )


class _Read:
    """A topic read as far as it goes without the note types: its outcome so far, the topic and its fields."""

    __slots__ = ("slug", "outcome", "topic", "fields")

    def __init__(
        self,
        slug: str,
        outcome: TopicOutcome,
        topic: Topic | None = None,
        fields: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.slug = slug
        self.outcome = outcome
        # None when the topic is not to be drafted: it has problems (in the outcome), or its media have.
        self.topic = topic
        self.fields = fields


# Below this much YAML to render, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 1_000_000
# With fewer topics read while the note types were made ahead, packing them in two processes saves nothing.
_PACK_APART_MIN = 4
# Up to this much YAML, the processes reading topics also encode their lock lines and cache records (about
# 35,000 entries; 10,000 are 2.4 MB).
_ENCODE_APART_MAX_BYTES = 8_000_000


class TopicWorker:
    """Reads, validates, renders and drafts topics, in this process or in forked ones.

    Made only when some topic is to be read: its imports (Jinja2 among them) cost time.
    """

    def __init__(
        self,
        config: Config,
        paths: dict[str, Path],
        stale: dict[str, PendingPackage],
        manifest: Manifest,
        known: dict[str, str],
        stamp: str = "",
        ahead: NoteTypesAhead | None = None,
        layouts: str = "",
    ):
        """``known`` maps the entry ids the build state knows to their notes' GUIDs.

        The note types are made once, from the templates, before the first topic is rendered (in a forked
        worker when there is one), or taken from the build cache when it kept them under the same build
        ``stamp`` (the templates, the config and the builder unchanged: Jinja2 is then not even
        imported), or from the process that made them ``ahead`` (ahead.py) under the same layout stamp
        (``layouts``, templatedirs.layout_stamp); their problems are in ``template_problems``, filled in place
        once known.
        """
        self.config = config
        self.known = known
        self.prompts = duplicates_are_errors(config)
        self.answers = config.rules.get("near-duplicate-question", RULES["near-duplicate-question"].severity) == ERROR
        self.paths = paths
        self.stale = stale
        self.template_problems: list[Problem] = []
        self.stamp = stamp
        self.layout_stamp = layouts
        self.manifest = manifest
        # With no note in the state as read, no entry can break an identity (breaks.py): nothing to compare.
        self.compare = manifest.has_notes()
        self.now = now = build_time()
        self.packager: Packager | None = None
        self._workers: _Workers | None = None
        # Whether the processes reading topics encode the state's text of what they read (see _encode_apart).
        self._encode = False
        self.layouts: tuple[str, dict] | None = None
        self.ahead = ahead
        # Whether the note types are made (or taken) yet, in this process; and whether taken from ``ahead``.
        self._typed = False
        self._from_ahead = False
        # A package of one topic takes the lane of that topic's place among all topic files, whatever else
        # is stale: an incremental build then gives the same ids as a build that reads everything.
        packages = list(dict.fromkeys(stale.values()))
        if all(len(package.slugs) == 1 for package in packages):
            lanes = manifest.id_lanes(len(paths), now)
            place = {slug: n for n, slug in enumerate(paths)}
            for package in packages:
                package.lane = lanes[place[package.slugs[0]]]
        else:
            for package, lane in zip(packages, manifest.id_lanes(len(packages), now), strict=True):
                package.lane = lane
        self._failed = False

    def _make_note_types(self, wait: bool = True) -> tuple | None:
        """Make (or take) every kind's note type here; returns them, the cache's ``layouts`` and their problems,
        as adopted. Without ``wait``, None unless they can be had at once: from the cache, or made ahead."""
        from builder.package import make_note_types, note_types_from_cache

        stamp, cached = self.stamp, self.manifest.layouts
        note_types = note_types_from_cache(cached[1]) if stamp and cached and cached[0] == stamp else None
        if note_types is None and self.ahead is not None:
            if not self.ahead.ready(wait):
                return None
            if self.layout_stamp:
                note_types = self.ahead.note_types(self.config, self.layout_stamp)
                self._from_ahead = note_types is not None
            if note_types is None and not wait:
                # None made ahead: made here only when asked to wait for them (a worker may be making them).
                return None
        problems: list[Problem] = []
        layouts = None
        if note_types is None:
            from builder.errors import ProblemsError
            from builder.render import Renderer

            config = self.config
            try:
                made = Renderer(template_dirs(config.templates_dir), lambda p: config.rel(Path(p))).layouts()
            except ProblemsError as exc:
                problems = exc.problems
            else:
                note_types = make_note_types(config, made)
        if note_types is not None and stamp:
            layouts = (stamp, {kind: t.cached() for kind, t in note_types.items()})
        made_here = (note_types, layouts, problems)
        self._adopt_note_types(made_here)
        return made_here

    def _adopt_note_types(self, made: tuple) -> None:
        """Take the note types (made here or by a worker): the packager stamps them into the manifest."""
        from builder.package import Packager

        note_types, self.layouts, problems = made
        self.template_problems.extend(problems)
        self.packager = Packager(self.config, note_types, self.manifest, self.now) if note_types else None
        self._failed = self._failed or bool(problems)
        self._typed = True

    def run_all(self, slugs: list[str], jobs: int) -> Iterator[TopicOutcome]:
        """Outcomes of the given topics, in order; read in ``jobs`` processes (0: as the work deserves)."""
        rendered = [s for s in slugs if s in self.stale]
        if jobs == 0:
            size = sum(self.paths[s].stat().st_size for s in rendered if self.paths[s].is_file())
            jobs = 2 if size >= PARALLEL_MIN_BYTES and idle_cores() >= 0.5 else 1
        jobs = min(jobs, len(rendered))
        if jobs < 2 or not _can_fork():
            return self._one_at_a_time(slugs)
        return self._in_processes(slugs, jobs)

    def _one_at_a_time(self, slugs: list[str]) -> Iterator[TopicOutcome]:
        # Rendering only while nothing is wrong. While the note types are still being made ahead, the topics
        # read meanwhile wait for them (as read, fields made); once they are in, those and the topics not read
        # yet are finished by _finish_waiting.
        waiting: list[_Read] = []
        for n, slug in enumerate(slugs):
            if self._typed or self._make_note_types(wait=self.ahead is None or self.ahead.ready(False)) is not None:
                if self.ahead is not None:
                    yield from self._finish_waiting(waiting, slugs[n:])
                    return
                yield self.outcome(slug, render=not self._failed)
            else:
                waiting.append(self._read(slug, render=not self._failed))
        if waiting:
            self._make_note_types()
            yield from self._finish_waiting(waiting, [])

    def _finish_waiting(self, waiting: list[_Read], rest: list[str]) -> Iterator[TopicOutcome]:
        # The topics read while the note types were made ahead, drafted and packed now, then the topics not read
        # yet, in order. With several, a process forked now (the one that made the note types has ended, freeing
        # its core) takes them from the last on while this one takes them from the first: it holds every topic
        # read, as this process does.
        def task(index: int) -> TopicOutcome:
            if index < len(waiting):
                return self._finish(waiting[index])
            return self.outcome(rest[index - len(waiting)], render=not self._failed)

        count = len(waiting) + len(rest)
        if count < _PACK_APART_MIN or self.ahead is None or not _can_fork() or idle_cores(self.ahead.ending()) < 0.5:
            yield from (task(index) for index in range(count))
            return
        self._encode_apart()
        workers = _Workers(count, 1, task, front=False)
        try:
            got: dict[int, TopicOutcome] = {}
            for n in range(count):
                while n not in got:
                    index = workers.take(front=True)
                    if index is not None:
                        got[index] = task(index)
                        continue
                    taken = workers.outcome(wait=True)
                    if taken is None:
                        slug = waiting[n].slug if n < len(waiting) else rest[n - len(waiting)]
                        raise RuntimeError(f"a worker process ended before it handed back {slug}")
                    got[taken[0]] = taken[1]
                if n == count - 1:
                    workers.close()
                yield got.pop(n)
        finally:
            workers.close()

    def _in_processes(self, slugs: list[str], jobs: int) -> Iterator[TopicOutcome]:
        # Forked workers inherit this object and the manifest's first new id, fixed here so that every
        # process numbers from the same one. A worker with no note types made ahead makes them itself, first
        # thing (see _outcome_in_worker); this process reads its topics meanwhile, drafting them once they are in.
        self.manifest.id_base(self.now)
        # And the modules reading a topic needs, imported once here rather than once in each worker.
        import builder.breaks
        import builder.check
        import builder.identity
        import builder.notefields
        import builder.package  # noqa: F401 - packing needs it in every process; Jinja2 it leaves out

        # This process reads topics too: jobs - 1 workers take the topics from the first on, while this
        # process, whenever it waits for the next outcome, takes the last topic no one has taken. Each topic is
        # taken at the moment its reading begins (from the bounds shared by every process), so the two meet where
        # the work is shared evenly, whatever the sizes of the topics, and only the workers' outcomes cross
        # between processes.
        self._slugs = slugs
        self._encode_apart()
        workers = self._workers = _Workers(len(slugs), jobs - 1, lambda index: _outcome_in_worker(self, index))
        try:
            got: dict[int, TopicOutcome | _Read] = {}
            for n in range(len(slugs)):
                while n not in got:
                    taken = workers.outcome(wait=False)
                    if taken is None:
                        index = self._take(front=False)
                        if index is not None:
                            read = self._read(slugs[index], render=True)
                            if not self._typed and self.ahead is not None:
                                self._make_note_types(wait=False)
                            got[index] = self._finish(read) if self._typed else read
                            continue
                        if self._finish_read(got):
                            continue  # the note types came while this process read: it packs while the worker reads
                        taken = workers.outcome(wait=True)
                        if taken is None:
                            raise RuntimeError(f"a worker process ended before it handed back {slugs[n]}")
                    index, outcome = taken
                    got[index] = outcome
                    if outcome.note_types is not None and not self._typed:
                        self._adopt_note_types(outcome.note_types)
                if not self._typed:
                    # This process read the first topic (no worker had started): it makes the note types too, or
                    # waits for them to be made ahead; the build drafts and packs with them.
                    self._make_note_types()
                if self._typed:
                    self._finish_read(got)
                if n == len(slugs) - 1:
                    # Every outcome is in: the workers end now, not whenever the build lets go of this.
                    workers.close()
                yield got.pop(n)
        finally:
            # Ctrl-C or an error: the workers are stopped, and nothing waits for the rest.
            workers.close()

    def _encode_apart(self) -> None:
        """With two processes, each encodes the state's text of the topics it packs (their lock lines, their cache
        records) while the other reads, rather than the build after every topic; up to a project of moderate size:
        the build holds that text until it saves the state, which at 100,000 entries would raise its peak of memory
        by 20-30 MB. (In one process it saves nothing: the same process encodes it either way.)"""
        size = sum(path.stat().st_size for path in self.paths.values() if path.is_file())
        self._encode = size <= _ENCODE_APART_MAX_BYTES

    def _finish_read(self, got: dict[int, TopicOutcome | _Read]) -> bool:
        """Draft and pack the topics this process read before the note types were in, once they are (made ahead:
        not waited for); whether there were any."""
        if not self._typed and (self.ahead is None or self._make_note_types(wait=False) is None):
            return False
        read = [k for k, value in got.items() if isinstance(value, _Read)]
        for k in read:
            got[k] = self._finish(got[k])
        return bool(read)

    def _take(self, front: bool) -> int | None:
        """The place of the first (``front``) or last topic no process has taken, now taken; None when none is left."""
        return self._workers.take(front)

    def outcome(self, slug: str, render: bool = True) -> TopicOutcome:
        """Read and validate one topic file; resolve its media; render and draft it if it is packaged."""
        return self._finish(self._read(slug, render))

    def _read(self, slug: str, render: bool) -> _Read:
        """Read and validate one topic file, resolve its media and make its fields: all that needs no note type."""
        path = self.paths[slug]
        timings = dict.fromkeys(STAGES, 0.0)
        clock = time.perf_counter
        start = clock()
        doc = YamlFile(path, self.config.rel(path)).read()
        timings["load"] = (now := clock()) - start
        topic, problems, ids, was_ids = check_topic(doc, path)
        del doc
        summary = TopicSummary.of(topic, ids, was_ids) if topic is not None else None
        outcome = TopicOutcome(summary, problems, timings=timings)
        if topic is not None:
            # The quality rules this project makes errors: the build refuses what `decks check` would.
            from builder.check import entry_errors, prompt_rows

            problems.extend(entry_errors(self.config, topic.entries))
            if self.prompts:
                outcome.prompts = prompt_rows(topic.entries, self.answers)
        if not problems:
            topic, outcome.media, outcome.media_problems = topic_media(self.config, topic)
        if problems or outcome.media_problems:
            timings["validate"] = clock() - now
            self._failed = True
            return _Read(slug, outcome)
        from builder.identity import entry_guid

        project, known = self.config.project, self.known
        outcome.guids = [entry_guid(project, entry.id, entry.was, known) for entry in topic.entries]
        if self._encode:
            # Encoded where the topic is read, rather than by the build after every topic (see _encode_apart).
            outcome.record_text = record_text(outcome.record(""))
        timings["validate"] = (start := clock()) - now
        fields = None
        # Before the note types are known, fields are made in case they come without problems.
        if render and slug in self.stale and (self.packager is not None or not self._typed):
            from builder.notefields import note_fields

            fields = {entry.id: note_fields(topic, entry) for entry in topic.entries}
            timings["render"] = clock() - start
        return _Read(slug, outcome, topic, fields)

    def _finish(self, read: _Read) -> TopicOutcome:
        """Draft a topic read (with the note types), compare it with the state, and pack it if it is alone."""
        slug, outcome, topic, fields = read.slug, read.outcome, read.topic, read.fields
        if topic is None or outcome.media is None:
            return outcome
        timings, clock = outcome.timings, time.perf_counter
        hashes: list[str | None] = [None] * len(topic.entries)
        draft = None
        if fields is not None and self.packager is not None:
            draft = self.packager.draft(topic, fields, outcome.media.versions, outcome.guids)
            hashes = [note[5] for note in draft.notes]
        # Compared with the state as read, before this topic's notes are stamped.
        if self.compare:
            outcome.seen = self._seen(topic, outcome.guids, hashes)
        if draft is not None:
            now = clock()
            package = self.stale[slug]
            if len(package.slugs) > 1:
                outcome.draft = draft
            elif len(set(outcome.guids)) == len(outcome.guids):
                outcome.packed = self._pack_alone(package, draft, outcome.media)
            # else an id is used twice in this file: the build reports it, and packs nothing.
            timings["package"] = clock() - now
        return outcome

    def _seen(self, topic: Topic, guids: list[str], hashes: list[str | None]) -> list[NoteSeen]:
        from builder.breaks import NoteSeen

        stamps = self.manifest.stamps_of(guids)
        return [
            NoteSeen.of(entry, guid, content, stamp)
            for entry, guid, content, stamp in zip(topic.entries, guids, hashes, stamps, strict=True)
        ]

    def _pack_alone(self, package: PendingPackage, draft: TopicDraft, media: TopicMedia) -> Packed:
        from builder.package import PackagePlan, package_bytes

        plan = PackagePlan(package.path, media=sorted(media.files.items()))
        self.packager.add_draft(plan, draft, package.lane)
        # Only the stamps: the rows are in the packed bytes, and at 100,000 notes they would hold 100 MB.
        stamps = self.manifest.take_touched()
        # The build places each note in its topic's deck: their lock lines are made as they will be then, when
        # the processes reading topics encode what they read (see _encode_apart).
        deck = draft.deck["name"]
        lines = note_lines(stamps, deck) if self._encode else {}
        return Packed(package_bytes(plan), len(plan.notes), len(plan.cards), stamps, lines, deck)

    def accept(self, package: PendingPackage, packed: Packed) -> dict[str, tuple]:
        """Take a package packed where its topic was read; the note stamps made for it, for the build to adopt
        (with ``packed.lines``)."""
        package.data, package.notes, package.cards = packed.data, packed.notes, packed.cards
        package.waiting = 0
        return packed.stamps

    def pack(self, package: PendingPackage, draft: TopicDraft, media: TopicMedia) -> dict[str, tuple]:
        """Add a drafted topic to its package; pack the package once its last topic is in.

        Returns the note stamps made for the topic, for the build to adopt.
        """
        from builder.package import PackagePlan, package_bytes

        if package.plan is None:
            package.plan = PackagePlan(package.path)
        self.packager.add_draft(package.plan, draft, package.lane)
        package.media.update(media.files)
        package.waiting -= 1
        if not package.waiting:
            package.plan.media = sorted(package.media.items())
            package.data = package_bytes(package.plan)
            # The rows are in the packed bytes now; at 100,000 notes they would hold 100 MB more.
            package.notes, package.cards = len(package.plan.notes), len(package.plan.cards)
            package.plan.notes, package.plan.cards = [], []
        return self.manifest.take_touched()


class _Workers:
    """Processes forked to work on topics for a TopicWorker, and the bounds of the topics no process has taken.

    Each worker takes topics from the first on (or the last, not ``front``), runs ``task`` on each one's place and
    writes each outcome, pickled, into a pipe of its own, which a thread of this process drains as it comes (a
    worker never waits for this process to read); it ends once every topic is taken. The bounds live in memory
    shared by every process, guarded by a one-byte token in a pipe.
    """

    def __init__(
        self,
        count: int,
        processes: int,
        task: Callable[[int], TopicOutcome],
        front: bool = True,
    ):
        import mmap

        self._bounds = mmap.mmap(-1, 16)
        self._bounds[:] = (0).to_bytes(8, "little", signed=True) + (count - 1).to_bytes(8, "little", signed=True)
        self._token = os.pipe()
        os.write(self._token[1], b"\0")
        self._pids: list[int] = []
        self._running = 0
        pipes = [os.pipe() for _ in range(processes)]
        for _, write in pipes:
            _widen(write)
        # Forked before any thread starts here; Ctrl-C is held back meanwhile, so that it never lands inside
        # fork's own bookkeeping (in either process): the parent gets it right after.
        with ctrl_c_held():
            for _, write in pipes:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the forked process, which ends by os._exit
                    for other in {fd for pipe in pipes for fd in pipe} - {write}:
                        os.close(other)
                    _serve(self, task, front, write)
                self._pids.append(pid)
        # Loaded once the workers are forked: they need neither, and start the sooner.
        import threading
        from queue import SimpleQueue

        self._outcomes: SimpleQueue = SimpleQueue()
        for read, write in pipes:
            os.close(write)
            self._running += 1
            threading.Thread(target=self._drain, args=(read,), daemon=True).start()

    def take(self, front: bool) -> int | None:
        """The place of the first (``front``) or last topic no process has taken, now taken; None when none is left."""
        bounds, (token_in, token_out) = self._bounds, self._token
        os.read(token_in, 1)
        try:
            first = int.from_bytes(bounds[:8], "little", signed=True)
            last = int.from_bytes(bounds[8:], "little", signed=True)
            if first > last:
                return None
            if front:
                bounds[:8] = (first + 1).to_bytes(8, "little", signed=True)
                return first
            bounds[8:] = (last - 1).to_bytes(8, "little", signed=True)
            return last
        finally:
            os.write(token_out, b"\0")

    def outcome(self, wait: bool) -> tuple[int, TopicOutcome] | None:
        """The next outcome a worker handed back, with its place; None when there is none yet (or, ``wait``ing,
        when every worker has ended). A worker's error is raised here."""
        from queue import Empty

        pickle = _pickle()

        while self._running:
            try:
                message = self._outcomes.get(block=wait)
            except Empty:
                return None
            if message is None:
                # A worker ended: every outcome it wrote came before.
                self._running -= 1
                continue
            index, outcome = pickle.loads(message)
            if isinstance(outcome, BaseException):
                raise outcome
            return index, outcome
        return None

    def close(self) -> None:
        """Stop the workers still running and wait for them to end (their pipes close with them)."""
        pids, self._pids = self._pids, []
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        for fd in self._token:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._token = (-1, -1)

    def _drain(self, fd: int) -> None:
        # Each message: its length (8 bytes), then the pickled (place, outcome).
        try:
            with open(fd, "rb", buffering=0) as pipe:
                while head := _read_exactly(pipe, 8):
                    body = _read_exactly(pipe, int.from_bytes(head, "little"))
                    if body is None:
                        break
                    self._outcomes.put(body)
        finally:
            self._outcomes.put(None)


def _widen(fd: int) -> None:
    # A pipe holds 64 KB; a topic's outcome, its package's bytes among them, is often more. Up to the
    # system's limit for a user (1 MB by default), a worker need not wait for this process to read.
    with contextlib.suppress(ImportError, OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def _read_exactly(pipe, size: int) -> bytes | None:
    # None at the end of the pipe (the worker ended) before ``size`` bytes came.
    chunks, left = [], size
    while left:
        chunk = pipe.read(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _serve(workers: _Workers, task: Callable[[int], TopicOutcome], front: bool, fd: int) -> None:  # pragma: no cover
    # A forked worker: ``task`` on topics from the first on (or the last), each outcome written to ``fd``, until
    # every topic is taken. Runs in the forked process.
    pickle = _pickle()

    try:
        # Ctrl-C reaches every process of the terminal's group; only the parent reports it ("Aborted!").
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        with open(fd, "wb") as pipe:
            while True:
                index = workers.take(front)
                if index is None:
                    break
                try:
                    message = pickle.dumps((index, task(index)), _PROTOCOL)
                except BaseException as exc:  # handed to the build, which raises it
                    try:
                        message = pickle.dumps((index, exc), _PROTOCOL)
                    except Exception:
                        message = pickle.dumps((index, RuntimeError(repr(exc))), _PROTOCOL)
                pipe.write(len(message).to_bytes(8, "little"))
                pipe.write(message)
                pipe.flush()
    finally:
        os._exit(0)


def _outcome_in_worker(worker: TopicWorker, index: int) -> TopicOutcome:
    # The outcome of the topic at ``index``, read in a forked worker.
    slug = worker._slugs[index]
    if worker._typed:
        return worker.outcome(slug)
    if worker.ahead is not None:
        # Being made ahead: this topic is read meanwhile, and the build's own process takes them from there too.
        read = worker._read(slug, render=True)
        made = worker._make_note_types()
        outcome = worker._finish(read)
    else:
        # This worker's first topic: the note types first, as a build in one process makes them, and handed back.
        made = worker._make_note_types()
        outcome = worker.outcome(slug)
    if not worker._from_ahead:
        outcome.note_types = made
    return outcome


# The pickle protocol outcomes cross in: pickle.HIGHEST_PROTOCOL since Python 3.8.
_PROTOCOL = 5


def _pickle():
    """pickle's C half alone, which ``pickle`` itself uses: the rest of that module (its pure-Python pickler,
    the names of every opcode) costs a process about 0.8 ms more to import."""
    try:
        import _pickle as pickle
    except ImportError:  # a Python without it
        import pickle
    return pickle


def _can_fork() -> bool:
    return hasattr(os, "fork")
