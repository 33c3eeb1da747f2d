"""Markdown in card text: CommonMark (inline and block) to the HTML a note field holds.

Text is data, never markup: raw HTML and entities stay text, links go only to http and https,
and images come from the ``image`` key, not from Markdown. Math (``\\( \\)``, ``\\[ \\]``,
``$...$``, ``$$...$$``) and Anki's ``[sound:...]`` reach the field exactly as written, so Anki's
MathJax and player see them; cloze markup ``{{c1::...}}`` is plain text to Markdown and passes as is.
A value with no Markdown in it comes out as written (escaped), with no paragraph around it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

# markdown-it is imported by the first value that holds Markdown: most card text holds none, and a build
# of such text need not load the parser (about 15 ms of start-up).
if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# Characters that can make Markdown anywhere, and at the start or end of a value; text without any of them
# is only escaped (most card text: checked first, since it costs a fraction of a parse).
_MAYBE_MARKDOWN = re.compile(r"[\\`*_\[\]<>#\n\r]")
_MARKDOWN_STARTS = frozenset(" \t-+=>|~")
# What Markdown must not touch: math in Anki's and TeX's delimiters, and sound references. A
# single $ opens math only before a non-space and closes after one, not before a digit ("$5 and
# $6" is money), as in Pandoc.
_PROTECTED = re.compile(
    r"\\\(.*?\\\)"
    r"|\\\[.*?\\\]"
    r"|\$\$.+?\$\$"
    r"|(?<![\\$\w])\$(?![\s$]).*?(?<![\s\\])\$(?![\d$])"
    r"|\[sound:[^\]]*\]",
    re.DOTALL,
)
# A one-line value starting with a number and a period ("2020.", "1984. The year ...") is an answer,
# not a list: only a value of several lines makes an ordered list.
_LEADING_NUMBER = re.compile(r"^([ \t]*\d{1,9})([.)])")
# A placeholder is a private-use character pair around a number: Markdown treats it as a word.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_SCHEMES = ("http://", "https://")


def to_html(text: str) -> str:
    """The HTML of one text value: Markdown rendered, everything else escaped."""
    if (
        _MAYBE_MARKDOWN.search(text) is None
        and text[:1] not in _MARKDOWN_STARTS
        and text[-1:] not in _MARKDOWN_STARTS
        and not (text[:1].isdigit() and _LEADING_NUMBER.match(text))
    ):
        # Only & and " can be left to escape: < and > sent the text the long way.
        if "&" in text:
            text = text.replace("&", "&amp;")
        return text.replace('"', "&quot;") if '"' in text else text
    text = text.rstrip("\n")
    if "\n" not in text:
        text = _LEADING_NUMBER.sub(r"\1\\\2", text)
    if _OPEN in text or _CLOSE in text:
        # Text that holds our placeholder characters itself is rendered without protection:
        # still safe (every character is escaped), only math in it may be read as Markdown.
        return _render(text)
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return f"{_OPEN}{len(kept) - 1}{_CLOSE}"

    html = _render(_PROTECTED.sub(keep, text))
    if not kept:
        return html
    found: list[int] = []

    def restore(match: re.Match) -> str:
        index = int(match.group(1))
        found.append(index)
        return escape_html(kept[index])

    html = _PLACEHOLDER.sub(restore, html)
    if sorted(found) != list(range(len(kept))):
        # A placeholder went where it cannot be restored (inside a link's address): render the text
        # as it is rather than lose what it held.
        return _render(text)
    return html


def escape_html(text: str) -> str:
    """Text as HTML, escaped as markdown-it escapes it (``&``, ``<``, ``>`` and ``"``; not ``'``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _render(text: str) -> str:
    md = _parser()
    tokens = md.parse(text)
    # One paragraph is the value itself: no <p> around a single line or a few joined lines.
    if len(tokens) == 3 and tokens[0].type == "paragraph_open" and tokens[2].type == "paragraph_close":
        html = md.renderer.render(tokens[1].children or [], md.options, {})
    else:
        html = md.renderer.render(tokens, md.options, {}).rstrip("\n")
    return html.replace("<br>\n", "<br>")


def _valid_link(url: str) -> bool:
    return url.strip().lower().startswith(_SCHEMES)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    options = {"html": False, "breaks": True, "linkify": False, "typographer": False, "xhtmlOut": False}
    md = MarkdownIt("commonmark", options)
    # Entities would turn "&amp;" written in a card into "&"; images come only from the image key.
    md.disable(["entity", "image"])
    md.validateLink = _valid_link
    return md
