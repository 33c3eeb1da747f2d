"""Note-type definitions as an Anki package's collection holds them: the JSON genanki writes, made here.

genanki's own ``Model`` imports asyncio (through its ``cached_property`` dependency): about 20 ms that were on
the path of every clean build, where making the note types is what the build waits for. The definition is a
fixed set of keys around the fields, the card templates and the CSS; the one computed part, ``req`` (which
fields a card's front needs), is worked out as genanki works it out, by rendering each front with chevron.
tests/test_notetypes.py holds them equal to genanki's for every kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builder.render import Layout

# genanki's defaults for what a note type says about LaTeX.
LATEX_PRE = (
    "\\documentclass[12pt]{article}\n\\special{papersize=3in,5in}\n\\usepackage[utf8]{inputenc}\n"
    "\\usepackage{amssymb,amsmath}\n\\pagestyle{empty}\n\\setlength{\\parindent}{0in}\n"
    "\\begin{document}\n"
)
LATEX_POST = "\\end{document}"
FRONT_BACK, CLOZE = 0, 1
# A field's value standing for "not empty" while the fronts are rendered.
_SENTINEL = "SeNtInEl"
# Where a cloze note type's first front takes its deletions from: {{cloze:Field}} (with filters before it).
_CLOZE_FIELD = re.compile(r"{{[^}]*?cloze:(?:[^}]?:)*(.+?)}}")
_CLOZE_FIELD_OLD = re.compile("<%cloze:(.+?)%>")


def definition(
    model_id: int,
    name: str,
    fields: Sequence[str],
    cards: Sequence[tuple[str, str, str]],
    css: str,
    cloze: bool,
    req: list[list] | None = None,
) -> dict:
    """The note type's definition for ``mod`` and deck id 0; ``cards`` are (name, front, back) templates, ``req``
    what ``required_fields`` gives for them (worked out here when not given)."""
    # Keys in genanki's order: the same definition encodes to the same bytes.
    templates = [
        {"name": card, "qfmt": qfmt, "afmt": afmt, "ord": n}
        | {"bafmt": "", "bqfmt": "", "bfont": "", "bsize": 0, "did": None}
        for n, (card, qfmt, afmt) in enumerate(cards)
    ]
    flds = [
        {"name": field, "ord": n, "font": "Liberation Sans", "media": [], "rtl": False, "size": 20, "sticky": False}
        for n, field in enumerate(fields)
    ]
    return {
        "css": css,
        "did": 0,
        "flds": flds,
        "id": str(model_id),
        "latexPost": LATEX_POST,
        "latexPre": LATEX_PRE,
        "latexsvg": False,
        "mod": 0,
        "name": name,
        "req": required_fields(fields, [qfmt for _, qfmt, _ in cards]) if req is None else req,
        "sortf": 0,
        "tags": [],
        "tmpls": templates,
        "type": CLOZE if cloze else FRONT_BACK,
        "usn": -1,
        "vers": [],
    }


def required_fields(fields: Sequence[str], fronts: Sequence[str]) -> list[list]:
    """Each card's ``[ord, "all" | "any", field ordinals]``: the fields without which its front shows nothing."""
    import chevron
    from chevron.tokenizer import tokenize

    req: list[list] = []
    for ord_, text in enumerate(fronts):
        # Read once, rendered once for each field (chevron renders a list of its tokens as it renders the text).
        front = list(tokenize(text))
        # "all": the fields whose emptiness alone leaves the front with no field's content.
        needed = [n for n, field in enumerate(fields) if _SENTINEL not in chevron.render(front, _but(fields, field))]
        if needed:
            req.append([ord_, "all", needed])
            continue
        # Else "any": the fields whose content alone shows on the front.
        needed = [n for n, field in enumerate(fields) if _SENTINEL in chevron.render(front, _only(fields, field))]
        if not needed:
            raise ValueError(f"no field shows on the front of card {ord_ + 1}: {text!r}")
        req.append([ord_, "any", needed])
    return req


def layout_parts(layouts: Mapping[str, Layout]) -> dict[str, list]:
    """What each kind's note type takes from its layout, worked out before the config is known: its card templates
    as (name, front, back), its CSS, its ``req`` and, for a cloze kind, its deletion fields (package.py's
    ``note_types_from_parts`` adds the id and name deck.yaml gives). Plain JSON values, so that they cross between
    processes as they are."""
    out = {}
    for key, layout in layouts.items():
        kind = layout.kind
        cards = [[card.name, card.qfmt, card.afmt] for card in layout.cards]
        req = required_fields(kind.field_names, [front for _, front, _ in cards])
        fields = list(cloze_fields(kind.field_names, cards[0][1])) if kind.cloze else []
        out[key] = [cards, layout.css, req, fields]
    return out


def cloze_fields(fields: Sequence[str], first_front: str) -> tuple[int, ...]:
    """The ordinals of the fields a cloze note type's first front takes deletions from."""
    named = set(_CLOZE_FIELD.findall(first_front) + _CLOZE_FIELD_OLD.findall(first_front))
    return tuple(n for n, field in enumerate(fields) if field in named)


def _but(fields: Sequence[str], empty: str) -> dict[str, str]:
    return {field: "" if field == empty else _SENTINEL for field in fields}


def _only(fields: Sequence[str], full: str) -> dict[str, str]:
    return {field: _SENTINEL if field == full else "" for field in fields}
