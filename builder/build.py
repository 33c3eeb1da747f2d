"""The build: load and validate every topic, render, package, write. Nothing is written on any error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from builder.atomic import folder_lock, remove_stale_temps
from builder.config import Config
from builder.errors import DecksError
from builder.load import load_project
from builder.manifest import MANIFEST_NAME, Manifest, build_time
from builder.media import resolve_media
from builder.model import Topic
from builder.package import PackagePlan, Packager, deck_name, note_guid, write_package
from builder.reimport import previous_placement, reimport_notices, reimport_notices_for
from builder.render import Renderer, template_dirs


class UnknownTopicError(DecksError):
    """A topic asked for on the command line does not exist."""

    exit_code = 2


@dataclass
class BuildResult:
    """What a build produced."""

    output_dir: Path
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    topics: int = 0
    notes: int = 0
    cards: int = 0
    # What a re-import into Anki will not do by itself, and what to do about it.
    notices: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return sorted(self.written + self.unchanged)


def select_topics(topics: list[Topic], slugs: Sequence[str]) -> list[Topic]:
    """The topics named by slug, in project order; all of them when none are named."""
    if not slugs:
        return topics
    known = {t.slug for t in topics}
    unknown = [s for s in dict.fromkeys(slugs) if s not in known]
    if unknown:
        raise UnknownTopicError(
            f"unknown topic {', '.join(repr(s) for s in unknown)}; topics are: {', '.join(sorted(known))}"
        )
    wanted = set(slugs)
    return [t for t in topics if t.slug in wanted]


def build(
    config: Config,
    *,
    topics: Sequence[str] = (),
    single: bool = False,
    output_dir: Path | None = None,
    progress: Callable[[list[PackagePlan]], Iterable[PackagePlan]] | None = None,
) -> BuildResult:
    """Build decks into ``output_dir`` (the config's by default): one .apkg per topic, or one in all.

    ``progress`` wraps the list of packages to write, to report as each one is done.
    """
    out = (output_dir or config.output_dir).resolve()
    chosen, media = resolve_media(config, select_topics(load_project(config), topics))
    renderer = Renderer(template_dirs(config.templates_dir), lambda p: config.rel(Path(p)))
    css = renderer.stylesheet()
    fields = renderer.render_all(chosen)

    # Everything that can fail on bad input has run: only now is the output folder touched.
    try:
        with folder_lock(out):
            remove_stale_temps(out)
            return _write(config, out, chosen, media, fields, css, single, progress, complete=not topics)
    except OSError as exc:
        where = config.rel(Path(exc.filename)) if exc.filename else config.rel(out)
        raise DecksError(f"cannot write {where}: {exc.strerror or exc}") from exc


def _write(config, out, chosen, media, fields, css, single, progress, *, complete: bool) -> BuildResult:
    # Holding the folder lock: a concurrent build reads the manifest only after this one saved it.
    manifest_path = out / MANIFEST_NAME
    manifest = Manifest.load(manifest_path)
    previous = previous_placement(manifest)
    packager = Packager(config, css, manifest, build_time())
    if single:
        groups = [(out / f"{config.project}.apkg", chosen)]
    else:
        groups = [(out / f"{topic.slug}.apkg", [topic]) for topic in chosen]
    plans = []
    for path, group in groups:
        plan = packager.plan(path, group, fields, media.versions)
        plan.media = [(f.name, f.path) for f in media.for_topics(group)]
        plans.append(plan)
    placed = {note_guid(config.project, e.id): deck_name(config, t) for t in chosen for e in t.entries}

    result = BuildResult(out, topics=len(chosen))
    result.notices = reimport_notices(manifest, previous, placed, complete=complete)
    for plan in progress(plans) if progress else plans:
        result.notes += len(plan.notes)
        result.cards += len(plan.cards)
        (result.written if write_package(plan) else result.unchanged).append(plan.path)
    # Saved last: a build cut short before here stamps its changed notes again, never older.
    if manifest.changed:
        manifest.save(manifest_path)
    return result


def reimport_preview(config: Config, output_dir: Path | None = None) -> list[str]:
    """What the next full build will say about renamed, moved and removed notes, writing nothing."""
    out = (output_dir or config.output_dir).resolve()
    return reimport_notices_for(config, load_project(config), Manifest.load(out / MANIFEST_NAME))
