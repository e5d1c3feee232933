"""Reading files into located passages, in a limited child process, with clear refusals."""

import itertools

import pytest

from knowledge.chunking import chunks_make, locator_label
from knowledge.parsing import ParseError, kind_detect, parse_isolated

from .knowledge_samples import (
    CSV_LATIN1,
    MARKDOWN,
    SPEC_PAGES,
    parser_states,
    pdf_encrypt,
    pdf_make,
)
from .model_worker import until


def test_a_pdf_is_read_page_by_page_with_progress() -> None:
    seen: list[tuple[int, int]] = []
    parsed = parse_isolated(
        pdf_make(SPEC_PAGES), kind="pdf", name="spec.pdf", progress=lambda *p: seen.append(p)
    )
    assert parsed.pages == 3
    assert [s["locator"] for s in parsed.segments] == [{"page": [n, n]} for n in (1, 2, 3)]
    assert "42 milliwatts" in parsed.segments[1]["text"]
    assert "85 degrees" in parsed.segments[2]["text"]
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_pdf_without_a_text_layer_is_refused_saying_so() -> None:
    with pytest.raises(ParseError, match=r"no text layer .*OCR"):
        parse_isolated(pdf_make([None, None]), kind="pdf", name="scan.pdf")


def test_a_pdf_with_some_scanned_pages_keeps_the_others_and_notes_them() -> None:
    parsed = parse_isolated(pdf_make(["Typed page", None]), kind="pdf", name="mixed.pdf")
    assert [s["locator"] for s in parsed.segments] == [{"page": [1, 1]}]
    assert parsed.notes == ["1 page(s) have no text layer and were skipped."]


def test_an_encrypted_pdf_is_refused() -> None:
    with pytest.raises(ParseError, match=r"“secret\.pdf” is password-protected"):
        parse_isolated(pdf_encrypt(pdf_make(SPEC_PAGES)), kind="pdf", name="secret.pdf")


def test_a_broken_pdf_is_refused() -> None:
    damaged = pdf_make(SPEC_PAGES)[:200]
    with pytest.raises(ParseError, match="could not be read as a PDF"):
        parse_isolated(damaged, kind="pdf", name="broken.pdf")


def test_a_pdf_over_the_page_cap_is_refused(settings: object) -> None:
    settings.KNOWLEDGE_MAX_PAGES = 2  # type: ignore[attr-defined]
    with pytest.raises(ParseError, match="has 3 pages; the limit is 2"):
        parse_isolated(pdf_make(SPEC_PAGES), kind="pdf", name="long.pdf")


def test_text_over_the_character_cap_is_refused(settings: object) -> None:
    settings.KNOWLEDGE_MAX_CHARACTERS = 100  # type: ignore[attr-defined]
    with pytest.raises(ParseError, match="more than 100 characters"):
        parse_isolated(b"word " * 100, kind="text", name="long.txt")


def test_the_parser_runs_under_a_memory_limit(settings: object) -> None:
    settings.KNOWLEDGE_PARSE_MEMORY_MB = 16  # type: ignore[attr-defined]  # not even Python fits
    with pytest.raises(ParseError, match="within the parser's limits"):
        parse_isolated(pdf_make(SPEC_PAGES), kind="pdf", name="spec.pdf")


def test_the_parser_runs_under_a_time_limit(settings: object) -> None:
    settings.KNOWLEDGE_PARSE_TIMEOUT_S = 0.05  # type: ignore[attr-defined]
    with pytest.raises(ParseError, match=r"took longer than 0\.05 s"):
        parse_isolated(pdf_make(SPEC_PAGES * 30), kind="pdf", name="slow.pdf")


def test_a_progress_callback_that_raises_stops_the_child() -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, of: int) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        parse_isolated(pdf_make(SPEC_PAGES), kind="pdf", name="spec.pdf", progress=cancel)


def test_the_child_is_stopped_while_the_parse_waits_for_answers() -> None:
    class AnswerAfterPageOne:
        def __init__(self) -> None:
            self.waited_at: list[int] = []
            self.stopped_while_waiting = False

        def busy(self) -> bool:
            return not self.waited_at

        def wait(self) -> None:
            self.waited_at.append(len(seen))
            until(lambda: parser_states() == ["T"], what="the parser stopped")
            self.stopped_while_waiting = True

    seen: list[tuple[int, int]] = []
    pause = AnswerAfterPageOne()
    parsed = parse_isolated(
        pdf_make(SPEC_PAGES * 50),  # long enough to be still reading after its first page
        kind="pdf",
        name="long.pdf",
        progress=lambda *p: seen.append(p),
        pause=pause,
    )
    assert pause.waited_at == [1]  # after the first page
    assert pause.stopped_while_waiting
    assert parsed.pages == 150  # and it went on where it was
    assert seen == [(n, 150) for n in range(1, 151)]


def test_a_csv_in_an_odd_encoding_and_delimiter_is_read_row_by_row() -> None:
    parsed = parse_isolated(CSV_LATIN1, kind="csv", name="villes.csv")
    assert parsed.rows == 2
    assert parsed.segments[0] == {
        "text": "Ville: Zürich; Pays: Suisse; Habitants: 421000",
        "locator": {"rows": [2, 2]},
    }
    assert parsed.segments[1]["text"].startswith("Ville: Café-sur-Mer")


def test_a_utf16_csv_with_a_bom_is_read() -> None:
    data = "name,role\nAda,engineer\n".encode("utf-16")
    parsed = parse_isolated(data, kind="csv", name="people.csv")
    assert parsed.segments[0]["text"] == "name: Ada; role: engineer"


def test_markdown_sections_keep_their_heading_path() -> None:
    parsed = parse_isolated(MARKDOWN.encode(), kind="markdown", name="handbook.md")
    headings = [s["locator"]["heading"] for s in parsed.segments]
    assert headings == ["Handbook", "Handbook › Setup › Install", "Handbook › Holidays"]
    assert "# not a heading" in parsed.segments[1]["text"]


def test_plain_text_paragraphs_keep_their_lines() -> None:
    parsed = parse_isolated(b"First line\nsecond line\n\nThird\n", kind="text", name="a.txt")
    assert [s["locator"] for s in parsed.segments] == [{"lines": [1, 2]}, {"lines": [4, 4]}]


def test_html_is_reduced_to_its_main_text() -> None:
    html = (
        "<html><head><title>Widget news</title></head><body><nav>Home | About</nav>"
        "<article><h1>Launch</h1><p>The orbital widget launches on the ninth of March, after "
        "three years of careful work by the whole team.</p><p>Pre-orders open a week "
        "earlier for everyone on the mailing list.</p></article></body></html>"
    )
    parsed = parse_isolated(html.encode(), kind="html", name="news.html")
    text = "\n".join(s["text"] for s in parsed.segments)
    assert "ninth of March" in text
    assert "Home | About" not in text
    assert parsed.title == "Widget news"


def test_an_empty_page_of_html_is_refused() -> None:
    with pytest.raises(ParseError, match="no readable text"):
        parse_isolated(b"<html><body><script>app()</script></body></html>", kind="html", name="x")


@pytest.mark.parametrize(
    ("data", "name", "content_type", "says"),
    [
        (b"", "empty.pdf", "", "is empty"),
        (b"just some words", "report.pdf", "", "named as a PDF but is not one"),
        (b"just some words", "download", "application/pdf", "named as a PDF but is not one"),
        (pdf_make(["x"]), "notes.txt", "", "a PDF with another name"),
        (b"\x89PNG\r\n\x1a\n....", "table.csv", "", "a PNG image"),
        (b"PK\x03\x04....", "report.docx", "", "a ZIP archive"),
    ],
)
def test_mislabelled_and_empty_files_are_refused(
    data: bytes, name: str, content_type: str, says: str
) -> None:
    with pytest.raises(ParseError, match=says):
        kind_detect(data, name=name, content_type=content_type)


@pytest.mark.parametrize(
    ("data", "name", "content_type", "kind"),
    [
        (pdf_make(["x"]), "spec.pdf", "", "pdf"),
        (pdf_make(["x"]), "download", "application/octet-stream", "pdf"),
        (b"a,b\n1,2\n", "t.csv", "", "csv"),
        (b"# Title", "README.md", "", "markdown"),
        (b"<!DOCTYPE html><html></html>", "page", "", "html"),
        (b"<p>hi</p>", "", "text/html; charset=utf-8", "html"),
        (b"notes", "notes", "", "text"),
    ],
)
def test_the_kind_comes_from_the_name_or_type_checked_against_the_bytes(
    data: bytes, name: str, content_type: str, kind: str
) -> None:
    assert kind_detect(data, name=name, content_type=content_type) == kind


def test_a_text_file_with_binary_content_is_refused() -> None:
    with pytest.raises(ParseError, match="not a text file"):
        parse_isolated(b"abc\x00\x01\x02def", kind="text", name="data.txt")


def test_short_pages_merge_into_one_passage_with_a_page_range() -> None:
    segments = [{"text": f"Page {n} text.", "locator": {"page": [n, n]}} for n in (1, 2, 3)]
    pieces = chunks_make(segments, size=30, overlap=5)
    assert [(p.text, p.locator) for p in pieces] == [
        ("Page 1 text.\n\nPage 2 text.", {"page": [1, 2]}),
        ("Page 3 text.", {"page": [3, 3]}),
    ]
    assert [locator_label(p.locator) for p in pieces] == ["pp. 1–2", "p. 3"]


def test_sections_under_different_headings_never_merge() -> None:
    segments = [
        {"text": "A", "locator": {"heading": "One"}},
        {"text": "B", "locator": {"heading": "Two"}},
    ]
    assert [p.locator for p in chunks_make(segments, size=100, overlap=10)] == [
        {"heading": "One"},
        {"heading": "Two"},
    ]


def test_a_long_segment_is_cut_into_overlapping_windows_at_sentence_ends() -> None:
    sentences = " ".join(f"Sentence number {n} is here." for n in range(40))
    pieces = chunks_make([{"text": sentences, "locator": {"page": [7, 7]}}], size=200, overlap=40)
    assert len(pieces) > 5
    assert all(len(p.text) <= 200 for p in pieces)
    assert all(p.locator == {"page": [7, 7]} for p in pieces)
    assert all(p.text.endswith("here.") for p in pieces[:-1])
    for before, after in itertools.pairwise(pieces):
        assert after.text.split()[0] in before.text  # the windows overlap
    joined = " ".join(p.text for p in pieces)
    assert all(f"number {n} " in joined for n in range(40))


def test_rows_merge_into_row_ranges() -> None:
    segments = [{"text": f"row {n}", "locator": {"rows": [n, n]}} for n in range(2, 6)]
    (piece,) = chunks_make(segments, size=1000, overlap=0)
    assert locator_label(piece.locator) == "rows 2–5"
