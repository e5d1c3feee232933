"""Answers that cite: the passages an answer reads are numbered, its [n] map to them on the
server, and a marker that no passage backs is shown as unbacked, never linked elsewhere."""

import logging

import pytest
from django.test import override_settings

from assistant.grounding import passages_for, sources_block
from chat.answering import knowledge_scope
from chat.citations import AnswerSource, markdown_with_citations, sources_mark_cited
from chat.models import Message, Thread
from chat.rendering import message_html
from chat.selectors import message_page
from chat.services import message_create
from knowledge.embedding import embedder_get
from knowledge.models import Source
from knowledge.services import source_add_file, source_ingest
from llm.routing import DEFAULT_QUEUE

from .factories import WorkspaceFactory, assistant_reply
from .model_worker import reply_generate, stand_in

SPEC = """# Widget specification

## Power

The widget runs on 12 volts and draws at most 3 amperes.

## Colours

The widget ships in teal and in orange; the orange one is the limited edition.
"""


def _source(team, name: str = "widget-spec.md", text: str = SPEC) -> Source:
    source = source_add_file(
        workspace=team.workspace,
        added_by=team.member,
        name=name,
        content_type="",
        data=text.encode(),
    )
    source_ingest(source_id=source.pk, generation=source.generation)
    source.refresh_from_db()
    assert source.status == Source.Status.READY, source.error
    return source


def test_markers_link_to_the_numbered_sources_and_others_are_unbacked():
    html = markdown_with_citations(
        "Teal [1] or orange [2]; see [3] and [the site](https://example.com) [1](x).",
        sources=2,
        message_dom_id="message-7",
    )

    assert '<a class="cite" href="#message-7-source-1">[1]</a>' in html
    assert '<a class="cite" href="#message-7-source-2">[2]</a>' in html
    assert '<span class="cite unbacked"' in html
    assert 'href="#message-7-source-3"' not in html, "never linked to a source it does not name"
    assert 'href="https://example.com"' in html


def test_hostile_text_around_markers_stays_text():
    html = markdown_with_citations(
        '<img src=x onerror="alert(1)"> [1] \ue0009\ue001 <script>x</script>',
        sources=1,
        message_dom_id="message-7",
    )

    assert "<img" not in html
    assert "<script" not in html
    assert html.count('class="cite"') == 1, "only the model's [1] became a citation"


def test_the_final_text_decides_which_sources_are_cited():
    sources: list[AnswerSource] = [
        {
            "number": n,
            "source_id": 1,
            "chunk_id": n,
            "title": "t",
            "locator": "",
            "url": "/",
            "cited": False,
        }
        for n in (1, 2, 3)
    ]

    marked = sources_mark_cited(sources, "As [3] says, and [1]; not [9].")

    assert [s["cited"] for s in marked] == [True, False, True]


class _Counter:
    """Counts a text's tokens as the bundled model roughly does (4 characters a token)."""

    n_ctx = 2048

    def token_count(self, text: str) -> int:
        return len(text) // 4


@pytest.mark.django_db
def test_passages_fit_a_budget_and_follow_the_threads_choice(team, sent_tasks, settings):
    spec = _source(team)
    _source(team, "menu.md", "# Menu\n\nSoup on Monday, crumble on Friday.\n")
    reply = assistant_reply(
        thread=team.thread,
        asker=team.member,
        question="@assistant what voltage does the widget use?",
    )
    found = passages_for(knowledge_scope(reply), _Counter())
    assert found[0].source_id == spec.pk
    assert "12 volts" in found[0].text

    settings.KNOWLEDGE_CONTEXT_TOKENS = _Counter().token_count(sources_block(found[:1]))
    assert len(passages_for(knowledge_scope(reply), _Counter())) == 1, "the budget holds"

    Thread.objects.filter(pk=team.thread.pk).update(sources_use=Thread.SourcesUse.NONE)
    reply.thread.refresh_from_db()
    assert passages_for(knowledge_scope(reply), _Counter()) == []

    Thread.objects.filter(pk=team.thread.pk).update(sources_use=Thread.SourcesUse.SOME)
    reply.thread.refresh_from_db()
    assert passages_for(knowledge_scope(reply), _Counter()) == [], "none chosen yet"
    team.thread.chosen_sources.add(spec)
    assert {p.source_id for p in passages_for(knowledge_scope(reply), _Counter())} == {spec.pk}


@pytest.mark.django_db
@pytest.mark.model
def test_an_answer_reads_the_files_passage_and_lists_it_as_its_source(
    team, sent_tasks, loaded_model, django_capture_on_commit_callbacks
):
    """The real model and the real retrieval: the question's answer is only in the file. What
    is checked is the plumbing (retrieval, numbering, the sources shown), not the prose."""
    spec = _source(team)
    with (
        override_settings(LLM_WORKER_QUEUE=DEFAULT_QUEUE),
        django_capture_on_commit_callbacks(execute=True),
    ):
        question = message_create(
            thread=team.thread,
            author=team.member,
            body="@assistant Which colours does the widget ship in? Cite the source.",
        )
        reply = Message.objects.get(in_reply_to=question)
        reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE
    sources = reply.generation.sources
    assert sources, "the answer read passages"
    assert sources[0]["source_id"] == spec.pk
    assert sources[0]["url"] == f"/sources/{spec.pk}/passages/{sources[0]['chunk_id']}/"
    assert sources[0]["title"] == "widget-spec.md"
    assert reply.generation.system_prompt, "recorded as before"

    shown = {m.id: m for m in message_page(thread=team.thread).messages}[reply.pk]
    html = message_html(shown)
    assert f'id="message-{reply.pk}-source-1"' in html
    assert "widget-spec.md" in html


@pytest.mark.django_db
@pytest.mark.model
def test_in_a_workspace_without_sources_an_answer_never_embeds_its_question(
    team, loaded_model, settings, caplog
):
    """Every answer asks for passages; where there are none, the question is not embedded (the
    embedding model configured here cannot even be loaded) and the answer simply has none."""
    settings.KNOWLEDGE_EMBEDDING_MODEL_PATH = "/nowhere/no-such-embedder.gguf"
    settings.LLM_MAX_TOKENS = 8
    embedder_get.cache_clear()
    reply = assistant_reply(
        thread=team.thread, asker=team.member, question="@assistant what voltage does it use?"
    )
    try:
        with caplog.at_level(logging.WARNING):
            reply_generate(reply_id=reply.pk)
    finally:
        embedder_get.cache_clear()

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE, reply.error
    assert reply.generation.sources == []
    assert not [r for r in caplog.records if "Retrieval failed" in r.getMessage()]


def _prompt_of(question: str) -> str:
    """The prompt the stand-in model read for ``question`` (the text that has both)."""
    _, vocabulary = stand_in()
    return next(text for text in vocabulary.read if question in text and "You are" in text)


@pytest.mark.django_db
def test_a_question_with_nothing_relevant_gets_a_prompt_without_sources_and_lists_none(
    team, sent_tasks, fake_model
):
    """Real retrieval, the stand-in model: the widget's specification has a passage nearest to
    any question, but a question about code is given none of it."""
    _source(team)
    on_topic, off_topic = "what voltage does the widget use?", "write a python function"
    asked = {
        question: assistant_reply(
            thread=team.thread, asker=team.member, question=f"@assistant {question}"
        )
        for question in (on_topic, off_topic)
    }
    for reply in asked.values():
        reply_generate(reply_id=reply.pk)
        reply.refresh_from_db()
        assert reply.status == Message.Status.DONE, reply.error

    assert "Sources from the team's workspace" in _prompt_of(on_topic)
    assert asked[on_topic].generation.sources[0]["title"] == "widget-spec.md"
    assert "Sources from the team's workspace" not in _prompt_of(off_topic)
    assert "cite" not in _prompt_of(off_topic)
    assert asked[off_topic].generation.sources == []
    shown = {m.id: m for m in message_page(thread=team.thread).messages}
    assert 'aria-label="Sources"' in message_html(shown[asked[on_topic].pk])
    assert 'aria-label="Sources"' not in message_html(shown[asked[off_topic].pk])


@pytest.mark.django_db
def test_a_cited_passage_opens_in_its_source_for_members_only(client, team, sent_tasks):
    spec = _source(team)
    chunk = spec.chunks.order_by("ordinal").last()
    assert chunk is not None
    url = f"/sources/{spec.pk}/passages/{chunk.pk}/"

    client.force_login(team.outsider)
    assert client.get(url).status_code == 404

    client.force_login(team.member)
    page = client.get(url).text
    assert "<mark>" in page
    assert "teal and in orange" in page
    assert client.get(f"/sources/{spec.pk}/passages/999999/").status_code == 404


@pytest.mark.django_db
def test_members_choose_which_sources_a_thread_may_use(client, team, sent_tasks):
    spec = _source(team)
    elsewhere = source_add_file(
        workspace=WorkspaceFactory.create(),
        added_by=team.outsider,
        name="theirs.md",
        content_type="",
        data=b"# Theirs\n\nNot yours.\n",
    )
    client.force_login(team.member)
    url = f"/t/{team.thread.pk}/settings/"

    refused = client.post(
        url, {"answerer": "", "sources_use": "some", "chosen_sources": [elsewhere.pk]}
    )
    assert "Saved." not in refused.text
    assert list(team.thread.chosen_sources.all()) == []

    saved = client.post(url, {"answerer": "", "sources_use": "some", "chosen_sources": [spec.pk]})
    assert "Saved." in saved.text
    team.thread.refresh_from_db()
    assert team.thread.sources_use == Thread.SourcesUse.SOME
    assert list(team.thread.chosen_sources.all()) == [spec]
    assert "sources: widget-spec.md" in client.get(f"/t/{team.thread.pk}/").text
