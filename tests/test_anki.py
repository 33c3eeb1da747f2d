"""Proof through the real client: packages imported into a fresh Anki collection, read back as rendered."""

from __future__ import annotations

from builder.config import load_config
from builder.identity import note_guid, note_type_id
from builder.kinds import KINDS
from builder.preview import build_preview
from tests.ankitools import (
    import_package,
    note_id_for_guid,
    open_collection,
    rendered_cards,
    review_first_due,
)


def card(cards, template, text):
    (match,) = [c for c in cards if c["template"] == template and text in c["question"]]
    return match


def test_every_kind_renders_in_anki(project, tmp_path):
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    log = import_package(col, project.output / "all-kinds.apkg").log
    assert (len(log.new), len(log.updated), len(log.duplicate), len(log.conflicting)) == (4, 0, 0, 0)
    assert (col.note_count(), col.card_count()) == (4, 6)
    assert sorted(d.name for d in col.decks.all_names_and_ids()) == [
        "Default",
        "Test Root",
        "Test Root::All Kinds",
    ]
    cards = rendered_cards(col, '"deck:Test Root::All Kinds"')

    definition = card(cards, "Definition", "Capability overhang")
    assert definition["question"] == "All Kinds\nDefine the term:\nCapability overhang"
    assert definition["answer"].endswith(
        "Gap between what models can do and what society uses.\nExample: Agents ready before processes are.\n"
        "Section One"
    )
    term = card(cards, "Term", "Which term")
    assert term["question"] == (
        "All Kinds\nWhich term is defined as:\nGap between what models can do and what society uses."
    )
    assert term["answer"].endswith("Capability overhang\nExample: Agents ready before processes are.\nSection One")

    claim = card(cards, "Card", "intelligence gets cheaper")
    assert claim["answer"].endswith(
        "People use more of it.\nWhy: Because cheaper goods get consumed more.\nSection One"
    )
    qa = card(cards, "Card", "which year")
    assert qa["answer"].endswith("2017\nSection One")

    clozes = sorted((c for c in cards if c["template"] == "Cloze"), key=lambda c: c["ord"])
    assert [c["question"] for c in clozes] == [
        "All Kinds\nHe joined when it had about [...] people, in 2017.",
        "All Kinds\nHe joined when it had about 35 people, in [...].",
    ]
    assert (
        clozes[0]["answer"]
        == "All Kinds\nHe joined when it had about 35 people, in 2017.\nA small lab then.\nSection One"
    )
    assert '<span class="cloze" data-ordinal="1">35</span>' in clozes[0]["answer_html"]
    # The stylesheet travels with the note type.
    assert ".topic" in col.get_card(clozes[0]["id"]).render_output().css


def test_unsafe_text_reaches_anki_as_plain_text(project, tmp_path):
    project.write(
        "cards/all-kinds.yaml",
        """\
        title: Text
        entries:
          - kind: qa
            id: t
            question: "What does {{ 7*7 }} show? <script>alert(1)</script>"
            answer: '$5 and $6, \\(x\\) and </div> {% raw %}'
        """,
    )
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")
    (only,) = rendered_cards(col)
    assert "What does {{ 7*7 }} show? &lt;script&gt;alert(1)&lt;/script&gt;" in only["question_html"]
    assert r"$5 and $6, \(x\) and &lt;/div&gt; {% raw %}" in only["answer_html"]


def test_round_trip_keeps_history_and_anki_side_edits(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")

    # Study two cards, and edit a note inside Anki.
    deck = col.decks.id_for_name("Test Root::All Kinds")
    studied = [review_first_due(col, deck) for _ in range(2)]
    history = {c.id: (c.nid, c.ord, c.ivl, c.due, c.reps, c.type, c.queue) for c in studied}
    revlog = {c.id: col.db.scalar("select count() from revlog where cid=?", c.id) for c in studied}
    assert all(count == 1 for count in revlog.values())
    qa_nid = note_id_for_guid(col, note_guid("test-project", "qa-year"))
    note = col.get_note(qa_nid)
    note["Answer"] = "Edited inside Anki"
    col.update_note(note)

    # Edit one entry, add one, remove one; rebuild and re-import.
    path = project.root / "cards/all-kinds.yaml"
    text = path.read_text().replace("People use more of it.", "Consumption goes up.")
    text = text[: text.index("  - kind: cloze")] + (
        "  - kind: qa\n    id: qa-new\n    question: A new question?\n    answer: A new answer.\n"
    )
    path.write_text(text)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000500")
    assert project.build().exit_code == 0
    log = import_package(col, project.output / "all-kinds.apkg").log

    assert len(log.new) == 1 and len(log.conflicting) == 0
    # Anki logs notes it found but did not need to update (unchanged, or newer in Anki) as "duplicate".
    assert sorted(n.id.nid for n in log.duplicate) == sorted(
        [note_id_for_guid(col, note_guid("test-project", "c-term")), qa_nid]
    )
    assert [n.fields[0] for n in log.updated] == ["What happens when intelligence gets cheaper?"]
    # The removed cloze stays in Anki (imports never delete); nothing is duplicated.
    assert col.note_count() == 5
    guids = col.db.list("select guid from notes")
    assert len(guids) == len(set(guids))

    cards = rendered_cards(col)
    claim = card(cards, "Card", "intelligence gets cheaper")
    assert "Consumption goes up." in claim["answer"]
    assert "People use more of it." not in claim["answer"]
    assert col.get_note(qa_nid)["Answer"] == "Edited inside Anki"
    for cid, before in history.items():
        c = col.get_card(cid)
        assert (c.nid, c.ord, c.ivl, c.due, c.reps, c.type, c.queue) == before
        assert col.db.scalar("select count() from revlog where cid=?", cid) == revlog[cid]


def test_note_types_have_content_fields_sorted_by_the_first(project, tmp_path):
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")
    config = load_config(project.root)
    for name, kind in KINDS.items():
        model = col.models.get(note_type_id(config.note_type_ids[name]))
        assert [f["name"] for f in model["flds"]] == list(kind.field_names)
        assert [t["name"] for t in model["tmpls"]] == [c.name for c in kind.cards]
        assert model["sortf"] == 0
        assert model["name"] == f"{kind.title} · test-project"
    sort_fields = dict(col.db.all("select guid, sfld from notes"))
    assert sort_fields == {
        note_guid("test-project", "c-term"): "Capability overhang",
        note_guid("test-project", "cl-cheap"): "What happens when intelligence gets cheaper?",
        note_guid("test-project", "qa-year"): "In which year did he join?",
        note_guid("test-project", "cz-people"): "He joined when it had about {{c1::35}} people, in {{c2::2017}}.",
    }
    concept = col.get_note(note_id_for_guid(col, note_guid("test-project", "c-term")))
    assert dict(concept.items()) == {
        "Term": "Capability overhang",
        "Definition": "Gap between what models can do and what society uses.",
        "Example": "Agents ready before processes are.",
        "Extra": "",
        "Source": "Section One",
        "Image": "",
        "Audio": "",
        "Reverse": "y",
        "Topic": "All Kinds",
        "Entry ID": "c-term",
    }
    # Browse: a search for the term, in its field or anywhere, finds the note and no other.
    assert col.find_notes('"Term:Capability overhang"') == [concept.id]
    assert col.find_notes("overhang") == [concept.id]
    assert col.find_notes('"Entry ID:c-term"') == [concept.id]
    # Layout is not content: no note is found by the words of the card templates.
    assert col.find_notes('"Define the term"') == []
    col.close()


MARKDOWN_TOPIC = """\
title: Markdown
entries:
  - kind: qa
    id: md
    question: What does *emphasis* look like, with `code`?
    answer: |
      **Strong**, a [link](https://example.org) and a formula \\(x_1 * y_2\\).

      - one
      - two
  - kind: qa
    id: hostile
    question: "Is [this](javascript:alert(1)) a link? <b>raw</b> <script>alert(2)</script>"
    answer: "<img src=x onerror=alert(3)> [x](JavaScript:alert(4)) <javascript:alert(5)>"
  - kind: cloze
    id: cz-md
    text: 'The {{c1::**first**::which}} lab, $a_1*b$ and \\(c_1*d\\).'
"""


def test_markdown_renders_in_anki_and_the_preview_and_nothing_hostile_gets_through(project, tmp_path):
    project.write("cards/all-kinds.yaml", MARKDOWN_TOPIC)
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")
    cards = rendered_cards(col)
    md = card(cards, "Card", "emphasis")
    assert "What does <em>emphasis</em> look like, with <code>code</code>?" in md["question_html"]
    assert '<strong>Strong</strong>, a <a href="https://example.org">link</a>' in md["answer_html"]
    assert r"\(x_1 * y_2\)" in md["answer_html"]
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in md["answer_html"]
    hostile = card(cards, "Card", "Is [this]")
    both = hostile["question_html"] + hostile["answer_html"]
    assert "[this](javascript:alert(1))" in hostile["question"]
    assert "&lt;b&gt;raw&lt;/b&gt; &lt;script&gt;alert(2)&lt;/script&gt;" in both
    assert "&lt;img src=x onerror=alert(3)&gt;" in both
    assert "href" not in both and "<a " not in both and "<script" not in both and "<img" not in both
    (cloze,) = [c for c in cards if c["template"] == "Cloze"]
    assert "[which]" in cloze["question"]
    assert '<span class="cloze" data-ordinal="1"><strong>first</strong></span>' in cloze["answer_html"]
    assert r"$a_1*b$ and \(c_1*d\)" in cloze["answer_html"]
    col.close()

    # The preview shows the same: Markdown rendered, hostile text as text.
    build_preview(load_config(project.root))
    page = (project.output / "preview" / "all-kinds.html").read_text()
    assert "<em>emphasis</em>" in page and '<a href="https://example.org">link</a>' in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    assert "<script>alert" not in page and 'href="javascript' not in page.lower() and "onerror=alert(3)>" not in page


def test_css_changed_in_anki_survives_rebuild_and_reimport(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    import_package(col, project.output / "all-kinds.apkg")
    model_id = note_type_id(load_config(project.root).note_type_ids["qa"])
    model = col.models.get(model_id)
    model["css"] += "\n.answer { color: darkgreen; }\n"
    col.models.update_dict(model)

    # An entry's text changes, the templates do not: the note is updated, the restyled note type kept.
    path = project.root / "cards/all-kinds.yaml"
    path.write_text(path.read_text().replace("answer: 2017", "answer: In 2017."))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000500")
    assert project.build().exit_code == 0
    log = import_package(col, project.output / "all-kinds.apkg").log
    assert [n.fields[0] for n in log.updated] == ["In which year did he join?"]
    qa = card(rendered_cards(col), "Card", "which year")
    assert qa["answer"].endswith("In 2017.\nSection One")
    assert "darkgreen" in col.get_card(qa["id"]).render_output().css
    assert len([m for m in col.models.all_names_and_ids() if "test-project" in m.name]) == 4
    col.close()
