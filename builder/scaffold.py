"""`decks new` and `decks init`: start a topic file, or a whole project that builds at once."""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from builder.atomic import StagedWrites, write_atomic
from builder.config import CONFIG_NAME, SLUG_RE, Config
from builder.decknames import deck_key
from builder.entries import Entry
from builder.errors import DecksError, ProblemsError, UsageError
from builder.kinds import KINDS
from builder.load import collect, load_topic, topic_files
from builder.schema import SCHEMA_PATH, schema_text
from builder.templatedirs import packaged_templates

SCHEMA_LINE = "# yaml-language-server: $schema={}\n"
# The example entry `decks new` writes; `decks check` flags it until it is replaced or edited.
EXAMPLE_QUESTION = "What is this topic about?"
EXAMPLE_ID_SUFFIX = "-example"
# Note-type ids are drawn from here: clear of Anki's small built-in ids, and exact in JavaScript.
_ID_LOW, _ID_HIGH = 2**40, 2**53
_NUMBERED = re.compile(r"^(\d+)-")


def slugify(text: str) -> str:
    """Lowercase ASCII words joined by dashes: 'Étude No. 1' -> 'etude-no-1'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text.lower()))


def _quoted(key: str, value: str) -> str:
    """``key: value`` with the value quoted as YAML needs it to read back the same."""
    return yaml.safe_dump({key: value}, allow_unicode=True, width=2**31 - 1).rstrip("\n")


def _scalar(value: str) -> str:
    return _quoted("k", value)[len("k: ") :]


def schema_line(config_root: Path, topic_dir: Path) -> str:
    """The editor hint pointing at the project's schema copy, or '' when the project has none."""
    schema = config_root / SCHEMA_PATH
    if not schema.is_file():
        return ""
    return SCHEMA_LINE.format(Path(os.path.relpath(schema, topic_dir)).as_posix())


def topic_text(
    title: str, slug: str, *, description: str | None = None, source: str | None = None, schema: str = ""
) -> str:
    """A new topic file: its title, and one example entry to replace."""
    lines = [schema.rstrip("\n")] if schema else []
    lines.append(_quoted("title", title))
    if description:
        lines.append(_quoted("description", description))
    if source:
        lines.append(_quoted("source", source))
    lines += [
        "entries:",
        f"  # An example to replace. Add entries here, or with: decks add {slug}",
        "  - kind: qa",
        f"    id: {slugify(title)}{EXAMPLE_ID_SUFFIX}",
        f"    question: {EXAMPLE_QUESTION}",
        f"    answer: {_scalar(title)}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NewTopic:
    """A topic file just created."""

    path: Path
    slug: str


def new_topic(
    config: Config, title: str, *, slug: str | None = None, description: str | None = None, source: str | None = None
) -> NewTopic:
    """Create ``cards/<slug>.yaml``; numbered like the others when they all are (``07-...``)."""
    title = title.strip()
    if not title:
        raise DecksError("the title is empty")
    files = topic_files(config)
    if slug is None:
        base = slugify(title)
        if not base:
            raise DecksError(f"cannot make a file name from the title {title!r}; give one with --slug")
        numbers = [_NUMBERED.match(p.stem) for p in files]
        if files and all(numbers):
            width = max(len(m.group(1)) for m in numbers if m)
            base = f"{max(int(m.group(1)) for m in numbers if m) + 1:0{width}d}-{base}"
        slug = base
    elif not SLUG_RE.match(slug):
        raise DecksError(f"slug '{slug}' must be lowercase letters, digits and dashes")
    topics, _ = collect(files, config)
    clash = next((t for t in topics if deck_key(t.title) == deck_key(title)), None)
    if clash is not None:
        raise DecksError(f"title '{title}' is already the title of {clash.path}; each topic needs its own deck")
    path = config.cards_dir / f"{slug}.yaml"
    if path.exists() or any(p.stem.casefold() == slug for p in files):
        raise DecksError(f"{config.rel(path)} already exists")
    text = topic_text(
        title, slug, description=description, source=source, schema=schema_line(config.root, config.cards_dir)
    )
    _, problems = load_topic(path, config.rel(path), text)
    if problems:
        raise ProblemsError(problems, "nothing was written")
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise DecksError(f"cannot write {config.rel(path)}: {exc.strerror or exc}") from exc
    return NewTopic(path, slug)


# -- a whole project ---------------------------------------------------------


CONFIG_TEMPLATE = """\
# Deck project config. This file marks the project root: every path below is relative to it.

# Namespace of every note's identity in Anki. Never change it after the first import:
# a new value makes every note new to Anki (duplicates beside the old ones).
project: {project}

# Each topic becomes the deck "<root_deck>::<topic title>".
{root_deck}

# Note-type ids, drawn once at random. Never change them: Anki matches note types by id.
note_types:
{ids}

# Quality rules of `decks check`: off, warning or error (see `decks check --help`).
# rules:
#   missing-source: off
"""

EXAMPLE_TOPIC = """\
{schema}title: Getting Started
description: One entry of each kind; replace them with your own.
source: The decks README
tags: [example]
entries:
  - kind: qa
    id: getting-started-build
    question: Which command turns the topic files into Anki decks?
    answer: decks build
  - kind: claim
    id: getting-started-stable-ids
    question: Why must an entry's id never change once its deck is imported?
    answer: Anki knows the note by its id; a new id makes a new note and leaves the review history behind.
  - kind: concept
    id: getting-started-topic
    term: Topic file
    definition: A YAML file in cards/ whose entries become one Anki deck.
    example: cards/01-getting-started.yaml
    reverse: true
  - kind: cloze
    id: getting-started-check
    text: Run {{{{c1::decks check}}}} to find mistakes before building.
    extra: It also warns about duplicate questions and missing sources.
"""

GITIGNORE = "/output/\n"


def draw_note_type_ids() -> dict[str, int]:
    """Fresh random note-type ids, one per kind, all different."""
    # Imported here: a build imports this module (is_example) and never draws ids.
    import secrets

    ids: dict[str, int] = {}
    while len(set(ids.values())) != len(KINDS):
        ids = {name: _ID_LOW + secrets.randbelow(_ID_HIGH - _ID_LOW) for name in KINDS}
    return ids


def is_example(entry: Entry) -> bool:
    """Whether an entry is still the example `decks new` wrote, unedited."""
    return entry.id.endswith(EXAMPLE_ID_SUFFIX) and entry.value("question") == EXAMPLE_QUESTION


def template_names() -> list[str]:
    """What `decks copy-templates` can copy: each kind's folder, and the shared files (style.css, ...)."""
    source = packaged_templates()
    return sorted(p.name for p in source.iterdir() if not p.name.startswith((".", "__")))


def template_files(names: list[str] | tuple[str, ...], folder: Path) -> dict[Path, str]:
    """The packaged templates ``names`` stand for, keyed by where they go under ``folder``."""
    source = packaged_templates()
    out: dict[Path, str] = {}
    for name in names:
        top = source / name
        paths = sorted(top.rglob("*")) if top.is_dir() else [top]
        for path in paths:
            relative = path.relative_to(source)
            if path.is_file() and not any(part.startswith((".", "__")) for part in relative.parts):
                out[folder / relative] = path.read_text(encoding="utf-8")
    return out


def copy_templates(config: Config, names: list[str] | tuple[str, ...]) -> list[Path]:
    """Copy packaged templates into the project's templates folder for editing; never overwrites a file.

    A copied template overrides the packaged one from then on, and no longer gets its fixes.
    """
    unknown = [n for n in names if n not in template_names()]
    if unknown:
        raise UsageError(f"no template '{unknown[0]}'; templates are: {', '.join(template_names())}")
    files = template_files(names, config.templates_dir)
    existing = [p for p in files if p.exists() or p.is_symlink()]
    if existing:
        shown = ", ".join(config.rel(p) for p in existing)
        raise DecksError(f"{shown} already exist{'s' if len(existing) == 1 else ''}; nothing was copied")
    _write_all(files, config.root, "nothing was copied")
    return sorted(files)


def _write_all(files: dict[Path, str], top: Path, nothing: str) -> None:
    """Write new files under ``top``, all or none: staged before any is in place, new folders removed on failure."""
    folders = sorted({parent for path in files for parent in path.parents if parent.is_relative_to(top)})
    blocked = [f for f in folders if (f.exists() or f.is_symlink()) and not f.is_dir()]
    if blocked:
        shown = ", ".join(str(p.relative_to(top)) for p in blocked)
        raise DecksError(f"{top} already holds {shown}, where a folder is needed; {nothing}")
    made = [f for f in folders if not f.exists()]
    try:
        with StagedWrites() as staged:
            for path, text in files.items():
                staged.add(path, text.encode("utf-8"))
            staged.commit()
    except OSError as exc:
        for made_folder in reversed(made):
            with contextlib.suppress(OSError):
                made_folder.rmdir()
        where = exc.filename or top
        raise DecksError(f"cannot write {where}: {exc.strerror or exc}; {nothing}") from exc


def init_project(
    folder: Path, *, project: str | None = None, root_deck: str | None = None, templates: bool = False
) -> list[Path]:
    """Create a deck project in ``folder`` (which may exist, holding none of the files to be made).

    Templates are not copied unless ``templates``: a project without its own copies gets the
    packaged templates, fixes included, and copies only what it changes (`decks copy-templates`).
    """
    folder = folder.resolve()
    name = folder.name
    project = project or slugify(name) or "decks"
    if not SLUG_RE.match(project):
        raise DecksError(f"project name '{project}' must be lowercase letters, digits and dashes")
    root_deck = (root_deck or re.sub(r"[-_]+", " ", name).strip().title() or "Decks").strip()
    if "::" in root_deck:
        raise DecksError("the root deck name must not contain '::'")
    if folder.exists() and not folder.is_dir():
        raise DecksError(f"{folder} exists and is not a folder")

    files: dict[Path, str] = {
        folder / CONFIG_NAME: CONFIG_TEMPLATE.format(
            project=project,
            root_deck=_quoted("root_deck", root_deck),
            ids="\n".join(f"  {kind}: {value}" for kind, value in draw_note_type_ids().items()),
        ),
        folder / ".gitignore": GITIGNORE,
        folder / SCHEMA_PATH: schema_text(),
        folder / "cards" / "01-getting-started.yaml": EXAMPLE_TOPIC.format(
            schema=SCHEMA_LINE.format("../" + SCHEMA_PATH)
        ),
    }
    if templates:
        files.update(template_files(template_names(), folder / "templates"))
    existing = [p for p in files if p.exists() or p.is_symlink()]
    if existing:
        shown = ", ".join(str(p.relative_to(folder)) for p in existing)
        raise DecksError(f"{folder} already holds {shown}; nothing was written")
    _write_all(files, folder, "nothing was written")
    return sorted(files)
