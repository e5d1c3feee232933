"""One lifecycle for every kind of model work: the per-person limit, queue places, stop, the
sweep, and ending once, the same for answers, document writes and completions."""

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.replies import reply_stop
from chat.selectors import reply_queue_ahead
from chat.services import message_create
from config.celery import app as celery_app
from documents.models import DocumentWrite
from documents.selectors import write_queue_ahead
from documents.services import document_create
from documents.writes import write_request, write_start, write_stop
from jobs.models import ModelJob
from jobs.services import (
    JobEnded,
    JobLimitReached,
    job_create,
    job_end,
    job_progress,
    job_start,
    job_stop,
    job_stop_requested,
    jobs_sweep,
)
from realtime.topics import thread_topic
from tests.factories import (
    AssistantFactory,
    LanguageModelFactory,
    MembershipFactory,
    ThreadFactory,
    answer_streaming,
    assistant_reply,
)
from tests.topic_follower import TopicFollower

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture
def document(team):
    return document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)


def _asked(team, person) -> Message:
    """``person`` asks the default assistant in the team's thread: the answer, queued."""
    message_create(thread=team.thread, author=person, body="@assistant what next?")
    return Message.objects.filter(role=Message.Role.ASSISTANT).select_related("job").latest("pk")


def test_the_limit_per_person_counts_answers_writes_and_completions_together(
    team, document, settings, sent_tasks
):
    settings.MODEL_JOBS_MAX_PER_PERSON = 3
    _asked(team, team.member)
    write_request(document=document, by=team.member, instruction="a summary")
    job_create(kind="completion", requested_by=team.member)

    with pytest.raises(ValidationError, match="already have 3 requests waiting"):
        _asked(team, team.member)
    with pytest.raises(
        ValidationError, match="answers, catch-ups, document writes and API completions"
    ):
        write_request(document=document, by=team.member, instruction="more")
    with pytest.raises(JobLimitReached):
        job_create(kind="completion", requested_by=team.member)
    _asked(team, team.owner)  # someone else's limit is their own


def test_an_ended_job_gives_its_place_back(team, settings, sent_tasks):
    settings.MODEL_JOBS_MAX_PER_PERSON = 1
    answer = _asked(team, team.member)

    assert reply_stop(reply=answer, by=team.owner)

    _asked(team, team.member)


def test_queue_places_count_every_kind_for_the_same_model_and_workspace_only(
    team, document, sent_tasks
):
    other_team_thread = ThreadFactory.create()
    assistant_reply(thread=other_team_thread, asker=team.outsider)  # another workspace's
    first = _asked(team, team.owner)
    write = write_request(document=document, by=team.member, instruction="a summary")
    scribe = AssistantFactory.create(workspace=team.workspace, model=LanguageModelFactory())
    on_another_model = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)
    last = _asked(team, team.member)

    [first, on_another_model, last] = reply_queue_ahead([first, on_another_model, last])
    assert first.queue_ahead == 0
    assert write_queue_ahead(write) == 1, "behind the answer on the same model"
    assert on_another_model.queue_ahead == 0, "its model has its own queue"
    assert last.queue_ahead == 2, "behind the answer and the write"

    reply_stop(reply=first, by=team.owner)
    write.refresh_from_db()
    assert write_queue_ahead(write) == 0


def test_a_stop_means_the_same_for_every_kind_queued_running_or_ended(team, document, sent_tasks):
    answer = _asked(team, team.member)
    write = write_request(document=document, by=team.member, instruction="a summary")
    completion = job_create(kind="completion", requested_by=team.member)

    # Queued: ended here, never run.
    assert reply_stop(reply=answer, by=team.owner)
    assert write_stop(write=write, by=team.owner)
    assert job_stop(completion, by=None, reason="its client left")
    stopped = ModelJob.objects.filter(
        pk__in=[answer.job_id, write.job_id, completion.pk], status=ModelJob.Status.STOPPED
    )
    assert stopped.count() == 3
    answer.refresh_from_db()
    write.refresh_from_db()
    assert (answer.status, answer.stop_reason) == (Message.Status.STOPPED, "stopped by alice")
    assert (write.status, write.stopped_by) == (DocumentWrite.Status.STOPPED, team.owner)

    # Ended: refused alike.
    assert not reply_stop(reply=answer, by=team.owner)
    assert not write_stop(write=write, by=team.owner)
    assert not job_stop(completion, by=None, reason="its client left")


def test_a_running_job_is_asked_to_stop_and_its_worker_hears_it(team, document, sent_tasks):
    answer = answer_streaming(_asked(team, team.member).pk)
    write = write_request(document=document, by=team.member, instruction="a summary")
    assert write_start(write=write)

    assert reply_stop(reply=answer, by=team.owner)
    assert write_stop(write=write, by=team.member)

    assert job_stop_requested(answer.job_id) == "stopped by alice"
    assert job_stop_requested(write.job_id) == "stopped by bob"
    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING, "its worker ends it, keeping its text"


def test_a_stop_reaches_the_worker_through_the_database_when_the_cache_is_away(
    team, settings, sent_tasks, tmp_path
):
    answer = answer_streaming(_asked(team, team.member).pk)
    assert reply_stop(reply=answer, by=team.owner)

    away = f"unix://{tmp_path / 'no-redis.sock'}"  # the cache's Redis, gone
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": away}}
    with pytest.raises(redis.ConnectionError):
        cache.get(f"job-stop:{answer.job_id}")
    assert job_stop_requested(answer.job_id) == "stopped by alice"


def test_a_stop_reaches_the_worker_through_the_database_while_the_caches_redis_hangs(
    team, settings, sent_tasks
):
    """A Redis that accepts connections and never answers: a cache call gives up after the
    socket timeout (REDIS_SOCKET_TIMEOUT_S), and the stop and its reading go on through the
    database."""
    answer = answer_streaming(_asked(team, team.member).pk)
    configured = settings.CACHES["default"]
    with _silent_server() as address, _fails_if_it_hangs(within_s=30):
        silent = {**configured, "LOCATION": f"redis://{address}/0"}
        settings.CACHES = {"default": silent}
        with pytest.raises(redis.TimeoutError):
            cache.get(f"job-stop:{answer.job_id}")

        shorter = {"socket_timeout": 0.3, "socket_connect_timeout": 0.3}  # each call waits
        settings.CACHES = {"default": {**silent, "OPTIONS": {**silent["OPTIONS"], **shorter}}}
        assert reply_stop(reply=answer, by=team.owner)
        assert job_stop_requested(answer.job_id) == "stopped by alice"


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers; its ``host:port``."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        host, port = listener.getsockname()
        yield f"{host}:{port}"
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


@contextlib.contextmanager
def _fails_if_it_hangs(*, within_s: int) -> Iterator[None]:
    """Fail the block if it is still running after ``within_s`` (a hang would otherwise last
    as long as the run)."""

    def hung(*_: object) -> None:
        raise AssertionError(f"still waiting after {within_s} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(within_s)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_job_ends_once_whoever_ends_it_first(team, sent_tasks):
    job = job_create(kind="completion", requested_by=team.member)
    assert job_start(job)
    assert not job_start(job), "a task delivered twice runs once"

    assert job_end(job, status=ModelJob.Status.DONE)
    assert not job_end(job, status=ModelJob.Status.FAILED, error="late")
    with pytest.raises(JobEnded):
        job_progress(job, seq=3)
    job.refresh_from_db()
    assert (job.status, job.error) == (ModelJob.Status.DONE, "")


def test_the_sweep_interrupts_silent_jobs_of_every_kind_and_sends_lost_ones_again(
    team, document, sent_tasks
):
    answer = answer_streaming(_asked(team, team.member).pk)
    write = write_request(document=document, by=team.member, instruction="a summary")
    write_start(write=write)
    completion = job_create(kind="completion", requested_by=team.member)
    waiting = _asked(team, team.owner)
    long_ago = timezone.now() - timedelta(minutes=10)
    ModelJob.objects.filter(pk__in=[answer.job_id, write.job_id]).update(heartbeat_at=long_ago)
    ModelJob.objects.filter(pk__in=[completion.pk, waiting.job_id]).update(created_at=long_ago)
    sent_tasks.clear()

    interrupted, requeued = jobs_sweep(
        silent_for=timedelta(seconds=30), waiting_for=timedelta(seconds=300)
    )

    assert set(interrupted) == {answer.job_id, write.job_id}
    assert set(requeued) == {completion.pk, waiting.job_id}
    assert sorted(sent_tasks) == sorted(
        [("llm.complete_chat", [completion.pk]), ("llm.generate_reply", [waiting.pk])]
    )
    answer.refresh_from_db()
    write.refresh_from_db()
    assert answer.status == Message.Status.INTERRUPTED
    assert write.status == DocumentWrite.Status.INTERRUPTED


def test_every_door_answers_a_stop_of_an_ended_answer_alike(client, team, sent_tasks):
    answer = _asked(team, team.member)
    reply_stop(reply=answer, by=team.owner)
    client.force_login(team.member)

    page = client.post(reverse("message-stop", args=[answer.pk]))

    assert page.status_code == 409
    MembershipFactory.create(user=team.outsider)  # a member elsewhere stops nothing here
    client.force_login(team.outsider)
    assert client.post(reverse("message-stop", args=[answer.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_a_queue_moving_up_is_shown_only_in_its_own_workspace_and_model(team):
    """When a job leaves its queue, the answers queued behind it on the same model in the same
    workspace are shown their new places; answers of another workspace or model hear nothing."""
    ahead, behind, elsewhere, other_model = await database_sync_to_async(_four_queued)(team)
    follower = TopicFollower()
    for answer in (behind, elsewhere, other_model):
        await follower.follow(thread_topic(answer.thread_id))

    await database_sync_to_async(reply_stop)(reply=ahead, by=team.owner)

    moved = await follower.next_of("chat.status", message_id=behind.pk)
    assert moved["message"]["queue_ahead"] == 0
    for answer in (elsewhere, other_model):  # a marker after the stop: nothing came before it
        marker = await database_sync_to_async(message_create)(
            thread=answer.thread, author=answer.requested_by, body="marker"
        )
        before = await follower.until("chat.message", message_id=marker.pk)
        assert not [event for event in before if event.get("message_id") == answer.pk]
    await follower.leave()


def _four_queued(team) -> tuple[Message, Message, Message, Message]:
    """An answer queued on the default model in the team's workspace; behind it, one on the
    same model and workspace, one of another workspace, one on another model."""
    ahead = assistant_reply(thread=team.thread, asker=team.member)
    same_queue = ThreadFactory.create(workspace=team.workspace)
    behind = assistant_reply(thread=same_queue, asker=team.member)
    another_workspace = ThreadFactory.create()
    MembershipFactory.create(workspace=another_workspace.workspace, user=team.outsider)
    elsewhere = assistant_reply(thread=another_workspace, asker=team.outsider)
    scribe = AssistantFactory.create(workspace=team.workspace, model=LanguageModelFactory())
    other_model = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)
    return ahead, behind, elsewhere, other_model


@pytest.mark.django_db(transaction=True)  # the task is sent when the question commits
def test_a_question_posted_while_the_broker_is_away_is_kept_and_the_next_sweep_sends_its_answer(
    team, redis_server, monkeypatch
):
    redis_server.stop()
    try:
        answer = _asked(team, team.member)  # posting succeeds: nothing to post again
    finally:
        redis_server.start()
    assert answer.status == Message.Status.QUEUED
    sent: list[tuple[str, list[object]]] = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, **_: sent.append((name, args)))

    # Long before REPLY_REQUEUE_AFTER_S: its task never reached the broker.
    _, requeued = jobs_sweep(silent_for=timedelta(seconds=30), waiting_for=timedelta(seconds=300))

    assert requeued == [answer.job_id]
    assert sent == [("llm.generate_reply", [answer.pk])]
