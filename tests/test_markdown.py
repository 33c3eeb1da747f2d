"""Markdown in values: CommonMark to field HTML; plain text as written; math, cloze and sound untouched."""

from __future__ import annotations

import pytest

from builder.markdown import to_html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        # Without Markdown: exactly as written (escaped), no paragraph.
        ("Paris", "Paris"),
        ("2017", "2017"),
        ("2020.", "2020."),
        ("1984. The year it began", "1984. The year it began"),
        ("It's 35% of $5 and $6 — done", "It's 35% of $5 and $6 — done"),
        ('AT&T "quoted"', "AT&amp;T &quot;quoted&quot;"),
        ("{{ 7*7 }} {% raw %}", "{{ 7*7 }} {% raw %}"),
        ("line one\nline two", "line one<br>line two"),
        ("ends with a newline\n", "ends with a newline"),
        # Inline Markdown.
        ("*emphasis* and **strong**", "<em>emphasis</em> and <strong>strong</strong>"),
        ("use `x = 1` here", "use <code>x = 1</code> here"),
        (
            "see [the docs](https://example.org/a?b=1&c=2)",
            'see <a href="https://example.org/a?b=1&amp;c=2">the docs</a>',
        ),
        ("<https://example.org>", '<a href="https://example.org">https://example.org</a>'),
        ("two spaces  \nbreak", "two spaces<br>break"),
        # Block Markdown.
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("first\n\nsecond", "<p>first</p>\n<p>second</p>"),
        ("```\ncode <b>\n```", "<pre><code>code &lt;b&gt;\n</code></pre>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        # Entities stay text, as written.
        ("&amp; &copy;", "&amp;amp; &amp;copy;"),
    ],
)
def test_markdown_and_plain_text(text, html):
    assert to_html(text) == html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (r"\(x_1 * y_2\) and *e*", r"\(x_1 * y_2\) and <em>e</em>"),
        (r"\[a_1^*b_2 * c\]", r"\[a_1^*b_2 * c\]"),
        ("*e* $x_1 * y_2$ and $$a_b*c$$", "<em>e</em> $x_1 * y_2$ and $$a_b*c$$"),
        (r"- \(a_1\)" + "\n- b", "<ul>\n<li>\\(a_1\\)</li>\n<li>b</li>\n</ul>"),
        (r"**\(x < y\)**", r"<strong>\(x &lt; y\)</strong>"),
        ("{{c1::**35**::a number}} people", "{{c1::<strong>35</strong>::a number}} people"),
        (r"{{c1::\(x_1 * y\)}} and *e*", r"{{c1::\(x_1 * y\)}} and <em>e</em>"),
        ("hear [sound:a_b_c.mp3] *now*", "hear [sound:a_b_c.mp3] <em>now</em>"),
    ],
)
def test_math_cloze_and_sound_pass_through(text, html):
    assert to_html(text) == html


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](  javascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](vbscript:msgbox)",
        "<javascript:alert(1)>",
        "[click][x]\n\n[x]: javascript:alert(1)",
        "![img](javascript:alert(1))",
        "[click](file:///etc/passwd)",
    ],
)
def test_links_go_only_to_http_and_https(text):
    html = to_html(text)
    assert "<a" not in html
    assert "href" not in html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "a <b>bold</b> word",
        "<div>\nblock\n</div>",
        "*<i>x</i>*",
        "<!-- comment -->",
        "\ue000" + "0\ue001 <b>x</b>",
        r"\(<script>\)",
    ],
)
def test_raw_html_stays_text(text):
    html = to_html(text)
    assert "<script" not in html and "<img" not in html and "<b>" not in html and "<div" not in html
    assert "<i>" not in html and "<!--" not in html
    assert "&lt;" in html


@pytest.mark.parametrize("text", ["", "plain", "a&b<c>d\"e'f", "&amp; &lt;", "<<>>\"\"''&&", "é ☃ \u0000 \ue000"])
def test_escape_html_escapes_as_markdown_it_does(text):
    from markdown_it.common.utils import escapeHtml

    from builder.markdown import escape_html

    assert escape_html(text) == escapeHtml(text)


def test_text_without_markdown_does_not_load_the_parser():
    """The Markdown parser is loaded by the first value that needs it, not by every build."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import builder.notefields\n"
        "from builder.markdown import to_html\n"
        "assert to_html('Paris & \"Rome\"') == 'Paris &amp; &quot;Rome&quot;'\n"
        "assert 'markdown_it' not in sys.modules, 'loaded for plain text'\n"
        "assert to_html('*a*') == '<em>a</em>'\n"
        "assert 'markdown_it' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
