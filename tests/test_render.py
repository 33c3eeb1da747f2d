"""Note types made from the Jinja2 templates: Anki card templates, project templates first; text as data."""

from __future__ import annotations

import pytest

from builder.config import load_config
from builder.errors import ProblemsError
from builder.kinds import KINDS
from builder.load import load_project
from builder.notefields import note_fields
from builder.render import Renderer
from builder.templatedirs import packaged_templates, template_dirs


def layouts(project):
    config = load_config(project.root)
    return Renderer(template_dirs(config.templates_dir), config.rel).layouts()


def fields(project) -> dict[str, dict[str, str]]:
    config = load_config(project.root)
    (topic,) = load_project(config)
    return {e.id: dict(zip(KINDS[e.kind].field_names, note_fields(topic, e), strict=True)) for e in topic.entries}


def one_qa(project, answer_yaml: str) -> None:
    project.write(
        "cards/all-kinds.yaml",
        f"title: T\nentries:\n  - kind: qa\n    id: a\n    question: q\n    answer: {answer_yaml}\n",
    )


def test_fields_are_named_for_their_content_sort_field_first():
    assert KINDS["qa"].field_names == ("Question", "Answer", "Extra", "Source", "Image", "Audio", "Topic", "Entry ID")
    assert KINDS["claim"].field_names[:5] == ("Question", "Claim", "Reasoning", "Extra", "Source")
    assert KINDS["concept"].field_names[:5] == ("Term", "Definition", "Example", "Extra", "Source")
    assert KINDS["cloze"].field_names[:3] == ("Text", "Extra", "Source")
    for kind in KINDS.values():
        assert kind.field_names[-2:] == ("Topic", "Entry ID")


@pytest.mark.parametrize(
    ("answer_yaml", "html"),
    [
        ("'{{ 7*7 }}'", "{{ 7*7 }}"),
        ("'{% if x %}y{% endif %}'", "{% if x %}y{% endif %}"),
        ("'<script>alert(1)</script>'", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("'</div>'", "&lt;/div&gt;"),
        ("'$5 and $6'", "$5 and $6"),
        (r"'\(x^2\) and \[y\]'", r"\(x^2\) and \[y\]"),
        ("'AT&T \"quoted\"'", "AT&amp;T &quot;quoted&quot;"),
        ("|\n      line one\n      line two\n", "line one<br>line two"),
    ],
)
def test_text_is_escaped_and_never_executed(project, answer_yaml, html):
    one_qa(project, answer_yaml)
    note = fields(project)["a"]
    assert (note["Question"], note["Answer"]) == ("q", html)
    assert (note["Topic"], note["Entry ID"], note["Extra"]) == ("T", "a", "")


def test_fields_hold_content_and_no_layout(project):
    note = fields(project)
    assert note["c-term"]["Term"] == "Capability overhang"
    assert note["c-term"]["Reverse"] == "y"
    assert note["c-term"]["Source"] == "Section One"
    assert note["cl-cheap"]["Claim"] == "People use more of it."
    assert note["cz-people"]["Text"] == "He joined when it had about {{c1::35}} people, in {{c2::2017}}."
    assert not any("<div" in value for values in note.values() for value in values.values())


def test_concept_without_reverse_leaves_reverse_field_empty(project):
    project.write("cards/all-kinds.yaml", "title: T\nentries:\n  - {kind: concept, id: c, term: T, definition: D}\n")
    assert fields(project)["c"]["Reverse"] == ""


def test_card_templates_are_ankis_own_syntax():
    qa = Renderer(template_dirs(None)).layouts()["qa"]
    (card,) = qa.cards
    assert card.name == "Card"
    assert '<div class="question">{{Question}}</div>' in card.qfmt
    assert card.afmt.startswith("{{FrontSide}}")
    assert "{{#Extra}}" in card.afmt and "{{/Extra}}" in card.afmt
    assert "{%" not in card.qfmt + card.afmt
    concept = Renderer(template_dirs(None)).layouts()["concept"]
    assert concept.cards[1].qfmt.startswith("{{#Reverse}}") and concept.cards[1].qfmt.endswith("{{/Reverse}}")
    cloze = Renderer(template_dirs(None)).layouts()["cloze"]
    assert "{{cloze:Text}}" in cloze.cards[0].qfmt
    assert ".card" in cloze.css


def test_project_templates_override_packaged_ones_file_by_file(project):
    project.write("templates/qa/back.html", "{{ front_side }}<hr id=answer><b>{{ field.Answer }}</b>")
    (card,) = layouts(project)["qa"].cards
    assert card.afmt == "{{FrontSide}}<hr id=answer><b>{{Answer}}</b>"
    assert '<div class="question">{{Question}}</div>' in card.qfmt  # still the packaged template


def test_packaged_templates_exist():
    assert (packaged_templates() / "style.css").is_file()
    assert (packaged_templates() / "qa" / "front.html").is_file()


def test_template_syntax_error_names_file_and_line(project):
    project.write("templates/qa/back.html", "<b>\n\n{{ field.Answer | }}</b>\n")
    with pytest.raises(ProblemsError) as info:
        layouts(project)
    assert [str(p) for p in info.value.problems] == [
        "templates/qa/back.html:3: template syntax error: expected token 'name', got 'end of print statement'",
    ]


def test_undefined_variable_names_file_and_line(project):
    project.write("templates/qa/back.html", "<b>{{ field.Answer }}</b>\n{{ answer }}\n")
    with pytest.raises(ProblemsError) as info:
        layouts(project)
    assert [str(p) for p in info.value.problems] == [
        "templates/qa/back.html:2: template error: 'answer' is undefined",
    ]


def test_unknown_field_names_file_and_line(project):
    project.write("templates/qa/back.html", "<b>{{ field.Answer }}</b>\n{% call when('Hint') %}x{% endcall %}\n")
    project.write("templates/qa/front.html", "{{ field.Questoin }}\n")
    with pytest.raises(ProblemsError) as info:
        layouts(project)
    messages = [str(p) for p in info.value.problems]
    assert messages[0].startswith("templates/qa/back.html:2: template error: the note type has no field 'Hint'")
    assert messages[1].startswith("templates/qa/front.html:1: template error: the note type has no field 'Questoin'")


def test_anki_syntax_written_by_hand_is_checked(project):
    project.write("templates/qa/front.html", "{% raw %}{{#Question}}{{Question}}{% endraw %}\n")
    with pytest.raises(ProblemsError) as info:
        layouts(project)
    assert [str(p) for p in info.value.problems] == [
        "templates/qa/front.html: makes an Anki card template Anki cannot use: {{#Question}} is never closed",
    ]


def test_stylesheet_can_differ_by_kind(project):
    project.write("templates/style.css", ".card { color: {{ 'red' if kind == 'cloze' else 'black' }}; }\n")
    made = layouts(project)
    assert made["cloze"].css == ".card { color: red; }"
    assert made["qa"].css == ".card { color: black; }"
