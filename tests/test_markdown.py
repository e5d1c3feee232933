"""Text from people and from the model is rendered as Markdown that cannot act on the page."""

import re

import pytest

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
