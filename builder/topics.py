"""Topics named on the command line: by file name, by file name without its number, or by title."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import yaml

from builder.entries import Topic
from builder.errors import UsageError
from builder.yamlfile import STR, YamlFile, close_match

_NUMBER = re.compile(r"^\d+[-_]")


class UnknownTopicError(UsageError):
    """A topic asked for on the command line does not exist, or names more than one."""


def short_name(slug: str) -> str:
    """A topic's file name without its number prefix: '01-deepseek' -> 'deepseek'."""
    return _NUMBER.sub("", slug, count=1)


def resolve(name: str, known: Sequence[str], titles: Callable[[], Mapping[str, str]]) -> str:
    """The slug a name given by the user means: the slug itself, the only slug whose short name it is,
    or the only topic with that title (case and spacing aside). ``titles`` (slug -> title) is asked
    for only when the slugs do not decide, since it means reading the files."""
    if name in known:
        return name
    short = [slug for slug in known if short_name(slug) == name]
    if len(short) == 1:
        return short[0]
    if len(short) > 1:
        raise UnknownTopicError(f"topic '{name}' is ambiguous: it could be {', '.join(short)}")
    by_title = titles()
    wanted = _normal(name)
    titled = [slug for slug in known if _normal(by_title.get(slug, "")) == wanted]
    if len(titled) == 1:
        return titled[0]
    if len(titled) > 1:
        raise UnknownTopicError(f"topic '{name}' is ambiguous: it is the title of {', '.join(titled)}")
    choices = [*known, *(short_name(s) for s in known)]
    close = close_match(name, choices) or close_match(wanted, [_normal(t) for t in by_title.values()])
    hint = ""
    if close is not None:
        hint = f" (did you mean '{_slug_for(close, known, by_title)}'?)"
    raise UnknownTopicError(f"unknown topic '{name}'{hint}; topics are: {', '.join(sorted(known)) or 'none'}")


def _slug_for(close: str, known: Sequence[str], titles: Mapping[str, str]) -> str:
    if close in known:
        return close
    for slug in known:
        if short_name(slug) == close or _normal(titles.get(slug, "")) == close:
            return slug
    return close


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def select_slugs(
    known: Sequence[str], names: Sequence[str], titles: Callable[[], Mapping[str, str]] | None = None
) -> list[str]:
    """The slugs the names stand for, in project order; all of them when none are named."""
    if not names:
        return list(known)
    cache: dict[str, str] | None = None

    def cached_titles() -> Mapping[str, str]:
        nonlocal cache
        if cache is None:
            cache = dict(titles()) if titles is not None else {}
        return cache

    wanted = {resolve(name, known, cached_titles) for name in dict.fromkeys(names)}
    return [s for s in known if s in wanted]


def select_topics(topics: Sequence[Topic], names: Sequence[str]) -> list[Topic]:
    """The topics named (by slug, short name or title), in project order; all of them when none are named."""
    chosen = set(select_slugs([t.slug for t in topics], names, lambda: {t.slug: t.title for t in topics}))
    return [t for t in topics if t.slug in chosen]


def file_titles(files: Mapping[str, Path]) -> dict[str, str]:
    """Each topic file's title, read without validating the file (a file that does not parse has none)."""
    out = {}
    for slug, path in files.items():
        root = YamlFile(path, path.name).read().root
        if isinstance(root, yaml.MappingNode):
            for key, value in root.value:
                if key.value == "title" and isinstance(value, yaml.ScalarNode) and value.tag == STR:
                    out[slug] = value.value
    return out
