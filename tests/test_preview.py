"""`decks preview`: a static site showing each card as Anki shows it (no browser needed here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.anki_view import note_cards
from builder.config import load_config
from builder.identity import note_guid
from builder.load import load_project
from builder.notefields import note_fields
from builder.render import Renderer
from builder.templatedirs import template_dirs
from tests.ankitools import import_package, open_collection, rendered_cards
from tests.media_files import png

REPO = Path(__file__).resolve().parents[1]


def test_cards_match_what_anki_renders(project, tmp_path):
    """The preview's question and answer HTML is Anki's own, card for card."""
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    try:
        import_package(col, project.output / "all-kinds.apkg")
        anki = {}
        for card in rendered_cards(col):
            guid = col.db.scalar("select guid from notes where id=?", card["nid"])
            anki[(guid, card["ord"])] = (card["template"], card["question_html"], card["answer_html"])
    finally:
        col.close()

    config = load_config(project.root)
    topics = load_project(config)
    layouts = Renderer(template_dirs(config.templates_dir)).layouts()
    ours = {}
    for topic in topics:
        for entry in topic.entries:
            for view in note_cards(layouts[entry.kind], note_fields(topic, entry), topic.title):
                key = (note_guid(config.project, entry.id), view.ord)
                ours[key] = (view.name, view.question, view.answer)

    assert ours.keys() == anki.keys()
    for key, (name, question, answer) in ours.items():
        anki_name, anki_question, anki_answer = anki[key]
        assert name.split(" ")[0] == anki_name
        # Anki adds the hidden answer as an attribute of the blank; the preview leaves it out.
        assert question == re.sub(r' data-cloze="[^"]*"', "", anki_question)
        assert answer == anki_answer


def test_preview_writes_an_index_and_a_page_per_topic(project):
    project.write(
        "cards/second.yaml",
        """\
        title: Second & Last
        tags: [extra-tag]
        entries:
          - {kind: qa, id: second-1, question: Is this the second topic?, answer: Yes.}
        """,
    )
    result = project.run("preview")
    assert result.exit_code == 0
    assert result.output == "Preview of 2 topics: 5 notes, 7 cards -> output/preview/index.html\n"
    site = project.output / "preview"
    assert sorted(p.name for p in site.iterdir()) == [
        "all-kinds.html",
        "cards.css",
        "index.html",
        "preview.css",
        "preview.js",
        "second.html",
    ]
    # The note types' stylesheet, made from templates/style.css (the same for every kind by default).
    assert (site / "cards.css").read_text() == (REPO / "templates/style.css").read_text().strip()

    index = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(
        r'<a href="all-kinds.html">All Kinds</a>.*?<td class="pv-num">4</td>\s*'
        r'<td class="pv-num">6</td>',
        index,
        re.S,
    )
    assert re.search(
        r'<a href="second.html">Second &amp; Last</a>.*?<td class="pv-num">1</td>\s*'
        r'<td class="pv-num">1</td>',
        index,
        re.S,
    )
    assert index.count('class="pv-hit"') == 5
    assert '<option value="extra-tag">extra-tag</option>' in index

    page = (site / "all-kinds.html").read_text(encoding="utf-8")
    assert page.count('class="pv-entry"') == 4
    assert page.count('class="pv-card"') == 6
    # The cloze blank on the front, revealed on the back.
    assert (
        'He joined when it had about <span class="cloze" data-ordinal="1">[...]</span> people, in '
        '<span class="cloze-inactive" data-ordinal="2">2017</span>.'
    ) in page
    assert '<span class="cloze" data-ordinal="1">35</span>' in page
    assert page.count('<details class="pv-answer">') == 6


def test_site_loads_nothing_from_outside(project):
    project.write("media/pic.png", "x")
    project.write(
        "cards/math.yaml",
        r"""
        title: Math
        entries:
          - {kind: qa, id: m1, question: 'What is \(x^2\)?', answer: 'x squared', image: pic.png}
        """,
    )
    assert project.run("preview").exit_code == 0
    site = project.output / "preview"
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text(encoding="utf-8")
            code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", text, flags=re.S | re.M)  # without comments
            assert "http:" not in text and "https:" not in text and "//" not in code
            for ref in re.findall(r'(?:src|href)="([^"]*)"', text):
                assert not ref.startswith(("/", "file:")) and ".." not in ref, (path.name, ref)


def test_media_are_copied_and_pointed_at(project):
    project.write(
        "cards/pics.yaml",
        """\
        title: Pics
        entries:
          - {kind: qa, id: p1, question: What colour?, answer: "Orange [sound:sub/orange song.mp3]",
             image: sub/orange.png}
        """,
    )
    (project.root / "media/sub").mkdir(parents=True)
    (project.root / "media/sub/orange.png").write_bytes(png())
    (project.root / "media/sub/orange song.mp3").write_bytes(b"mp3")
    assert project.run("preview").exit_code == 0
    site = project.output / "preview"
    assert (site / "media/orange.png").read_bytes() == png()
    assert (site / "media/orange song.mp3").read_bytes() == b"mp3"
    page = (site / "pics.html").read_text(encoding="utf-8")
    assert '<img src="media/orange.png" alt="">' in page
    assert '<audio controls preload="none" src="media/orange%20song.mp3"></audio>' in page


def test_bad_project_leaves_the_old_preview_intact(project):
    assert project.run("preview").exit_code == 0
    before = project.snapshot()
    project.write("cards/broken.yaml", "title: Broken\nentries:\n  - {kind: qa, id: b1, question: Q?}\n")
    result = project.run("preview")
    assert result.exit_code == 1
    assert result.output == (
        "cards/broken.yaml:3:5: qa entry 'b1' has no 'answer'\n1 error in 1 file; nothing was written.\n"
    )
    assert project.snapshot() == before
    assert [p.name for p in project.output.iterdir()] == ["preview"]


def test_removed_topic_loses_its_page(project):
    project.write("cards/gone.yaml", "title: Gone\nentries:\n  - {kind: qa, id: g1, question: Q?, answer: A}")
    assert project.run("preview").exit_code == 0
    assert (project.output / "preview/gone.html").exists()
    (project.root / "cards/gone.yaml").unlink()
    assert project.run("preview").exit_code == 0
    assert not (project.output / "preview/gone.html").exists()
    assert (project.output / "preview/all-kinds.html").exists()


def test_open_launches_the_browser_on_the_index(project, monkeypatch):
    import webbrowser

    launched = []

    class Browser:
        def open(self, url):
            launched.append(url)
            return True

    monkeypatch.setattr(webbrowser, "get", lambda *args: Browser())
    result = project.run("preview", "--open")
    assert (result.exit_code, result.stderr) == (0, "")
    assert launched == [(project.output / "preview/index.html").resolve().as_uri()]


def test_template_emulation_details():
    from builder.anki_view import TemplateSyntaxError, cloze_side, render_template

    fields = {"Front": "F", "Empty": " "}
    assert render_template("{{#Front}}[{{Front}}]{{/Front}}{{^Empty}}none{{/Empty}}", fields) == ("[F]none", True)
    assert render_template("{{#Empty}}{{Front}}{{/Empty}}<b>{{Subdeck}}</b>", fields, subdeck="T") == (
        "<b>T</b>",
        False,
    )
    assert cloze_side("{{c1::Paris::city}} and {{c1::Lyon}}", 1, answer=False) == (
        '<span class="cloze" data-ordinal="1">[city]</span> and <span class="cloze" data-ordinal="1">[...]</span>'
    )
    for bad in ("{{Nope}}", "{{#Front}}open", "{{text:Front}}", "{{/Front}}"):
        with pytest.raises(TemplateSyntaxError):
            render_template(bad, fields)


def test_reverse_card_only_when_asked():
    layout = Renderer(template_dirs(None)).layouts()["concept"]
    fields = note_fields(_topic(), _entry("concept", term="T", definition="D"))
    assert [c.name for c in note_cards(layout, fields, "Topic")] == ["Definition"]
    fields = note_fields(_topic(), _entry("concept", term="T", definition="D", reverse=True))
    assert [c.name for c in note_cards(layout, fields, "Topic")] == ["Definition", "Term"]


def _topic():
    from builder.entries import Topic

    return Topic(slug="t", path="cards/t.yaml", title="Topic", description=None, tags=(), source=None, entries=())


def _entry(kind: str, **values):
    from builder.entries import Entry
    from builder.errors import Location

    return Entry(id="e", kind=kind, values=values, tags=(), source=None, allow=(), loc=Location("cards/t.yaml", 1, 1))
