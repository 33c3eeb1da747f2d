"""The preview: a static HTML site showing every card as Anki shows it, before any import.

Cards go through the same steps as a build (load, media, note fields, the note types'
card templates and stylesheet made from the Jinja2 templates), rendered as Anki renders
them; then math becomes MathML and media point at copies in the site, so the site works
from disk with nothing loaded from the internet.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from builder.anki_view import note_cards
from builder.atomic import TEMP_PREFIX, folder_lock
from builder.config import Config
from builder.entries import Entry, Topic
from builder.errors import DecksError
from builder.kinds import KINDS
from builder.load import load_project
from builder.mathml import render_math
from builder.media import SOUND_RE, Media, resolve_media
from builder.notefields import note_fields
from builder.render import Layout, Renderer
from builder.templatedirs import template_dirs

PREVIEW_DIR = "preview"
ASSETS = Path(__file__).resolve().parent / "preview_assets"
_SRC_RE = re.compile(r'(<(?:img|audio|source|video)\b[^>]*?\bsrc=")([^"]*)(")', re.IGNORECASE)
_TAGS_RE = re.compile(r"<[^>]+>")
_MATH_SPAN_RE = re.compile(r'<span class="math" title="([^"]*)"><math\b.*?</math></span>', re.DOTALL)


@dataclass
class PreviewResult:
    """What a preview build wrote."""

    index: Path
    topics: int = 0
    notes: int = 0
    cards: int = 0


@dataclass(frozen=True)
class _Card:
    ord: int
    name: str
    question: Markup
    answer: Markup


@dataclass(frozen=True)
class _Note:
    entry: Entry
    kind_title: str
    cards: tuple[_Card, ...]
    summary: str
    search_text: str


def preview_dir(config: Config) -> Path:
    """Where the site goes: a folder of its own inside the output folder."""
    return config.output_dir / PREVIEW_DIR


def build_preview(config: Config, output_dir: Path | None = None) -> PreviewResult:
    """Write the preview site; on any problem in the project nothing is written."""
    out = (output_dir or preview_dir(config)).resolve()
    topics, media = resolve_media(config, load_project(config))
    layouts = Renderer(template_dirs(config.templates_dir), lambda p: config.rel(Path(p))).layouts()
    # One stylesheet for the site: the note types' own, each once.
    css = "\n".join(dict.fromkeys(layout.css for layout in layouts.values()))

    pages: dict[str, list[_Note]] = {}
    result = PreviewResult(out / "index.html", topics=len(topics))
    card_counts: dict[str, int] = {}
    for topic in topics:
        notes = [_note(topic, entry, layouts[entry.kind], media) for entry in topic.entries]
        pages[topic.slug] = notes
        card_counts[topic.slug] = sum(len(n.cards) for n in notes)
        result.notes += len(notes)
        result.cards += card_counts[topic.slug]

    env = _environment()
    files: dict[str, bytes] = {
        "cards.css": css.encode("utf-8"),
        "preview.css": (ASSETS / "preview.css").read_bytes(),
        "preview.js": (ASSETS / "preview.js").read_bytes(),
        "index.html": env.get_template("index.html")
        .render(
            config=config,
            topics=topics,
            pages=pages,
            card_counts=card_counts,
            result=result,
            tags=_all_tags(topics),
        )
        .encode("utf-8"),
    }
    for topic in topics:
        notes = pages[topic.slug]
        files[f"{topic.slug}.html"] = (
            env.get_template("topic.html")
            .render(
                config=config,
                topic=topic,
                notes=notes,
                cards=card_counts[topic.slug],
            )
            .encode("utf-8")
        )
    _write_site(out, files, media, lambda p: config.rel(Path(p)))
    return result


def _note(topic: Topic, entry: Entry, layout: Layout, media: Media) -> _Note:
    kind = KINDS[entry.kind]
    names = set(media.by_entry.get(entry.id, ()))
    cards = tuple(
        _Card(view.ord, view.name, _for_page(view.question, names), _for_page(view.answer, names))
        # Subdeck stands for the deck name, which Anki inserts unescaped; our templates show the Topic
        # field instead, and the preview escapes the name as well, so its pages hold only text from the project.
        for view in note_cards(layout, note_fields(topic, entry), html.escape(topic.title, quote=False))
    )
    first = cards[0] if cards else None
    summary = _plain(_question_only(first.question)) if first else entry.id
    text = " ".join([entry.id, *entry.tags, *(_plain(c.answer) for c in cards)])
    return _Note(entry, kind.title, cards, summary, text.lower())


def _for_page(side: str, media_names: set[str]) -> Markup:
    """One card side as the site shows it: media from the site's copy, math as MathML."""
    if media_names:
        # Names reach the field HTML escaped; the link is the name itself, URL-encoded.
        side = _SRC_RE.sub(
            lambda m: (
                m.group(1)
                + (_media_url(m.group(2)) if html.unescape(m.group(2)) in media_names else m.group(2))
                + m.group(3)
            ),
            side,
        )
        side = SOUND_RE.sub(
            lambda m: (
                f'<audio controls preload="none" src="{_media_url(m.group(1))}"></audio>'
                if html.unescape(m.group(1)) in media_names
                else m.group(0)
            ),
            side,
        )
    return Markup(render_math(side))


def _media_url(escaped_name: str) -> str:
    return "media/" + quote(html.unescape(escaped_name), safe="")


def _question_only(side: str) -> str:
    # The topic line Anki's templates put on top is not part of the question.
    return re.sub(r'<div class="topic">.*?</div>', "", side, count=1, flags=re.DOTALL)


def _plain(side: str) -> str:
    """Visible text of some card HTML, on one line."""
    # A formula reads as its LaTeX source; audio players have no text.
    side = _MATH_SPAN_RE.sub(lambda m: f" {m.group(1)} ", side)
    side = re.sub(r"<audio\b.*?</audio>", " ", side, flags=re.DOTALL | re.IGNORECASE)
    text = html.unescape(_TAGS_RE.sub(" ", side))
    return " ".join(text.split())


def _all_tags(topics: list[Topic]) -> list[str]:
    tags = {tag for topic in topics for entry in topic.entries for tag in entry.tags}
    return sorted(tags, key=str.casefold)


def _environment() -> jinja2.Environment:
    # The site's own pages; card HTML reaches them as Markup and is never re-rendered.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ASSETS)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["page"] = page_url
    return env


def page_url(slug: str) -> str:
    """The relative link to a topic's page: its file name URL-encoded, so that no name reads as a scheme."""
    return quote(f"{slug}.html", safe="")


# What a site holds; a folder holding anything else was not made by the preview and is never replaced.
_SITE_FILES = re.compile(r"[^/]*\.html|cards\.css|preview\.css|preview\.js|media")


def _write_site(out: Path, files: dict[str, bytes], media: Media, display) -> None:
    """Write the site, holding the output folder's lock as builds do; every OSError is a clear error."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with folder_lock(out.parent):
            _sweep(out)
            _refuse_foreign(out, display)
            _swap_in(out, files, media)
    except OSError as exc:
        where = display(Path(exc.filename)) if exc.filename else display(out)
        raise DecksError(f"cannot write the preview to {where}: {exc.strerror or exc}") from exc


def _sweep(out: Path) -> None:
    # Folders of a preview that was killed while writing: named by _swap_in, removed under the lock.
    mark = f".{out.name}{TEMP_PREFIX}"
    for path in out.parent.iterdir():
        if path.name.startswith(mark) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def _refuse_foreign(out: Path, display) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DecksError(f"{display(out)} is not a folder the preview made; move it away or remove it first")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not _SITE_FILES.fullmatch(p.name))
        if foreign:
            raise DecksError(
                f"{display(out)} holds files the preview did not write ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}); it is never replaced: move them away first"
            )


def _swap_in(out: Path, files: dict[str, bytes], media: Media) -> None:
    """Write the site into a new folder, then swap it in, so the old site stays whole until then."""
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}{TEMP_PREFIX}"))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if media.files:
            (tmp / "media").mkdir()
            for item in media.files.values():
                shutil.copyfile(item.path, tmp / "media" / item.name)
        # mkdtemp makes the folder private; the site is an ordinary user folder.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}{TEMP_PREFIX}old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
