from html.parser import HTMLParser

import pytest

from chat.markdown import markdown_to_html
from chat.mentions import PersonMention, mentioned_handles, mentions_linked
from chat.message_read import MessageRead
from chat.models import Message
from chat.rendering import message_html
from chat.selectors import mentions_resolve, message_page, message_read
from chat.services import message_create
from workspace.models import Membership


@pytest.mark.parametrize(
    "body",
    ["@assistant hi", "hey @assistant, what now?", "@Assistant?", "ping\n@assistant"],
)
def test_a_mention_of_the_assistant_is_recognised(body):
    assert mentioned_handles(body) == ["assistant"]


@pytest.mark.parametrize(
    "body",
    ["assistant hi", "mail me@assistant.com", "@assistants unite", "@assistant-bot", "@@x"],
)
def test_words_that_only_look_like_a_mention_are_not(body):
    assert "assistant" not in mentioned_handles(body)


@pytest.mark.django_db
def test_the_default_assistants_name_is_configurable(team, settings):
    settings.ASSISTANT_NAME = "sage"
    assert mentions_resolve(workspace=team.workspace, body="@sage help").assistants == [None]
    assert mentions_resolve(workspace=team.workspace, body="@assistant help").assistants == []


# --- A person mentioned in a message: a link to them, only for members of the workspace ---

PEOPLE: list[PersonMention] = [{"id": 7, "username": "bob"}, {"id": 8, "username": "bob.smith"}]


def linked(text: str) -> str:
    return mentions_linked(markdown_to_html(text), PEOPLE, href=lambda pk: f"/people/{pk}/")


def test_a_members_mention_becomes_a_highlighted_link_to_them():
    assert linked("thanks @bob!").strip() == (
        '<p>thanks <a class="mention" href="/people/7/">@bob</a>!</p>'
    )


def test_the_longest_username_that_is_written_is_the_one_linked():
    assert '<a class="mention" href="/people/8/">@bob.smith</a>' in linked("ask @bob.smith.")


@pytest.mark.parametrize(
    "text",
    ["`@bob` in code", "```\n@bob\n```", "[see @bob](https://example.com)", "mail x@bob.example",
     "@bobby is someone else", "@mallory is not here"],
)  # fmt: skip
def test_mentions_in_code_links_or_addresses_and_of_non_members_stay_text(text):
    assert 'class="mention"' not in linked(text)


def test_text_around_a_mention_cannot_add_attributes_or_markup():
    html = linked('@bob" onclick="x" hx-get="/x" <b id="y">hi</b>')

    assert elements_of(html) == [("p", []), ("a", [("class", "mention"), ("href", "/people/7/")])]
    assert "@bob</a>" in html


def elements_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element the browser would build from ``html``, with its attributes."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_a_message_links_the_workspaces_members_it_mentions(team, broadcasts, sent_tasks):
    message = message_create(thread=team.thread, author=team.owner, body="@bob and @mallory, look")

    event = message_read(Message.objects.get(pk=message.pk)).to_data()  # as the socket has it
    html = message_html(MessageRead.from_data(event))
    assert f'<a class="mention" href="/people/{team.member.pk}/">@bob</a>' in html
    assert "@mallory" in html
    assert f"/people/{team.outsider.pk}/" not in html
    page = message_page(thread=team.thread)
    assert page.messages[0].id == message.pk
    assert page.messages[0].mentions == [{"id": team.member.pk, "username": "bob"}]


def test_someone_who_left_is_no_longer_linked(team, broadcasts, sent_tasks):
    message_create(thread=team.thread, author=team.owner, body="@bob, look")
    Membership.objects.filter(user=team.member).delete()

    assert message_page(thread=team.thread).messages[0].mentions == []


def test_the_person_page_a_mention_links_to_is_for_people_who_share_a_workspace(client, team):
    client.force_login(team.owner)
    page = client.get(f"/people/{team.member.pk}/")
    assert page.status_code == 200
    assert team.workspace.name in page.content.decode()

    assert client.get(f"/people/{team.outsider.pk}/").status_code == 404
    client.force_login(team.outsider)
    assert client.get(f"/people/{team.member.pk}/").status_code == 404
