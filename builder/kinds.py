"""Entry kinds: the keys each kind accepts, and the Anki note type its notes use.

A note type's fields hold content, named for the YAML keys they come from; its card templates and
CSS are made at build time from the Jinja2 templates ``<kind>/<card side>.html`` and ``style.css``
(see render.py). Adding a kind means adding one ``Kind`` here, its templates under
``templates/<kind>/``, a test file and a section in docs/cards.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property

TEXT = "text"
FLAG = "flag"

# The generation of the note types' fields and card templates. It is part of every note-type id
# (see identity.note_type_id): a new generation makes new note types in Anki instead of renamed ones.
LAYOUT = 2


class Key:
    """A key an entry of some kind may carry."""

    # The kinds' classes are plain classes rather than dataclasses: every build imports this module, and a
    # dataclass costs it the making of its methods. Made once here and never changed.
    __slots__ = ("name", "type", "required", "help")

    def __init__(self, name: str, type: str = TEXT, required: bool = False, help: str = "") -> None:
        self.name = name
        self.type = type
        self.required = required
        self.help = help


class NoteField:
    """One field of a note type: its name in Anki and where its value comes from.

    ``source`` is an entry key, or ``topic`` (the topic's title) or ``id`` (the entry id).
    """

    __slots__ = ("name", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source


class CardTemplate:
    """One Anki card template: its name, and the Jinja2 templates that make its two sides.

    A card that ``needs`` a key exists only for entries that set it: its front is wrapped in Anki's
    ``{{#Field}}...{{/Field}}`` of the field that key fills, and Anki makes no card whose front is empty.
    """

    __slots__ = ("name", "front", "back", "needs")

    def __init__(self, name: str, front: str, back: str, needs: str | None = None) -> None:
        self.name = name
        self.front = front
        self.back = back
        self.needs = needs


class Kind:
    """An entry kind and the Anki note type its notes are built on.

    The note type's field and template names are part of its identity in Anki: renaming or
    adding one makes Anki create a copy of the note type on import, so they never change
    within one ``LAYOUT`` generation. The first field is the one Anki sorts and searches by; the
    last is the entry id (identity.content_fields relies on it).
    """

    def __init__(
        self,
        name: str,
        title: str,
        keys: tuple[Key, ...],
        fields: tuple[NoteField, ...],
        cards: tuple[CardTemplate, ...],
        cloze: bool = False,
        summary: str = "",
    ) -> None:
        self.name = name
        self.title = title
        self.keys = keys
        self.fields = fields
        self.cards = cards
        self.cloze = cloze
        self.summary = summary

    @cached_property
    def key_names(self) -> tuple[str, ...]:
        """The names of the kind's own keys (asked for every entry read, so made once)."""
        return tuple(k.name for k in self.keys)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """The note type's field names, in order."""
        return tuple(f.name for f in self.fields)

    def field_for(self, key: str) -> str:
        """The name of the field a key's value goes to."""
        return next(f.name for f in self.fields if f.source == key)

    def template_names(self) -> list[str]:
        """Every Jinja2 template the note type's card templates are made from."""
        return [name for card in self.cards for name in (card.front, card.back)]


def note_type_name(kind: Kind, project: str) -> str:
    """A note type's name in Anki: the first layout's was "Title (project)", so Anki adds no "+" to it."""
    return f"{kind.title} · {project}"


# Keys every entry has, whatever its kind.
COMMON_KEYS: tuple[Key, ...] = (
    Key("id", required=True, help="stable identity of the note in Anki; unique in the project"),
    Key("kind", required=True, help="entry kind"),
    Key("tags", type="tags", help="Anki tags; no spaces, `a::b` for hierarchy"),
    Key("source", help="where in the source the fact comes from"),
    Key("allow", type="names", help="quality rules this entry is a deliberate exception to"),
    Key("was", type="names", help="ids this entry had before, oldest first: its note keeps their identity in Anki"),
)

# Files from the project's media/ folder, shown with the question (see builder/media.py).
MEDIA_KEYS: tuple[Key, ...] = (
    Key("image", help="an image file in media/, shown with the question"),
    Key("audio", help="an audio file in media/, played with the question"),
)

# Fields every note type ends with: the optional parts of the back, media, where the note comes from.
_EXTRA = NoteField("Extra", "extra")
_SOURCE = NoteField("Source", "source")
_MEDIA = (NoteField("Image", "image"), NoteField("Audio", "audio"))
_ORIGIN = (NoteField("Topic", "topic"), NoteField("Entry ID", "id"))


def _card(kind: str, name: str = "Card", side: str = "", needs: str | None = None) -> CardTemplate:
    return CardTemplate(name, f"{kind}/{side}front.html", f"{kind}/{side}back.html", needs)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="concept",
            title="Concept",
            summary="a term and its definition; a reverse card asks for the term",
            keys=(
                Key("term", required=True, help="the term"),
                Key("definition", required=True, help="what it means"),
                Key("example", help="an example, shown on the back"),
                Key("reverse", type=FLAG, help="also make a card asking for the term"),
                Key("extra", help="a note shown on the back"),
                *MEDIA_KEYS,
            ),
            fields=(
                NoteField("Term", "term"),
                NoteField("Definition", "definition"),
                NoteField("Example", "example"),
                _EXTRA,
                _SOURCE,
                *_MEDIA,
                NoteField("Reverse", "reverse"),
                *_ORIGIN,
            ),
            # Card order is part of the note type too: reviewed cards are matched by it.
            cards=(_card("concept", "Definition"), _card("concept", "Term", "reverse_", needs="reverse")),
        ),
        Kind(
            name="claim",
            title="Claim",
            summary="something the speaker holds: the question that tests it, the answer, the reasoning",
            keys=(
                Key("question", required=True, help="the question that tests the claim"),
                Key("answer", required=True, help="the claim"),
                Key("reasoning", help='why the claim holds, shown on the back after "Why:"'),
                Key("extra", help="a note shown on the back"),
                *MEDIA_KEYS,
            ),
            fields=(
                NoteField("Question", "question"),
                NoteField("Claim", "answer"),
                NoteField("Reasoning", "reasoning"),
                _EXTRA,
                _SOURCE,
                *_MEDIA,
                *_ORIGIN,
            ),
            cards=(_card("claim"),),
        ),
        Kind(
            name="qa",
            title="Question",
            summary="a plain question and answer",
            keys=(
                Key("question", required=True, help="the question"),
                Key("answer", required=True, help="the answer"),
                Key("extra", help="a note shown on the back"),
                *MEDIA_KEYS,
            ),
            fields=(
                NoteField("Question", "question"),
                NoteField("Answer", "answer"),
                _EXTRA,
                _SOURCE,
                *_MEDIA,
                *_ORIGIN,
            ),
            cards=(_card("qa"),),
        ),
        Kind(
            name="cloze",
            title="Cloze",
            summary="text with Anki cloze deletions {{c1::...}}; one card per deletion number",
            keys=(
                Key("text", required=True, help="text with {{c1::...}} deletions"),
                Key("extra", help="a note shown on the back"),
                *MEDIA_KEYS,
            ),
            fields=(NoteField("Text", "text"), _EXTRA, _SOURCE, *_MEDIA, *_ORIGIN),
            cards=(_card("cloze", "Cloze"),),
            cloze=True,
        ),
    )
}


# -- rules of an entry's values, whatever its kind ----------------------------------------------

# An entry id: what a note's identity in Anki is made from (see package.note_guid).
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_ID_LENGTH = 100
# Anki's cloze deletion: {{c<number>::<answer>}} or {{c<number>::<answer>::<hint>}}.
CLOZE_RE = re.compile(r"\{\{c(\d+)::(.*?)\}\}", re.DOTALL)
# The keys that name an entry, in order: its question, its term, or its cloze text.
_MAIN_KEYS = ("question", "term", "text")


def cloze_numbers(text: str) -> list[int]:
    """The deletion numbers a cloze text uses, in order, each once: one card each."""
    return sorted({int(number) for number, _ in CLOZE_RE.findall(text)})


def cloze_answer(body: str) -> str:
    """A deletion's answer, without its hint (`answer::hint`)."""
    return body.split("::")[0]


def reveal_cloze(text: str, hide: int | None = None, blank: str = "") -> str:
    """Cloze text with its deletions shown as their answers; deletion ``hide`` as ``blank`` instead."""
    return CLOZE_RE.sub(
        lambda m: blank if hide is not None and int(m.group(1)) == hide else cloze_answer(m.group(2)), text
    )


def main_text(values: Mapping[str, object], *, plain: bool = False) -> str | None:
    """What names an entry: its question, term or cloze text; ``plain`` shows cloze deletions as their answers."""
    for key in _MAIN_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            return reveal_cloze(value) if plain and key == "text" else value
    return None


def card_count(kind: Kind, values: Mapping[str, object]) -> int:
    """How many cards Anki makes from a note of ``kind`` with these values."""
    if kind.cloze:
        text = values.get("text")
        return len(cloze_numbers(text)) if isinstance(text, str) else 0
    # A card whose front is empty is not made: a concept's "Term" card needs `reverse: true`.
    return sum(1 for card in kind.cards if not card.needs or values.get(card.needs))
