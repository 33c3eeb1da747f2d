"""The validated data: topics and their entries, each knowing where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.kinds import KINDS, Kind


@dataclass(frozen=True)
class Location:
    """A place in a file, 1-based, as shown to users."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


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
    # Where each key's value starts, for messages about that key.
    key_locs: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)

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
