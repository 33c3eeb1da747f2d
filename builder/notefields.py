"""An entry's note fields: the content of each field of its note type, as HTML.

Text values are Markdown (see markdown.py); media become Anki's own references in fields of their
own, so that Anki's media check sees them; the topic and the entry id are written as they are.
No layout is added here: that lives in the note type's card templates.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markupsafe import escape

from builder.entries import Entry, Topic
from builder.kinds import FLAG, KINDS
from builder.markdown import escape_html, to_html

_TAG_RE = re.compile(r"<[^>]*>")
# How each field of each kind is filled: (entry key, how), worked out once.
_TEXT, _FLAG, _ID, _TOPIC, _SOURCE, _IMAGE, _AUDIO = range(7)
_SPECIAL = {"id": _ID, "topic": _TOPIC, "source": _SOURCE, "image": _IMAGE, "audio": _AUDIO}
_PLANS = {
    name: tuple(
        (
            f.source,
            _SPECIAL.get(f.source, _FLAG if any(k.name == f.source and k.type == FLAG for k in kind.keys) else _TEXT),
        )
        for f in kind.fields
    )
    for name, kind in KINDS.items()
}


def note_fields(topic: Topic, entry: Entry) -> tuple[str, ...]:
    """The value of each field of the entry's note type, in the note type's field order."""
    values = entry.values
    out = []
    for key, how in _PLANS[entry.kind]:
        if how == _TEXT:
            value = values.get(key)
            out.append(to_html(value) if value else "")
        elif how == _TOPIC:
            out.append(_title(topic.title))
        elif how == _ID:
            # Ids are letters, digits, '.', '_' and '-' (load.py): nothing to escape.
            out.append(entry.id)
        elif how == _SOURCE:
            out.append(_source(entry.source) if entry.source else "")
        elif how == _FLAG:
            out.append("y" if values.get(key) else "")
        elif how == _IMAGE:
            name = values.get(key)
            out.append(f'<img src="{escape(name)}" alt="">' if name else "")
        else:
            name = values.get(key)
            out.append(f"[sound:{name}]" if name else "")
    return tuple(out)


@lru_cache(maxsize=256)
def _source(source: str) -> str:
    # Most entries of a topic share its source: its HTML is made once.
    return to_html(source)


@lru_cache(maxsize=64)
def _title(title: str) -> str:
    # Escaped as Markdown text is, so that a title and a value read back alike.
    return escape_html(title)


def sort_text(field_html: str) -> str:
    """What Anki sorts and checks duplicates by: a field's text without its HTML."""
    if "<" not in field_html and "&" not in field_html:
        return field_html
    import html  # only a field holding markup needs it (and its table of entities)

    return html.unescape(_TAG_RE.sub("", field_html))
