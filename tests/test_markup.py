"""Text from a project is never markup: not in real Anki's cards, not in the preview's pages.

A project full of script-shaped text is built, imported into a fresh Anki collection and
previewed; every card side and every page is parsed with html5lib (a standards-conformant
parser, so what it finds is what a browser would run) and searched for script.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.cli import cli
from builder.identity import note_guid
from tests.ankitools import import_package, note_id_for_guid, open_collection, rendered_cards
from tests.conftest import CONFIG, FUZZ_COUNTS
from tests.media_files import png
from tests.test_fuzz import examples

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
HOSTILE = f"""\
title: "R&D 'quoted' \\"double\\" & more"
description: "{IMG} {SCRIPT} <a href='javascript:alert(3)'>x</a>"
source: "{IMG} javascript:alert(4)"
tags: ["<b>bold</b>", "x\\"onmouseover=alert(5)"]
entries:
  - kind: qa
    id: q-markup
    question: "What does {IMG} do? {SCRIPT}"
    answer: "<svg onload=alert(6)></svg> and <iframe src=javascript:alert(7)></iframe>"
    extra: "</div><div onclick=alert(8)>click</div>"
    image: "it's ok=1 onerror=alert(9).png"
  - kind: concept
    id: c-markup
    term: "<style>*{{display:none}}</style>Term"
    definition: "{IMG}"
    reverse: true
  - kind: cloze
    id: z-markup
    text: "A {{{{c1::secret::<img src=x onerror=alert(10)>}}}} and \\\\( \\\\text{{{IMG}}} \\\\) and \\
      \\\\( \\\\href{{javascript:alert(11)}}{{x}} \\\\)."
  - kind: claim
    id: m-math
    question: "What is \\\\( \\\\mathrm{{<script>alert(12)</script>}} \\\\)?"
    answer: "\\\\[ \\\\text{{</math><img src=x onerror=alert(13)>}} \\\\]"
"""
# Topic files whose names are script links, or break links, if used unencoded.
FILE_NAMES = ("javascript:alert(14)", "a#b%c?d e", "50%")


def _topic(title: str, entry_id: str) -> str:
    return (
        f'title: "{title}"\nentries:\n  - kind: qa\n    id: {entry_id}\n    question: Q {entry_id}?\n    answer: A.\n'
    )


@pytest.fixture
def hostile(project):
    project.write("cards/hostile.yaml", HOSTILE)
    (project.root / "media").mkdir()
    (project.root / "media/it's ok=1 onerror=alert(9).png").write_bytes(png())
    for i, name in enumerate(FILE_NAMES):
        (project.root / f"cards/{name}.yaml").write_text(_topic(f"Odd {i}", f"odd-{i}"), encoding="utf-8")
    return project


def script_in(page: str) -> list[str]:
    """Every element or attribute of a parsed page that could run script."""
    found = []
    for element in html5lib.parse(page, namespaceHTMLElements=False).iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.rpartition("}")[2].lower()
        if tag in ("script", "iframe", "object", "embed"):
            found.append(f"<{tag}> {element.attrib}")
        for name, value in element.attrib.items():
            name = name.rpartition("}")[2].lower()
            if name.startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if "javascript:" in "".join(value.split()).lower() and name in ("href", "src", "action", "formaction"):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def test_anki_cards_hold_project_text_as_text(hostile, tmp_path: Path):
    result = hostile.build()
    assert result.exit_code == 0, result.output
    col = open_collection(tmp_path / "col.anki2")
    try:
        for apkg in sorted(hostile.output.glob("*.apkg")):
            import_package(col, apkg)
        cards = rendered_cards(col)
        assert len(cards) == 14
        for card in cards:
            for side in ("question_html", "answer_html"):
                assert script_in(card[side]) == [], (card["template"], card[side])
        by_note = {}
        for entry_id in ("q-markup", "c-markup", "z-markup", "m-math"):
            nid = note_id_for_guid(col, note_guid("test-project", entry_id))
            by_note[entry_id] = rendered_cards(col, f"nid:{nid}")
        qa = by_note["q-markup"][0]
        # Shown exactly as written: as text.
        assert qa["question"].endswith(f"What does {IMG} do? {SCRIPT}")
        assert "<svg onload=alert(6)></svg> and <iframe src=javascript:alert(7)></iframe>" in qa["answer"]
        assert "</div><div onclick=alert(8)>click</div>" in qa["answer"]
        assert qa["question"].startswith("R&D 'quoted' \"double\" & more\n")
        (image,) = html5lib.parse(qa["question_html"], namespaceHTMLElements=False).iter("img")
        assert image.attrib == {"src": "it's ok=1 onerror=alert(9).png", "alt": ""}
        cloze = by_note["z-markup"][0]
        assert "[<img src=x onerror=alert(10)>]" in cloze["question"]
        assert f"\\( \\text{{{IMG}}} \\)" in cloze["question"]
        assert "<style>*{display:none}</style>Term" in by_note["c-markup"][0]["question"]
    finally:
        col.close()


def test_preview_pages_hold_project_text_as_text(hostile):
    result = hostile.run("preview")
    assert result.exit_code == 0, result.output
    site = hostile.output / "preview"
    pages = sorted(site.glob("*.html"))
    assert len(pages) == 3 + len(FILE_NAMES)  # the index, all-kinds, hostile and the odd names
    for page in pages:
        text = page.read_text(encoding="utf-8")
        document = html5lib.parse(text, namespaceHTMLElements=False)
        scripts = [e for e in document.iter("script")]
        # The site's own script, loaded from its own file; nothing inline, nothing from content.
        assert [(s.attrib, s.text) for s in scripts] == [({"src": "preview.js"}, None)], page.name
        findings = [f for f in script_in(text) if f != "<script> {'src': 'preview.js'}"]
        assert findings == [], page.name
        # Every link and media source resolves to a file of the site, whatever the file names hold.
        for element in document.iter():
            for name in ("href", "src"):
                value = element.attrib.get(name)
                if value is None or value.startswith("#"):
                    continue
                url = urlsplit(value)
                assert url.scheme == "" and url.netloc == "", (page.name, value)
                assert (site / unquote(url.path)).is_file(), (page.name, value)
    hostile_page = (site / "hostile.html").read_text(encoding="utf-8")
    body = html5lib.parse(hostile_page, namespaceHTMLElements=False)
    visible = " ".join("".join(e.itertext()) for e in body.iter("article"))
    assert f"What does {IMG} do? {SCRIPT}" in visible
    assert f"\\text{{{IMG}}}" in visible or IMG in visible
    # Formulas still render as MathML where they are safe.
    assert "<mtext>&lt;img\xa0src=x\xa0onerror=alert(1)&gt;</mtext>" in hostile_page


@pytest.mark.parametrize(
    ("title", "message"),
    [
        (
            IMG,
            "'title' must not contain '<' or a character reference such as '&lt;': Anki "
            "inserts deck names unescaped where a card template shows {{Deck}} or {{Subdeck}}",
        ),
        (
            "&lt;img src=x onerror=alert(1)&gt;",
            "'title' must not contain '<' or a character reference such as '&lt;': Anki "
            "inserts deck names unescaped where a card template shows {{Deck}} or {{Subdeck}}",
        ),
        ("::", "'title' has an empty or space-padded deck name between '::' (Anki drops or merges those)"),
        ("A:: B", "'title' has an empty or space-padded deck name between '::' (Anki drops or merges those)"),
        ("Two\\nlines", "'title' must be on one line"),
    ],
)
def test_titles_anki_would_read_as_markup_are_refused(project, title: str, message: str):
    project.write("cards/bad.yaml", _topic(title, "b1"))
    before = project.snapshot()
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"cards/bad.yaml:1:8: {message}",
        "1 error in 1 file; nothing was written.",
    ]
    assert project.snapshot() == before


def test_root_deck_that_would_be_markup_is_refused(project):
    config = (project.root / "deck.yaml").read_text().replace("root_deck: Test Root", "root_deck: A &amp; B")
    project.write("deck.yaml", config)
    result = project.build()
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "deck.yaml:2:12: 'root_deck' must not contain '<' or a character reference such as '&lt;': "
        "Anki inserts deck names unescaped where a card template shows {{Deck}} or {{Subdeck}}"
    )


# -- random hostile text ---------------------------------------------------------------------------

# Pieces of markup, script, URLs, entities, math, Markdown, Anki and Jinja2 syntax.
_PIECES = [
    "<", ">", "&", '"', "'", "=", "/", " ", "<img src=x onerror=alert(1)>", "<script>", "</script>", "<svg onload=",
    "javascript:", "&lt;", "&#60;", "&amp;", "on", "href", "\\(", "\\)", "\\[", "\\]", "\\text{", "\\href{", "}",
    "{", "{{", "}}", "::", "c1", "%", "#", "?", "\u202e", "é", "</div>", "<!--", "-->", "`",
    # Markdown: links, autolinks, images, emphasis, code
    "[a](", "](javascript:alert(1))", "](data:text/html,x)", "<javascript:alert(1)>", "![i](x.png)", "*", "_", "\n",
]  # fmt: skip
_HOSTILE = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join)
# Refused wherever they appear: drawn into one value in about half the cases.
_CONTROL = st.sampled_from(["", "", "", "\x1f", "\x1b]0;t\x07", "\x00", "\x9b"])


@st.composite
def hostile_topics(draw) -> dict:
    question = draw(_HOSTILE) + draw(_CONTROL)
    entry = {"kind": "qa", "id": "h1", "question": question, "answer": draw(_HOSTILE), "extra": draw(_HOSTILE)}
    cloze = {"kind": "cloze", "id": "h2", "text": f"a {{{{c1::x::{draw(_HOSTILE)}}}}} {draw(_HOSTILE)}"}
    return {
        # A title Anki would read as markup is refused: drawn hostile in one case in three.
        "title": "T " + draw(st.one_of(st.just("plain"), st.just("R&D \"x\" 'y'"), _HOSTILE)),
        "description": draw(_HOSTILE),
        "source": draw(_HOSTILE),
        "tags": [draw(_HOSTILE).replace(" ", "-")],
        "entries": [entry, cloze],
    }


@given(topic=hostile_topics())
@settings(max_examples=examples(ci=15, long=300))
def test_random_hostile_text_is_refused_or_stays_text(topic):
    FUZZ_COUNTS["hostile projects tried"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "cards").mkdir(parents=True)
        (root / "deck.yaml").write_text(CONFIG, encoding="utf-8")
        (root / "cards/hostile.yaml").write_text(yaml.safe_dump(topic, allow_unicode=True), encoding="utf-8")
        runner = CliRunner()
        result = runner.invoke(cli, ["-C", str(root), "build"], catch_exceptions=False)
        if result.exit_code != 0:
            FUZZ_COUNTS["hostile projects refused with a message"] += 1
            assert result.exit_code == 1
            assert result.stderr.splitlines()[-1].endswith("nothing was written.")
            assert all(line.startswith("cards/hostile.yaml:") for line in result.stderr.splitlines()[:-1])
            assert not (root / "output").exists()
            return
        col = open_collection(Path(tmp) / "col.anki2")
        try:
            import_package(col, root / "output/hostile.apkg")
            for card in rendered_cards(col):
                for side in ("question_html", "answer_html"):
                    assert script_in(card[side]) == [], card[side]
        finally:
            col.close()
        assert runner.invoke(cli, ["-C", str(root), "preview"], catch_exceptions=False).exit_code == 0
        for page in (root / "output/preview").glob("*.html"):
            findings = [f for f in script_in(page.read_text(encoding="utf-8")) if "preview.js" not in f]
            assert findings == [], page.name
        FUZZ_COUNTS["hostile projects built, imported into Anki and previewed: no script"] += 1
