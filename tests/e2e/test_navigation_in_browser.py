"""The sidebar in real browsers: threads by last activity, moving up live as people post."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Thread
from tests.factories import ThreadFactory

from .test_thread_in_browser import open_thread, send

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(settings.BASE_DIR) / "var" / "screenshots" / "sidebar.png"


@pytest.fixture
def threads(team) -> dict[str, Thread]:
    """Three threads of the team's workspace, the newest active first."""
    named = {
        "Newest": ThreadFactory.create(workspace=team.workspace, title="Newest"),
        "Release planning": team.thread,
        "Older": ThreadFactory.create(workspace=team.workspace, title="Older"),
    }
    for minutes_ago, thread in enumerate(named.values()):
        Thread.objects.filter(pk=thread.pk).update(
            last_activity_at=timezone.now() - timedelta(minutes=10 * minutes_ago)
        )
    return named


def test_the_sidebar_moves_a_thread_to_the_top_when_someone_posts_in_it(
    live_stack, team, threads, logged_in_page
):
    alice = logged_in_page(team.owner)
    bob = logged_in_page(team.member)
    open_thread(alice, team.thread.pk)
    sidebar = alice.locator("#nav-threads > li .nav-title")
    expect(sidebar).to_have_text(["Newest", "Release planning", "Older"])
    expect(alice.locator("#sidebar [aria-current=page] .nav-title")).to_have_text(
        "Release planning"
    )
    expect(alice.locator("#nav-threads[data-live]")).to_be_attached()

    open_thread(bob, threads["Older"].pk)
    send(bob, "Picking this up again")

    expect(sidebar).to_have_text(["Older", "Newest", "Release planning"])
    expect(alice.locator("#sidebar [aria-current=page] .nav-title")).to_have_text(
        "Release planning"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SCREENSHOT))
    alice.locator("#sidebar").get_by_role("link", name="Older").click()
    expect(alice.locator("h1")).to_have_text("Older")


def test_a_thread_someone_starts_appears_at_the_top_of_the_sidebar_on_the_workspace_page(
    live_stack, team, threads, logged_in_page
):
    alice = logged_in_page(team.owner)
    bob = logged_in_page(team.member)
    alice.goto(f"/w/{team.workspace.pk}/")
    sidebar = alice.locator("#nav-threads > li .nav-title")
    expect(sidebar).to_have_text(["Newest", "Release planning", "Older"])
    expect(alice.locator("#nav-threads[data-live]")).to_be_attached()

    bob.goto(f"/w/{team.workspace.pk}/")
    bob.get_by_label("New thread title").fill("Launch <day>")
    bob.get_by_role("button", name="Start thread").click()

    expect(sidebar).to_have_text(["Launch <day>", "Newest", "Release planning", "Older"])
