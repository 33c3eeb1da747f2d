"""The searches a push's check asks Anki, as AnkiConnect actions.

Free of Click and pathlib, like ``wire.py``: a push builds them, from the check file, before anything else
loads (``early.py``). ``live.py`` reads their replies.
"""

from __future__ import annotations

import re

from builder.anki.wire import Action, action

TYPE_CHECKING = False  # typing itself is not loaded: this module loads as a push starts (early.py)
if TYPE_CHECKING:
    from collections.abc import Sequence

# The tag a push gives the notes of entries removed from the YAML.
REMOVED_TAG = "decks::removed"


def connect_actions() -> list[Action]:
    """What every first request asks: AnkiConnect's version and the open profile's media folder."""
    return [action("version"), action("getMediaDirPath")]


def check_actions(names: Sequence[Sequence], groups: Sequence[Sequence]) -> list[Action]:
    """The searches of a push's check: the note types' names, then ``fact_actions`` for those of ``names``
    ([[id, name], ...]) and the tag ``groups``."""
    ours = {int(mid): name for mid, name in names}
    return [action("modelNamesAndIds"), *fact_actions(ours, groups)]


def fact_actions(ours: dict[int, str], groups: Sequence[Sequence] = ()) -> list[Action]:
    """The searches ``facts_from`` reads: one request for the note types, the notes' ids, the suspended cards
    (one search, not a question per card), the decks, the notes tagged as removed, and, for the tag
    ``groups`` ([[tags...], [note ids...]], ...), one search for the notes that lack a tag of their group."""
    query = note_types_query(ours)
    missing = missing_query(groups)
    return [
        *(
            a
            for mid in sorted(ours)
            for a in (action("modelFieldNames", modelName=ours[mid]), action("modelTemplates", modelName=ours[mid]))
        ),
        action("findNotes", query=query),
        action("findCards", query=f"{query} is:suspended"),
        action("deckNames"),
        action("findNotes", query=f"{query} {_tag_search(REMOVED_TAG)}"),
        *([action("findNotes", query=missing)] if missing else []),
    ]


def asks_missing(groups: Sequence[Sequence]) -> bool:
    """Whether ``fact_actions`` asks, for these tag groups, the search for notes that lack a tag of their group."""
    return any(tags and notes for tags, notes in groups)


def missing_query(groups: Sequence[Sequence]) -> str:
    # One search over the notes of every group, not one per tag over every note: Anki then tests each note
    # only against its own group's tags (a search per tag cost about 2.5 ms each inside Anki at 10,000 notes).
    # Each tag's search made once (a tag is in many groups); the ids through ``int``, as the check holds them.
    searches: dict[str, str] = {}
    parts = []
    for tags, notes in groups:
        if tags and notes:
            lacks = " OR ".join(["-" + (searches.get(t) or searches.setdefault(t, _tag_search(t))) for t in tags])
            parts.append("(nid:" + ",".join(map(str, map(int, notes))) + " (" + lacks + "))")
    return " OR ".join(parts)


def note_types_query(ours: dict[int, str]) -> str:
    return "(" + " OR ".join(f"mid:{mid}" for mid in sorted(ours)) + ")"


# Characters of a tag that read as themselves in a regular expression; any other but these four goes in brackets.
_PLAIN = re.compile(r"[\w:-]")
_SPECIAL = set('\\"[]^')


def _tag_search(tag: str) -> str:
    """An Anki search for the notes carrying exactly this tag (``tag:x`` alone also finds ``x::child``)."""
    if any(char in _SPECIAL for char in tag):
        # Characters both the search and the expression read specially: a plain tag search then, which
        # also finds the tag's children.
        text = tag.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*").replace("_", "\\_")
        return f'"tag:{text}"'
    pattern = "".join(char if _PLAIN.fullmatch(char) else f"[{char}]" for char in tag)
    return f'"tag:re:^{pattern}$"'
