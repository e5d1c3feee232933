"""Sources as a member meets them: upload a file, watch it being read, ask, open what is cited."""

import pytest
from playwright.sync_api import Dialog, expect

from chat.models import Thread
from harness.live_stack import ingest_worker_start, processes_stop
from knowledge.models import Source

from .test_thread_in_browser import open_thread, send

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

SPEC = """# Widget specification

## Power

The widget runs on 12 volts and draws at most 3 amperes.

## Colours

The widget ships in teal and in orange; the orange one is the limited edition.
"""
ANSWER_TIMEOUT_MS = 120_000


def test_a_member_uploads_a_file_asks_about_it_and_opens_the_cited_passage(
    live_stack, team, logged_in_page, tmp_path
):
    Thread.objects.filter(pk=team.thread.pk).update(max_tokens_override=40)
    ingest = ingest_worker_start(live_stack.env)
    try:
        bob = logged_in_page(team.member)
        bob.goto(f"/w/{team.workspace.pk}/sources/")
        expect(bob.locator(".sources[data-live]")).to_be_attached()
        upload = tmp_path / "widget-spec.md"
        upload.write_text(SPEC)
        bob.get_by_label("File").set_input_files(upload)
        bob.get_by_role("button", name="Upload").click()

        row = bob.locator("tr.source", has_text="widget-spec.md")
        expect(row).to_have_attribute("data-status", "ready", timeout=60_000)
        expect(row).to_contain_text("passage")
    finally:
        processes_stop([ingest])

    open_thread(bob, team.thread.pk)
    send(bob, "@assistant Which colours does the widget ship in?")
    answer = bob.locator("article.message.assistant").last
    expect(answer).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT_MS)
    source = answer.locator(".answer-sources li").first
    expect(source).to_contain_text("[1]")
    expect(source).to_contain_text("widget-spec.md")

    source.get_by_role("link", name="widget-spec.md").click()
    cited = bob.locator("#cited mark")
    expect(cited).to_contain_text("teal and in orange")
    expect(bob.locator("h1")).to_have_text("widget-spec.md")


def test_a_row_that_went_from_queued_to_ready_live_is_removed_after_its_confirmation(
    live_stack, team, logged_in_page, tmp_path
):
    bob = logged_in_page(team.member)
    bob.goto(f"/w/{team.workspace.pk}/sources/")
    expect(bob.locator(".sources[data-live]")).to_be_attached()
    upload = tmp_path / "widget-spec.md"
    upload.write_text(SPEC)
    bob.get_by_label("File").set_input_files(upload)
    bob.get_by_role("button", name="Upload").click()
    row = bob.locator("tr.source", has_text="widget-spec.md")
    expect(row).to_have_attribute("data-status", "queued")  # no ingest worker yet

    ingest = ingest_worker_start(live_stack.env)
    try:
        expect(row).to_have_attribute("data-status", "ready", timeout=60_000)
    finally:
        processes_stop([ingest])

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    bob.once("dialog", accept)
    row.get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0)
    assert asked == ["Remove “widget-spec.md” and its passages?"]
    assert not Source.objects.filter(workspace=team.workspace).exists()
    expect(bob.locator("body")).not_to_contain_text("CSRF")


def test_a_refused_address_is_edited_in_its_row_and_a_bad_new_one_says_why(
    live_stack, team, logged_in_page
):
    source = Source.objects.create(
        workspace=team.workspace, kind=Source.Kind.URL, title="http://127.0.0.1/",
        url="http://127.0.0.1/", status=Source.Status.FAILED, refused=True,
        error="127.0.0.1 is a loopback address (this server itself): only addresses on the "
        "public internet are fetched.",
    )  # fmt: skip
    bob = logged_in_page(team.member)
    bob.goto(f"/w/{team.workspace.pk}/sources/")
    expect(bob.locator(".sources[data-live]")).to_be_attached()  # the list came over the socket
    row = bob.locator(f"#source-{source.pk}")
    expect(row).to_contain_text("loopback address")
    expect(row.get_by_role("button", name="Re-index")).to_have_count(0)

    row.get_by_text("Edit address").click()
    address = row.get_by_label("New address of “http://127.0.0.1/”")
    address.fill("ftp://example.com/handbook")
    row.get_by_role("button", name="Fetch").click()
    expect(row.locator(".edit-error")).to_have_text(
        "Only http:// and https:// addresses can be fetched."
    )

    address.fill("https://example.com/handbook")
    row.get_by_role("button", name="Fetch").click()
    expect(row).to_have_attribute("data-status", "queued")
    expect(row).to_contain_text("https://example.com/handbook")
    source.refresh_from_db()
    assert (source.url, source.refused) == ("https://example.com/handbook", False)
