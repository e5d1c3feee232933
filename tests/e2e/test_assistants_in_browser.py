"""Assistants and thread settings as people see them: mention suggestions, settings shown live."""

import pytest
from playwright.sync_api import ConsoleMessage, expect

from tests.factories import AssistantFactory

from .test_thread_in_browser import open_thread

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_the_composer_suggests_handles_and_completes_the_one_chosen(
    live_stack, team, logged_in_page
):
    AssistantFactory.create(workspace=team.workspace, handle="scribe", display_name="Scribe")
    bob = logged_in_page(team.member)
    open_thread(bob, team.thread.pk)
    errors: list[str] = []

    def note_error(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    bob.on("console", note_error)

    composer = bob.locator("#composer-body")
    composer.press_sequentially("Notes please @sc")
    suggestion = bob.locator("#handle-suggestions [data-handle=scribe]")
    expect(suggestion).to_contain_text("Scribe")
    suggestion.click()

    expect(composer).to_have_value("Notes please @scribe ")
    expect(bob.locator("#handle-suggestions [data-handle]")).to_have_count(0)
    assert errors == [], "no script or style was refused (CSP)"


def test_a_change_of_the_threads_settings_shows_to_every_member_at_once(
    live_stack, team, logged_in_page
):
    AssistantFactory.create(workspace=team.workspace, handle="scribe", display_name="Scribe")
    alice, bob = logged_in_page(team.owner), logged_in_page(team.member)
    open_thread(alice, team.thread.pk)
    open_thread(bob, team.thread.pk)
    expect(bob.locator("#thread-settings-summary")).to_contain_text("Only mentioned assistants")
    bob.locator(".thread-settings-panel summary").click()  # bob looks at the form meanwhile
    expect(bob.get_by_label("Temperature")).to_have_value("")

    alice.locator(".thread-settings-panel summary").click()
    alice.get_by_label("Messages that mention nobody are answered by").select_option(
        label="@scribe (Scribe)"
    )
    alice.get_by_label("Temperature").fill("0.2")
    alice.get_by_role("button", name="Save for everyone").click()

    summary = bob.locator("#thread-settings-summary")
    expect(summary).to_contain_text("answered by @scribe")
    expect(summary).to_contain_text("temperature 0.2")
    expect(summary).to_contain_text("changed by alice")
    expect(bob.get_by_label("Temperature")).to_have_value("0.2")
    expect(alice.get_by_label("Temperature")).to_have_value("0.2")
