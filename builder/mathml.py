"""Math for the preview: LaTeX between ``\\( \\)`` and ``\\[ \\]`` turned into MathML, offline.

Anki renders these delimiters itself with MathJax, so the deck keeps them untouched; only the
preview converts them, because browsers render MathML natively and nothing need be loaded.
``$`` is not a delimiter, here or in Anki's defaults.
"""

from __future__ import annotations

import html
import re

_MATH_RE = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z]")


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
    from latex2mathml.converter import convert

    try:
        mathml = convert(latex, xmlns="", display="inline" if inline is not None else "block")
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds; a bad formula must not stop the preview
        return f'<span class="math-error" title="could not render this formula">{match.group(0)}</span>'
    mathml = mathml.replace(' xmlns=""', "", 1)
    return f'<span class="math" title="{html.escape(latex.strip())}">{mathml}</span>'
