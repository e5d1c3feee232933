"""A team asking at once, through daphne and a model worker whose engine runs the
deterministic backend: the answers stream side by side, not one after another."""

import threading
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from api.services import api_token_create
from harness.live_stack import processes_stop, worker_start
from llm.models import LanguageModel
from tests.factories import AssistantFactory, LanguageModelFactory, UserFactory
from tests.gguf_files import tiny_llama
from tests.test_api_live import SseConnection
from workspace.models import Membership

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ASKERS = 3


@pytest.fixture
def fake_model(tmp_path) -> LanguageModel:
    return LanguageModelFactory.create(
        name="fake", path=str(tiny_llama(tmp_path / "fake.gguf")), available=True
    )


@pytest.fixture
def fake_worker(web_stack, fake_model) -> Iterator[None]:
    """A worker for ``fake_model`` alone: answers of 300 words, a step every 10 ms."""
    env = {
        **web_stack.env,
        "LLM_BACKEND": "fake",
        "LLM_FAKE_STEP_S": "0.01",
        "LLM_FAKE_ANSWER_TOKENS": "300",
        "LLM_SLOTS": str(ASKERS),
        "LLM_MAX_TOKENS": "1000",
    }
    worker = worker_start(env, queue=fake_model.queue, name="worker-fake")
    yield
    processes_stop([worker])


def test_questions_asked_at_the_same_moment_are_answered_side_by_side(
    web_stack, fake_worker, fake_model, team
):
    cache.clear()
    AssistantFactory.create(workspace=team.workspace, handle="fakebot", model=fake_model)
    people = [team.owner, team.member]
    people += [UserFactory.create() for _ in range(ASKERS - len(people))]
    for person in people[2:]:
        Membership.objects.create(workspace=team.workspace, user=person)
    tokens = [api_token_create(user=person, name="live")[1] for person in people]
    events: list[tuple[int, str]] = []  # (asker, event), in the order they arrived
    arrived = threading.Lock()

    def ask(n: int) -> None:
        stream = SseConnection(
            web_stack,
            "POST",
            f"/api/threads/{team.thread.pk}/ask",
            tokens[n],
            {"body": f"@fakebot question {n}"},
        )
        seen_chunk = False
        try:
            while True:
                kind, _ = stream.next()
                if (kind == "chunk" and not seen_chunk) or kind in ("done", "error"):
                    with arrived:
                        events.append((n, kind))
                    seen_chunk = seen_chunk or kind == "chunk"
                if kind in ("done", "error"):
                    return
        finally:
            stream.close()

    askers = [threading.Thread(target=ask, args=(n,)) for n in range(ASKERS)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=60)

    assert sorted(kind for _, kind in events) == ["chunk"] * ASKERS + ["done"] * ASKERS
    first_done = next(i for i, (_, kind) in enumerate(events) if kind == "done")
    assert {n for n, kind in events[:first_done] if kind == "chunk"} == set(range(ASKERS)), (
        "every asker saw the first words of their answer before any answer ended"
    )
