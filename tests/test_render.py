"""Rendering: text is data, escaped but never rewritten; templates found project-first."""

from __future__ import annotations

import pytest

from builder.config import load_config
from builder.errors import ProblemsError
from builder.load import load_project
from builder.render import Renderer
from builder.templatedirs import packaged_templates, template_dirs


def render(project):
    config = load_config(project.root)
    (topic,) = load_project(config)
    renderer = Renderer(template_dirs(config.templates_dir), config.rel)
    return renderer.render_all([topic])


def one_qa(project, answer_yaml: str) -> None:
    project.write(
        "cards/all-kinds.yaml",
        f"title: T\nentries:\n  - kind: qa\n    id: a\n    question: q\n    answer: {answer_yaml}\n",
    )


@pytest.mark.parametrize(
    ("answer_yaml", "html"),
    [
        ("'{{ 7*7 }}'", "{{ 7*7 }}"),
        ("'{% if x %}y{% endif %}'", "{% if x %}y{% endif %}"),
        ("'<script>alert(1)</script>'", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("'</div>'", "&lt;/div&gt;"),
        ("'$5 and $6'", "$5 and $6"),
        (r"'\(x^2\) and \[y\]'", r"\(x^2\) and \[y\]"),
        ("'AT&T \"quoted\"'", "AT&amp;T &#34;quoted&#34;"),
        ("|\n      line one\n      line two\n", "line one<br>line two"),
    ],
)
def test_text_is_escaped_and_never_executed(project, answer_yaml, html):
    one_qa(project, answer_yaml)
    front, back = render(project)["a"]
    assert front == '<div class="question">q</div>'
    assert back == f'<div class="answer">{html}</div>'


def test_concept_without_reverse_leaves_reverse_fields_empty(project):
    project.write("cards/all-kinds.yaml", "title: T\nentries:\n  - {kind: concept, id: c, term: T, definition: D}\n")
    fields = render(project)["c"]
    assert fields[2:] == ("", "")


def test_project_templates_override_packaged_ones_file_by_file(project):
    project.write("templates/qa/back.html", "<b>{{ answer }}</b>")
    one_qa(project, "A")
    front, back = render(project)["a"]
    assert back == "<b>A</b>"
    assert front == '<div class="question">q</div>'  # still the packaged template


def test_packaged_templates_exist():
    assert (packaged_templates() / "style.css").is_file()
    assert (packaged_templates() / "qa" / "front.html").is_file()


def test_template_syntax_error_names_file_and_line(project):
    project.write("templates/qa/back.html", "<b>\n\n{{ answer | }}</b>\n")
    one_qa(project, "A")
    with pytest.raises(ProblemsError) as info:
        render(project)
    assert [str(p) for p in info.value.problems] == [
        "templates/qa/back.html:3: template syntax error: expected token 'name', got 'end of print statement'",
    ]


def test_undefined_variable_names_file_and_line(project):
    project.write("templates/qa/back.html", "<b>{{ answer }}</b>\n{{ no_such_thing }}\n")
    one_qa(project, "A")
    with pytest.raises(ProblemsError) as info:
        render(project)
    assert [str(p) for p in info.value.problems] == [
        "templates/qa/back.html:2: template error: 'no_such_thing' is undefined",
    ]
