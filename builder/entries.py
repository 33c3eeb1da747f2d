"""The validated data: topics and their entries, each knowing where it was written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.errors import Location
from builder.kinds import KINDS, Kind


class Entry:
    """One note-to-be: common keys plus the kind's own values."""

    # A plain class rather than a dataclass: a build makes one per entry, and a dataclass costs every
    # process that imports this module the making of its methods. Treated as immutable.
    __slots__ = ("id", "kind", "values", "tags", "source", "allow", "loc", "was", "marks")

    def __init__(
        self,
        id: str,
        kind: str,
        values: dict[str, object],
        tags: tuple[str, ...],
        source: str | None,
        allow: tuple[str, ...],
        loc: Location,
        was: tuple[str, ...] = (),
        marks: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.values = values
        self.tags = tags
        self.source = source
        self.allow = allow
        self.loc = loc
        # Ids the entry had before (`was:`), oldest first: its note keeps their identity.
        self.was = was
        # Where each key's value starts, as the parser's 0-based marks (anything with .line and .column):
        # turned into a Location only for a message, since most entries never need one.
        self.marks: Mapping[str, Any] = {} if marks is None else marks

    def _key(self) -> tuple:
        return (self.id, self.kind, self.values, self.tags, self.source, self.allow, self.loc, self.was)

    def __eq__(self, other: object) -> bool:
        # Where an entry is written counts; the marks of its keys do not.
        return self._key() == other._key() if type(other) is Entry else NotImplemented

    __hash__ = None  # its values are a dict

    def replace(self, values: dict[str, object]) -> Entry:
        """The same entry with other values."""
        return Entry(self.id, self.kind, values, self.tags, self.source, self.allow, self.loc, self.was, self.marks)

    def key_loc(self, key: str) -> Location:
        """Where the value of ``key`` starts (where the entry starts when it has no such key)."""
        mark = self.marks.get(key)
        return self.loc if mark is None else Location(self.loc.path, mark.line + 1, mark.column + 1)

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def value(self, key: str) -> object:
        """The value of a kind key, or None when it is absent."""
        return self.values.get(key)


class Topic:
    """One topic file: a deck of its own under the root deck."""

    __slots__ = ("slug", "path", "title", "description", "tags", "source", "entries", "title_at")

    def __init__(
        self,
        slug: str,
        path: str,
        title: str,
        description: str | None,
        tags: tuple[str, ...],
        source: str | None,
        entries: tuple[Entry, ...],
        title_at: tuple[int, int] | None = None,
    ) -> None:
        self.slug = slug
        self.path = path
        self.title = title
        self.description = description
        self.tags = tags
        self.source = source
        self.entries = entries
        # (line, column) of the title's value, for messages about it.
        self.title_at = title_at

    def replace(self, entries: tuple[Entry, ...]) -> Topic:
        """The same topic with other entries."""
        return Topic(self.slug, self.path, self.title, self.description, self.tags, self.source, entries, self.title_at)
