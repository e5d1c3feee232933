"""Unread messages in real browsers: two people, counts that rise live and fall when read."""

import re

import pytest
from playwright.sync_api import expect

from chat.replies import reply_stop
from chat.services import message_create
from tests.factories import ThreadFactory, assistant_reply

from .test_thread_in_browser import open_thread, send

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_counts_rise_for_one_while_the_other_posts_and_fall_when_read_on_another_tab(
    live_stack, team, logged_in_page
):
    alice = logged_in_page(team.owner)
    bob = logged_in_page(team.member)
    alice.goto(f"/w/{team.workspace.pk}/")
    expect(alice.locator("#nav-threads[data-live]")).to_be_attached()
    in_sidebar = alice.locator(f"#sidebar [data-unread-for='{team.thread.pk}']")
    in_list = alice.locator(f".threads [data-unread-for='{team.thread.pk}']")
    expect(in_sidebar).to_be_hidden()

    open_thread(bob, team.thread.pk)
    for text in ("Shall we ship on Friday?", "Or wait for the fixes?"):
        send(bob, text)
        expect(bob.locator("#transcript .message.user .body").last).to_have_text(text)

    expect(in_sidebar).to_have_text("2 unread")
    expect(in_list).to_have_text("2 unread")
    expect(alice).to_have_title(re.compile(r"^\(2\) "))

    reading = alice.context.new_page()  # another tab of alice's
    open_thread(reading, team.thread.pk)
    expect(reading.locator("#unread-divider")).to_have_text("New messages")
    expect(reading.locator("#unread-divider + article")).to_contain_text("Shall we ship on Friday?")

    expect(in_sidebar).to_be_hidden()
    expect(in_list).to_be_hidden()
    expect(alice).not_to_have_title(re.compile(r"^\("))


def test_a_thread_in_view_stays_read_while_messages_arrive(live_stack, team, logged_in_page):
    elsewhere = ThreadFactory.create(workspace=team.workspace, title="Elsewhere")
    alice = logged_in_page(team.owner)
    open_thread(alice, team.thread.pk)
    expect(alice.locator("#nav-threads[data-live]")).to_be_attached()

    here = message_create(thread=team.thread, author=team.member, body="Here, in view")
    message_create(thread=elsewhere, author=team.member, body="In another thread")

    expect(alice.locator(f"#sidebar [data-unread-for='{elsewhere.pk}']")).to_have_text("1 unread")
    expect(alice).to_have_title(re.compile(r"^\(1\) "))  # the thread in view counts none
    expect(alice.locator("[data-read-url]")).to_have_attribute("data-read-up-to", str(here.pk))
    alice.reload()
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    expect(alice.locator("#unread-divider")).to_have_count(0)


def test_an_answer_seen_queued_is_unread_once_it_has_ended(live_stack, team, logged_in_page):
    reply = assistant_reply(thread=team.thread, asker=team.owner)
    alice = logged_in_page(team.owner)
    open_thread(alice, team.thread.pk)
    read = alice.locator("[data-read-url]")
    expect(read).to_have_attribute("data-read-up-to", str(reply.in_reply_to_id))

    alice.goto(f"/w/{team.workspace.pk}/")
    expect(alice.locator("#nav-threads[data-live]")).to_be_attached()
    reply_stop(reply=reply, by=team.member)

    expect(alice.locator(f"#sidebar [data-unread-for='{team.thread.pk}']")).to_have_text("1 unread")
    expect(alice).to_have_title(re.compile(r"^\(1\) "))
