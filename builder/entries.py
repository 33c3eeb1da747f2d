"""The validated data: topics and their entries, each knowing where it was written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from builder.errors import Location
from builder.kinds import KINDS, Kind


@dataclass(frozen=True)
class Entry:
    """One note-to-be: common keys plus the kind's own values."""

    id: str
    kind: str
    values: dict[str, object]
    tags: tuple[str, ...]
    source: str | None
    allow: tuple[str, ...]
    loc: Location
    # Ids the entry had before (`was:`), oldest first: its note keeps their identity.
    was: tuple[str, ...] = ()
    # Where each key's value starts, as the parser's 0-based marks (anything with .line and .column):
    # turned into a Location only for a message, since most entries never need one.
    marks: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

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


@dataclass(frozen=True)
class Topic:
    """One topic file: a deck of its own under the root deck."""

    slug: str
    path: str
    title: str
    description: str | None
    tags: tuple[str, ...]
    source: str | None
    entries: tuple[Entry, ...]
    # (line, column) of the title's value, for messages about it.
    title_at: tuple[int, int] | None = field(default=None, compare=False)
