"""Math for the preview: LaTeX between ``\\( \\)`` and ``\\[ \\]`` turned into MathML, offline.

Anki renders these delimiters itself with MathJax, so the deck keeps them untouched; only the
preview converts them, because browsers render MathML natively and nothing need be loaded.
``$`` is not a delimiter, here or in Anki's defaults.

A formula is the project's text: its MathML is rebuilt from the converter's element tree with
every text escaped and only presentational attributes kept, so no formula (``\\text{<img ...>}``,
``\\href{javascript:...}``) becomes a live element, attribute or link in the page.
"""

from __future__ import annotations

import html
import re
from xml.etree import ElementTree

_MATH_RE = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z]")
# MathML presentation attributes the converter writes; anything else (href, on*, style) is dropped.
_ATTRIBUTES = frozenset(
    {
        "accent", "accentunder", "align", "close", "columnalign", "columnlines", "columnspacing", "columnspan",
        "depth", "display", "displaystyle", "fence", "form", "frame", "framespacing", "height", "largeop",
        "linethickness", "lspace", "mathbackground", "mathcolor", "mathsize", "mathvariant", "maxsize", "minsize",
        "movablelimits",
        "notation", "open", "rowalign", "rowlines", "rowspacing", "rowspan", "rspace", "scriptlevel",
        "separator", "separators", "stretchy", "symmetric", "voffset", "width",
    }
)  # fmt: skip
_ELEMENT_RE = re.compile(r"^(math|m[a-z]+|none|semantics|annotation)$")


def render_math(field_html: str) -> str:
    """The HTML with each formula replaced by MathML; a formula that fails to convert stays as written."""
    if "\\(" not in field_html and "\\[" not in field_html:
        return field_html
    return _MATH_RE.sub(_formula, field_html)


def _formula(match: re.Match) -> str:
    inline, block = match.group(1), match.group(2)
    source = inline if inline is not None else block
    latex = _BR_RE.sub("\n", source)
    if _TAG_RE.search(latex):
        # Markup inside a formula (a cloze blank, say) is for Anki's MathJax to sort out.
        return match.group(0)
    latex = html.unescape(latex)
    # Imported here: it is only needed when a card has a formula, and `decks build` never does.
    from latex2mathml.converter import convert_to_element

    try:
        root = convert_to_element(latex, xmlns="", display="inline" if inline is not None else "block")
        mathml = _safe_markup(root)
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds; a bad formula must not stop the preview
        return f'<span class="math-error" title="could not render this formula">{match.group(0)}</span>'
    return f'<span class="math" title="{html.escape(latex.strip())}">{mathml}</span>'


def _safe_markup(root: ElementTree.Element) -> str:
    """MathML of a converted formula with every text escaped and only presentational attributes."""
    for element in root.iter():
        if not isinstance(element.tag, str) or not _ELEMENT_RE.match(element.tag):
            raise ValueError(f"unexpected element {element.tag!r}")
        for name in list(element.attrib):
            if name not in _ATTRIBUTES:
                del element.attrib[name]
        # The converter writes symbols as character references inside its text ("&#x0003C;") and
        # leaves the formula's own text raw; decoded here, both are escaped once when serialized.
        if element.text:
            element.text = html.unescape(element.text)
        if element.tail:
            element.tail = html.unescape(element.tail)
    root.attrib.pop("xmlns", None)
    return ElementTree.tostring(root, encoding="unicode")
