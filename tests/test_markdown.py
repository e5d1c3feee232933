"""Text from people and from the model is rendered as Markdown that cannot act on the page."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from chat.citations import markdown_with_citations
from chat.code_styles import code_stylesheet
from chat.markdown import markdown_to_html


def test_markdown_formatting_is_rendered():
    html = markdown_to_html("**Nova** is `short`\n\n- one\n- two")
    assert "<strong>Nova</strong>" in html
    assert "<code>short</code>" in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<div id="transcript" hx-get="/admin/" hx-trigger="load">x</div>',
        '<a href="#" onclick="alert(1)">x</a>',
    ],
)
def test_raw_html_is_shown_as_text_never_as_markup(hostile):
    html = markdown_to_html(hostile)
    assert "<script" not in html
    assert "<img" not in html
    assert "<div" not in html
    assert "&lt;" in html


def test_links_keep_only_safe_schemes_and_get_no_follow():
    html = markdown_to_html("[ok](https://example.com) [bad](javascript:alert(1))")
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert 'href="javascript' not in html


def test_model_output_cannot_carry_ids_htmx_or_event_attributes_into_the_page():
    html = markdown_to_html(
        '<p id="transcript" hx-swap-oob="true" onmouseover="x()">hi</p>\n\n[x](https://a.b "t")'
    )
    assert re.search(r"<[^>]+\s(id|hx-[\w-]+|on\w+)=", html) is None


def test_tables_and_strikethrough_are_rendered():
    html = markdown_to_html("| a | b |\n|---|---|\n| 1 | ~~2~~ |")
    assert "<table>" in html
    assert "<td><s>2</s></td>" in html


def test_a_long_answer_renders_whole_and_in_order():
    lines = [f"line {n}" for n in range(1000)]
    html = markdown_to_html("\n".join(lines))
    assert html.count("line ") == 1000
    assert html.index("line 999") > html.index("line 998")


PYTHON_BLOCK = '```python\ndef greet(name):\n    return f"hi {name}"  # say hello\n```'


def test_a_fenced_code_block_is_highlighted_with_classes_and_no_inline_style():
    html = markdown_to_html(PYTHON_BLOCK)

    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html
    assert '<span class="c1"># say hello</span>' in html
    assert "style=" not in html
    assert re.sub(r"<[^>]+>", "", html).count("def greet(name):") == 1  # the code, whole
    assert '<button type="button" class="copy"' in html  # a Copy button beside it


@pytest.mark.parametrize("language", ["python", "html", "", "no-such-language"])
def test_html_inside_a_code_block_stays_text_whatever_the_language(language):
    hostile = '</code></pre><script>alert(1)</script><img src=x onerror="alert(1)">'

    html = markdown_to_html(f"```{language}\n{hostile}\n```")

    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in re.sub(r"<[^>]+>", "", html)


def test_only_the_highlighters_classes_reach_the_page():
    html = markdown_to_html('```own-only" hx-get="/admin/\nx\n```\n\n```python\nx = 1\n```')

    classes = set(re.findall(r'class="([^"]*)"', html))
    assert classes <= {"code-block", "copy", "n", "o", "mi", "w", ""}
    assert "hx-get" not in html


def test_a_citation_marker_in_code_is_shown_as_written():
    html = markdown_with_citations(
        "See [1].\n\n```python\nfirst = items[1]\n```", sources=1, message_dom_id="message-7"
    )

    assert '<a class="cite" href="#message-7-source-1">[1]</a>' in html
    assert '<span class="p">[</span><span class="mi">1</span><span class="p">]</span>' in html


def test_the_committed_code_stylesheet_is_what_the_installed_pygments_generates():
    committed = (Path(settings.BASE_DIR) / "static" / "css" / "code.css").read_text()

    assert committed == code_stylesheet(), "run `manage.py code_stylesheet > static/css/code.css`"
    assert ".code-block .k {" in committed
