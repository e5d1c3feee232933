"""The thread page in a real browser: htmx, the socket, streaming and escaping as people see them."""

import re
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Locator, Page, expect

from chat.models import Message
from chat.selectors import MESSAGE_PAGE_SIZE
from tests.e2e.conftest import STUB_CLIPBOARD_JS
from tests.factories import LONG_ANSWER_PROMPT, MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

ANSWER_TIMEOUT_MS = 120_000
MARKUP_CLOSED_MAX = 4  # characters of Markdown markup one frame can close (a ``**`` pair)
SCREENSHOT = Path(settings.BASE_DIR) / "var" / "screenshots" / "thread.png"

# Records every distinct (data-seq, text length) an assistant body shows, as the page swaps it.
RECORD_FRAMES_JS = """() => {
  window.__frames = [];
  const record = () => {
    for (const body of document.querySelectorAll("#transcript .message.assistant .body")) {
      const entry = {id: body.id, seq: Number(body.dataset.seq), length: body.textContent.length};
      const last = window.__frames.filter((frame) => frame.id === entry.id).pop();
      if (!last || last.seq !== entry.seq || last.length !== entry.length) {
        window.__frames.push(entry);
      }
    }
  };
  new MutationObserver(record).observe(document.getElementById("transcript"), {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
}"""

ANSWER_ENDED_JS = """(id) => {
  const article = document.getElementById(id);
  return article && ["done", "failed", "stopped"].includes(article.dataset.status);
}"""


@pytest.fixture
def alice_and_bob(team, logged_in_page) -> tuple[Page, Page]:
    """The owner and a member, each in their own browser, with the thread open and live."""
    alice = logged_in_page(team.owner)
    bob = logged_in_page(team.member)
    open_thread(alice, team.thread.pk)
    open_thread(bob, team.thread.pk)
    return alice, bob


def open_thread(page: Page, thread_id: int) -> None:
    """Open the thread page and wait until its socket is live."""
    response = page.goto(f"/t/{thread_id}/")
    assert response is not None
    assert response.status == 200
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def send(page: Page, text: str) -> None:
    composer = page.locator("#composer-body")
    composer.fill(text)
    composer.press("Enter")


@pytest.mark.full_stack
def test_a_member_watches_the_answer_stream_in_and_sees_the_saved_text_after_reload(
    live_stack, team, alice_and_bob
):
    alice, bob = alice_and_bob
    bob.evaluate(RECORD_FRAMES_JS)

    question = "@assistant write three short sentences about planning a software release"
    composer = alice.locator("#composer-body")
    composer.press_sequentially(question)
    composer.press("Enter")
    expect(composer).to_have_value("")  # the server's OOB swap cleared it: it was accepted

    expect(bob.locator("#transcript .message.user .body")).to_have_text(question)
    answer = bob.locator("#transcript article.message.assistant")
    expect(answer).to_have_count(1)
    answer_id = answer.get_attribute("id")
    bob.wait_for_function(ANSWER_ENDED_JS, arg=answer_id, timeout=ANSWER_TIMEOUT_MS)
    alice.wait_for_function(ANSWER_ENDED_JS, arg=answer_id, timeout=ANSWER_TIMEOUT_MS)

    reply = Message.objects.get(role=Message.Role.ASSISTANT, thread=team.thread)
    assert answer_id == f"message-{reply.pk}"
    assert reply.status == Message.Status.DONE, f"the answer failed: {reply.error}"
    expect(answer).to_have_attribute("data-status", "done")
    stats = answer.locator("footer.stats")
    expect(stats).to_be_visible()
    expect(stats.locator(".ended")).to_have_text(
        {"stop": "finished", "length": "hit the length limit"}[reply.stop_reason]
    )
    expect(stats).to_contain_text(
        f"{reply.generation.prompt_tokens} prompt + {reply.generation.completion_tokens} completion tokens"
    )
    expect(stats).to_contain_text("ms")
    expect(stats).to_contain_text("tokens/s")
    expect(answer.locator(".badge.model")).to_have_text(reply.generation.model_name)
    assert reply.generation.model_name

    frames = [f for f in bob.evaluate("window.__frames") if f["id"] == f"{answer_id}-body"]
    seqs = [frame["seq"] for frame in frames]
    lengths = [frame["length"] for frame in frames]
    assert len(set(seqs)) >= 3, f"bob saw too few updates of the answer: {frames}"
    assert all(a < b for a, b in pairwise(seqs)), f"frames out of order: {frames}"
    # Rendered Markdown can lose a character or two as the text grows ("*word" becomes an
    # emphasised "word" once its closing star arrives), never more: a lost or older frame would.
    shrank = [(a, b) for a, b in pairwise(lengths) if b < a - MARKUP_CLOSED_MAX]
    assert not shrank, f"the answer shrank while streaming: {lengths}"
    assert len(set(lengths)) >= 3, f"the answer did not grow over several updates: {lengths}"
    assert seqs[-1] == reply.last_seq

    body_selector = f"#{answer_id}-body"
    bob_text = bob.locator(body_selector).inner_text()
    assert bob_text.strip()
    assert bob_text == alice.locator(body_selector).inner_text()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    bob.screenshot(path=str(SCREENSHOT))

    bob.reload()
    expect(bob.locator(body_selector)).to_be_visible()
    assert bob.locator(body_selector).inner_text() == bob_text


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script><b hx-get="/admin/" id="transcript">x</b>'


def assert_inert(page: Page) -> None:
    expect(page.locator(".message.user")).to_have_count(1)
    # A broken image has finished loading (and fired any onerror) once it is complete.
    page.wait_for_function("Array.from(document.images).every((image) => image.complete)")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    expect(page.locator("[id=transcript]")).to_have_count(1)
    transcript = page.locator("#transcript")
    expect(transcript.locator(".message.user .body")).to_have_text(HOSTILE)
    # Nothing of the message's own markup is live (the page's Edit buttons have hx-get).
    expect(transcript.locator(".message .body").locator("img, script, [hx-get], b")).to_have_count(
        0
    )


def test_html_in_a_message_is_shown_as_text_and_never_runs(live_stack, team, alice_and_bob):
    alice, bob = alice_and_bob

    send(alice, HOSTILE)

    assert_inert(bob)  # as it arrived over the socket
    assert_inert(alice)
    assert Message.objects.get(thread=team.thread).body == HOSTILE
    bob.reload()
    assert_inert(bob)  # as the page renders it from the database


def test_an_oversize_message_is_refused_with_an_error_and_the_text_is_kept(
    live_stack, team, logged_in_page
):
    alice = logged_in_page(team.owner)
    open_thread(alice, team.thread.pk)
    limit = settings.MESSAGE_MAX_LENGTH
    text = "x" * (limit + 1)

    send(alice, text)

    error = alice.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(
        f"That message is {limit + 1:,} characters long; the limit is {limit:,}."
    )
    expect(alice.locator("#composer-body")).to_have_value(text)
    assert not Message.objects.filter(thread=team.thread).exists()
    expect(alice.locator("#transcript .message")).to_have_count(0)

    send(alice, "x" * limit)  # shortened to the limit, it goes through and the error goes away

    # Events arrive in order: had the refused message been sent, it would show before this one.
    expect(alice.locator("#transcript .message.user .body")).to_have_text(["x" * limit])
    expect(error).to_be_hidden()
    expect(alice.locator("#composer-body")).to_have_value("")
    assert Message.objects.get(thread=team.thread).body == "x" * limit


# The emptied composer the server sends once a post is done, arriving now: the posted message
# itself goes out as soon as it is saved, so a quick typist can be on the next one already.
EMPTIED_COMPOSER_ARRIVES_JS = """() => {
  const emptied = document.getElementById("composer-body").cloneNode();
  emptied.setAttribute("hx-swap-oob", "true");
  htmx.swap(document.body, emptied.outerHTML, {swapStyle: "none"});
}"""


def test_what_is_typed_right_after_sending_is_kept_when_the_composer_is_emptied(
    live_stack, team, logged_in_page
):
    alice = logged_in_page(team.owner)
    open_thread(alice, team.thread.pk)
    composer = alice.locator("#composer-body")
    send(alice, "Shall we ship on Friday?")
    expect(alice.locator("#transcript .message.user .body")).to_have_text(
        ["Shall we ship on Friday?"]
    )
    expect(composer).to_have_value("")

    composer.fill("Or wait for the fixes?")
    alice.evaluate(EMPTIED_COMPOSER_ARRIVES_JS)  # late, for the message before

    expect(composer).to_have_value("Or wait for the fixes?")
    composer.press("Enter")
    expect(alice.locator("#transcript .message.user .body")).to_have_text(
        ["Shall we ship on Friday?", "Or wait for the fixes?"]
    )
    expect(composer).to_have_value("")


def test_someone_outside_the_workspace_gets_not_found_for_the_thread(
    live_stack, team, logged_in_page
):
    mallory = logged_in_page(team.outsider)

    response = mallory.goto(f"/t/{team.thread.pk}/")

    assert response is not None
    assert response.status == 404
    expect(mallory.get_by_text(team.thread.title)).to_have_count(0)
    expect(mallory.locator("#transcript")).to_have_count(0)


def test_any_member_stops_the_answer_with_its_stop_button_and_everyone_sees_it_stopped(
    live_stack, team, alice_and_bob
):
    alice, bob = alice_and_bob

    send(alice, LONG_ANSWER_PROMPT)
    answer = bob.locator("#transcript article.message.assistant")
    expect(answer).to_have_attribute("data-status", "streaming", timeout=ANSWER_TIMEOUT_MS)
    bob.wait_for_function(
        "(id) => Number(document.getElementById(id + '-body').dataset.seq) >= 2",
        arg=answer.get_attribute("id"),
        timeout=ANSWER_TIMEOUT_MS,
    )
    answer.get_by_role("button", name="Stop").click()

    for page in (alice, bob):
        stopped = page.locator("#transcript article.message.assistant")
        expect(stopped).to_have_attribute("data-status", "stopped", timeout=ANSWER_TIMEOUT_MS)
        expect(stopped.locator("footer.stats")).to_contain_text("stopped by bob")
        expect(stopped.get_by_role("button", name="Stop")).to_have_count(0)
    reply = Message.objects.get(role=Message.Role.ASSISTANT, thread=team.thread)
    assert reply.status == Message.Status.STOPPED
    assert reply.body
    expect(alice.locator(f"#message-{reply.pk}-body")).to_have_text(
        bob.locator(f"#message-{reply.pk}-body").inner_text()
    )


def test_a_reload_mid_answer_shows_the_text_so_far_and_then_the_rest_live(
    live_stack, team, alice_and_bob
):
    alice, bob = alice_and_bob

    send(alice, LONG_ANSWER_PROMPT)
    answer = bob.locator("#transcript article.message.assistant")
    answer_id = answer.get_attribute("id", timeout=ANSWER_TIMEOUT_MS)
    # A few words in: what shows then is past any Markdown the rest can still turn into
    # something else (a "1" that becomes a list's first number).
    bob.wait_for_function(
        "(id) => { const body = document.getElementById(id + '-body');"
        " return Number(body.dataset.seq) >= 3 && body.innerText.length >= 40; }",
        arg=answer_id,
        timeout=ANSWER_TIMEOUT_MS,
    )
    seen_before = bob.locator(f"#{answer_id}-body").inner_text()

    open_thread(bob, team.thread.pk)  # the reload

    body = bob.locator(f"#{answer_id}-body")
    assert body.inner_text().startswith(seen_before[: len(seen_before) // 2])
    bob.wait_for_function(ANSWER_ENDED_JS, arg=answer_id, timeout=ANSWER_TIMEOUT_MS)
    reply = Message.objects.get(role=Message.Role.ASSISTANT, thread=team.thread)
    assert reply.status in {Message.Status.DONE, Message.Status.STOPPED}
    expect(body).to_have_attribute("data-seq", str(reply.last_seq))
    assert bob.locator(f"#{answer_id}-body").inner_text().startswith(seen_before)
    assert bob.locator("#transcript article.message").count() == 2


CLOSE_SOCKET_JS = """(code) => {
  const wrapper = document.querySelector("[ws-connect]")["htmx-internal-data"].webSocket;
  wrapper.socket.close(code);
}"""


@pytest.mark.parametrize("code", [1000, 3001])
def test_the_page_reconnects_after_any_close_and_catches_up(live_stack, team, alice_and_bob, code):
    alice, bob = alice_and_bob

    bob.evaluate(CLOSE_SOCKET_JS, code)
    send(alice, "posted while bob was away")

    expect(bob.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(bob.locator("#transcript .message.user .body")).to_have_text("posted while bob was away")
    send(bob, "and bob is back")
    expect(alice.locator("#transcript .message.user .body").last).to_have_text("and bob is back")


def test_the_thread_works_under_the_content_security_policy_without_a_violation(
    live_stack, team, logged_in_page
):
    alice = logged_in_page(team.owner)
    violations: list[str] = []
    alice.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    alice.on("pageerror", lambda error: violations.append(str(error)))

    open_thread(alice, team.thread.pk)  # htmx, its socket extension and our script all ran
    send(alice, "Under a strict policy")

    mine = alice.locator("#transcript .message", has_text="Under a strict policy")
    expect(mine).to_be_visible()
    # The per-person rule in the one inline <style>, allowed by its nonce, shows my own links.
    expect(mine.locator(".own-only")).to_be_visible()
    assert violations == []

    # A composer made taller by dragging its corner carries a style attribute, which the
    # composer that replaces it on each send must not be given by copying it (htmx settling).
    composer = alice.locator("#composer-body")
    expect(composer).to_have_value("")  # the emptied composer is in: not swapped mid-drag
    box = composer.bounding_box()
    assert box is not None
    alice.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)
    alice.mouse.down()
    alice.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] + 60)
    alice.mouse.up()
    expect(composer).to_have_attribute("style", re.compile("height"))
    height = composer.evaluate("composer => composer.style.height")
    for text in ("Sent from a taller composer", "and again"):
        send(alice, text)
        expect(alice.locator("#transcript .message.user .body").last).to_have_text(text)
        expect(composer).to_have_value("")
    assert composer.evaluate("composer => composer.style.height") == height  # kept, via the CSSOM
    assert violations == []


def test_a_long_thread_opens_at_its_newest_messages_and_loads_earlier_ones_on_scroll(
    live_stack, team, logged_in_page
):
    for n in range(MESSAGE_PAGE_SIZE + 20):
        MessageFactory.create(thread=team.thread, author=team.member, body=f"message {n}")
    bob = logged_in_page(team.member)
    open_thread(bob, team.thread.pk)
    shown = bob.locator("#transcript > article.message")
    expect(shown).to_have_count(MESSAGE_PAGE_SIZE)
    expect(shown.last).to_contain_text(f"message {MESSAGE_PAGE_SIZE + 19}")

    bob.locator("#transcript").evaluate("transcript => { transcript.scrollTop = 0; }")

    expect(shown).to_have_count(MESSAGE_PAGE_SIZE + 20)
    expect(shown.first).to_contain_text("message 0")
    send(bob, "the newest, still at the end")
    expect(shown.last).to_contain_text("the newest, still at the end")


def test_members_see_who_has_the_thread_open_and_who_is_typing(live_stack, team, alice_and_bob):
    alice, bob = alice_and_bob
    expect(alice.locator("#thread-presence li")).to_have_text(["alice", "bob"])

    bob.locator("#composer-body").press_sequentially("hello", delay=50)

    expect(alice.locator("#thread-typing")).to_have_text("bob is typing…")
    expect(alice.locator("#thread-typing")).to_be_hidden(timeout=10_000)  # once bob stops
    bob.close()
    expect(alice.locator("#thread-presence li")).to_have_text(["alice"])


def start_editing(page: Page, text: str) -> Locator:
    """Open the in-place editor of my message that reads ``text``; its text field."""
    mine = page.locator("#transcript article.message", has_text=text)
    mine.get_by_role("button", name="Edit").click()
    editor = mine.get_by_role("textbox", name="Your message")
    expect(editor).to_be_focused()
    return editor


def test_the_author_edits_a_message_in_place_over_several_lines_and_everyone_sees_it_edited(
    live_stack, team, alice_and_bob
):
    alice, bob = alice_and_bob
    send(bob, "Ship on Friday")
    expect(alice.locator("#transcript .message.user .body")).to_have_text("Ship on Friday")
    expect(
        alice.locator("#transcript .message.user").get_by_role("button", name="Edit")
    ).to_be_hidden()

    editor = start_editing(bob, "Ship on Friday")

    expect(editor).to_have_value("Ship on Friday")  # prefilled, the cursor at its end
    editor.press("Shift+Enter")
    editor.press_sequentially("after the review")
    expect(editor).to_have_value("Ship on Friday\nafter the review")
    editor.press("Enter")

    expect(bob.locator(".message-edit")).to_have_count(0)
    for page in (alice, bob):
        message = page.locator("#transcript article.message.user")
        expect(message.locator(".body")).to_contain_text("after the review")
        expect(message.locator("header .state")).to_have_text("edited")
    message = Message.objects.get(thread=team.thread)
    assert message.body == "Ship on Friday\nafter the review"
    assert message.edited_at is not None


def test_escape_cancels_an_edit_and_the_message_stays_as_it_was(live_stack, team, alice_and_bob):
    _, bob = alice_and_bob
    send(bob, "Ship on Friday")

    editor = start_editing(bob, "Ship on Friday")
    editor.press_sequentially(", or not")
    editor.press("Escape")

    expect(bob.locator(".message-edit")).to_have_count(0)
    body = bob.locator("#transcript article.message.user .body")
    expect(body).to_be_visible()
    expect(body).to_have_text("Ship on Friday")
    expect(bob.locator("#transcript article.message.user header .state")).to_have_count(0)
    assert start_editing(bob, "Ship on Friday").input_value() == "Ship on Friday"
    assert Message.objects.get(thread=team.thread).edited_at is None


def test_an_edit_the_server_refuses_says_why_in_the_editor_and_keeps_the_text(
    live_stack, team, alice_and_bob
):
    _, bob = alice_and_bob
    send(bob, "Ship on Friday")

    editor = start_editing(bob, "Ship on Friday")
    editor.fill("   ")
    editor.press("Enter")

    expect(bob.locator(".message-edit .error")).to_have_text("Write something before sending.")
    expect(editor).to_have_value("   ")
    assert Message.objects.get(thread=team.thread).body == "Ship on Friday"


def test_an_open_editor_keeps_what_was_typed_when_the_transcript_is_sent_again(
    live_stack, team, alice_and_bob, redis_server
):
    alice, bob = alice_and_bob
    send(bob, "Ship on Friday")
    editor = start_editing(bob, "Ship on Friday")
    editor.fill("Ship on Monday")
    badge = bob.locator("#connection")

    redis_server.stop()  # when it is back, each page is sent its whole transcript again
    try:
        expect(badge).to_have_attribute("data-state", "reconnecting")
    finally:
        redis_server.start()
    expect(badge).to_have_attribute("data-state", "live")

    expect(editor).to_have_value("Ship on Monday")
    expect(editor).to_be_focused()
    editor.press("Enter")
    expect(alice.locator("#transcript .message.user .body")).to_have_text("Ship on Monday")


def test_a_code_block_is_highlighted_and_its_copy_button_copies_the_code(
    live_stack, team, alice_and_bob
):
    alice, bob = alice_and_bob
    code = 'def greet(name):\n    return f"<b>hi</b> {name}"\n'

    send(alice, f"Try this:\n\n```python\n{code}```")

    block = bob.locator("#transcript .message.user .code-block")
    expect(block.locator("pre .k")).to_have_text(["def", "return"])
    expect(block.locator("pre .nf")).to_have_text(["greet"])
    expect(block.locator("pre b")).to_have_count(0)  # the code's HTML is text
    bob.evaluate(STUB_CLIPBOARD_JS)
    block.get_by_role("button", name="Copy").click()
    expect(block.get_by_role("button")).to_have_text("Copied")
    assert bob.evaluate("window.__copied") == [code]


HELD = "Not connected: your message is kept here and sent when the connection is back."


def test_a_message_sent_while_redis_is_away_stays_in_the_composer_and_is_sent_once_when_back(
    live_stack, team, log_in, redis_server
):
    alice, bob = log_in(team.owner), log_in(team.member)
    open_thread(alice, team.thread.pk)
    open_thread(bob, team.thread.pk)
    typed = "Typed while the server could not reach Redis"
    badge = alice.locator("#connection")

    redis_server.stop()
    try:
        expect(badge).to_have_attribute("data-state", "reconnecting")
        expect(badge).to_have_text("reconnecting…")
        send(alice, typed)
        alice.locator("#composer-body").press("Enter")  # impatient: a second Enter
        expect(alice.locator("#composer-error")).to_have_text(HELD)
        expect(alice.locator("#composer-body")).to_have_value(typed)
        assert not Message.objects.filter(body=typed).exists()
    finally:
        redis_server.start()

    expect(badge).to_have_attribute("data-state", "live")
    expect(alice.locator("#composer-body")).to_have_value("")  # the server took it
    expect(alice.locator("#composer-error")).to_have_text("")
    expect(bob.locator("#transcript .message.user .body")).to_have_text(typed)
    assert Message.objects.filter(body=typed).count() == 1
