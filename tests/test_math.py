"""Math: LaTeX delimiters reach Anki untouched, `$` is never rewritten, and the preview shows MathML."""

from __future__ import annotations

import pytest

from builder.mathml import render_math
from tests.ankitools import import_package, open_collection, rendered_cards

TOPIC = r"""
title: Math
entries:
  - kind: qa
    id: qa-square
    question: 'What is \(x^2\) for x = 3, and is \(a < b\) when a costs $5 and b costs $6?'
    answer: '\[ \sum_{i=1}^{n} i = \frac{n(n+1)}{2} \]'
  - kind: cloze
    id: cz-energy
    text: 'Einstein: {{c1::\(E = mc^2\)}}, not $E$.'
"""


@pytest.fixture
def math_project(project):
    project.write("cards/math.yaml", TOPIC)
    return project


def test_formulas_and_dollars_reach_anki_untouched(math_project, tmp_path):
    assert math_project.build().exit_code == 0
    col = open_collection(tmp_path / "col.anki2")
    try:
        import_package(col, math_project.output / "math.apkg")
        cards = {c["template"]: c for c in rendered_cards(col)}
    finally:
        col.close()
    qa = cards["Card"]
    assert (
        r'<div class="question">What is \(x^2\) for x = 3, and is \(a &lt; b\) '
        "when a costs $5 and b costs $6?</div>"
    ) in qa["question_html"]
    assert r'<div class="answer">\[ \sum_{i=1}^{n} i = \frac{n(n+1)}{2} \]</div>' in qa["answer_html"]
    cloze = cards["Cloze"]
    assert r'<span class="cloze" data-ordinal="1">\(E = mc^2\)</span>, not $E$.' in cloze["answer_html"]


def test_preview_renders_formulas_as_mathml_and_leaves_dollars(math_project):
    result = math_project.run("preview")
    assert result.exit_code == 0, result.output
    page = (math_project.output / "preview/math.html").read_text(encoding="utf-8")
    assert '<math display="inline"><mrow><msup><mi>x</mi><mn>2</mn></msup></mrow></math>' in page
    assert '<math display="block">' in page
    assert "<mfrac>" in page
    assert "a costs $5 and b costs $6?" in page
    assert "not $E$." in page
    assert r"\(x^2\)" not in page.replace('title="x^2"', "")


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("no math, $5 and $6", "no math, $5 and $6"),
        (
            r"\(a &lt; b\)",
            '<span class="math" title="a &lt; b"><math display="inline"><mrow><mi>a</mi>'
            "<mo>&lt;</mo><mi>b</mi></mrow></math></span>",
        ),
        # Markup inside a formula is left for Anki's MathJax.
        (r'\(x = <span class="cloze">[...]</span>\)', r'\(x = <span class="cloze">[...]</span>\)'),
        (r"\(\frac{1}{\)", r'<span class="math-error" title="could not render this formula">\(\frac{1}{\)</span>'),
    ],
)
def test_render_math(html, expected):
    assert render_math(html) == expected


def test_index_summary_shows_formula_source(math_project):
    assert math_project.run("preview").exit_code == 0
    index = (math_project.output / "preview/index.html").read_text(encoding="utf-8")
    assert ">What is x^2 for x = 3, and is a &lt; b when a costs $5 and b costs $6?</a>" in index
