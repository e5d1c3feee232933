"""Catch me up in a real browser: one click, a summary streamed to that person, citations
that open the messages they name, and an unbacked one struck through.

The thread's answerer runs on a model of its own, served by a worker on the deterministic
backend told what to say (``LLM_FAKE_ANSWER_TEXT``), so the summary's citations are known:
what is checked is the page, not the words of a small model.
"""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from chat.models import Assistant
from chat.services import thread_read_mark
from harness.live_stack import processes_stop, worker_start
from tests.factories import AssistantFactory, LanguageModelFactory, MessageFactory
from tests.gguf_files import tiny_llama

from .test_thread_in_browser import open_thread

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

SAID = "- Ship on Friday [1]\n- Fixes first [2] [7]"


@pytest.fixture
def fake_answerer(live_stack, team, tmp_path) -> Iterator[Assistant]:
    """The thread's answerer, on a model whose worker says ``SAID``."""
    model = LanguageModelFactory.create(
        name="fake", path=str(tiny_llama(tmp_path / "fake.gguf")), available=True
    )
    env = {
        **live_stack.env,
        "LLM_BACKEND": "fake",
        "LLM_FAKE_STEP_S": "0.02",
        "LLM_FAKE_ANSWER_TEXT": SAID,
    }
    worker = worker_start(env, queue=model.queue, name="worker-fake-catch-up")
    answerer = AssistantFactory.create(workspace=team.workspace, handle="scribe", model=model)
    team.thread.answerer = answerer
    team.thread.save()
    yield answerer
    processes_stop([worker])


def test_catch_me_up_cites_the_missed_messages_and_each_citation_opens_its_message(
    live_stack, team, fake_answerer, logged_in_page
):
    read = MessageFactory.create(thread=team.thread, author=team.owner, body="Back at two")
    thread_read_mark(thread=team.thread, reader=team.owner, message_id=read.pk)
    missed = [
        MessageFactory.create(thread=team.thread, author=team.member, body=body)
        for body in ("Shall we ship on Friday?", "Or wait for the fixes?")
    ]
    alice = logged_in_page(team.owner)
    open_thread(alice, team.thread.pk)

    alice.get_by_role("button", name="Catch me up").click()

    panel = alice.locator("#catch-up")
    expect(panel.locator(".body")).to_contain_text("Fixes first")
    expect(panel.get_by_role("button", name="Dismiss")).to_be_visible()  # it ended
    expect(panel).to_contain_text("only you see this")
    cites = panel.locator("a.cite")
    expect(cites).to_have_count(2)
    for cite, message in zip(cites.all(), missed, strict=True):
        assert cite.get_attribute("href") == f"/t/{team.thread.pk}/#message-{message.pk}"
    unbacked = panel.locator(".cite.unbacked")
    expect(unbacked).to_have_text("[7]")
    expect(unbacked).to_have_css("text-decoration-line", "line-through")
    assert unbacked.evaluate("(element) => element.closest('a')") is None

    cites.first.click()
    expect(alice).to_have_url(re.compile(f"#message-{missed[0].pk}$"))
    opened = alice.locator(f"#message-{missed[0].pk}")
    expect(opened).to_be_in_viewport()
    expect(opened).to_contain_text("Shall we ship on Friday?")

    alice.reload()  # stored: shown again, though everything is read now
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    expect(alice.locator("#catch-up .body")).to_contain_text("Ship on Friday")
