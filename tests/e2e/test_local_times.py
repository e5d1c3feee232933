"""Times on the page are the viewer's own, in messages rendered with the page and swapped in later."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.factories import MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

ZONE = "Pacific/Kiritimati"  # UTC+14: never the server's zone, and a different day half the time


def test_message_times_show_in_the_viewers_time_zone(team, logged_in_page):
    earlier = MessageFactory.create(thread=team.thread, author=team.owner)
    earlier.created_at = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    earlier.save(update_fields=["created_at"])
    page = logged_in_page(team.member)
    browser_settings = page.context.new_cdp_session(page)
    browser_settings.send("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    browser_settings.send("Emulation.setLocaleOverride", {"locale": "en-GB"})

    page.goto(f"/t/{team.thread.pk}/")
    expect(page.locator(f"#{earlier.dom_id} time")).to_have_text("16 Jan, 13:30")

    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.locator("#composer-body").fill("What time is it where you are?")
    page.locator("#composer-body").press("Enter")
    messages = page.locator("#transcript article.message")
    expect(messages).to_have_count(2)
    posted = messages.last.locator("time")
    instant = datetime.fromisoformat(posted.get_attribute("datetime") or "")
    expect(posted).to_have_text(instant.astimezone(ZoneInfo(ZONE)).strftime("%H:%M"))
