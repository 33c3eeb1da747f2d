"""What makes a topic title or root deck a safe Anki deck name, and when Anki sees two names as one deck."""

from __future__ import annotations

import unicodedata


def deck_name_problem(name: str, key: str, *, nested: bool) -> str | None:
    """Why ``name`` cannot be a deck name given under ``key``, or None when it can.

    Anki inserts deck names unescaped wherever a card template shows {{Deck}} or {{Subdeck}} (a
    project's own templates may); a name is therefore refused when it holds what a browser reads as
    markup: ``<`` or a character reference such as ``&lt;``. Plain ``&`` (as in "R&D") reads as itself.
    """
    if "\n" in name or "\r" in name:
        return f"'{key}' must be on one line"
    if "<" in name or ("&" in name and _unescaped(name) != name):
        return (
            f"'{key}' must not contain '<' or a character reference such as '&lt;': Anki "
            "inserts deck names unescaped where a card template shows {{Deck}} or {{Subdeck}}"
        )
    if "::" in name:
        if not nested:
            return f"'{key}' must be one deck name, without '::' or outer spaces"
        parts = name.split("::")
        if any(not part.strip() or part != part.strip() for part in parts):
            return f"'{key}' has an empty or space-padded deck name between '::' (Anki drops or merges those)"
    return None


def deck_key(name: str) -> str:
    """The form under which Anki matches deck names: Unicode-normalized, case ignored."""
    return unicodedata.normalize("NFC", name).casefold()


def _unescaped(text: str) -> str:
    # html (and its table of entities) is imported only for a name that could hold a character reference.
    import html

    return html.unescape(text)
