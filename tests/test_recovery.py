"""When a worker dies or an attempt is superseded: interrupted replies, stale attempts, retry."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from chat.answering import reply_history
from chat.models import Message
from chat.replies import reply_progress_record, reply_progress_save, reply_retry
from chat.services import message_delete
from jobs.models import ModelJob
from jobs.services import JobEnded, jobs_sweep

from .factories import assistant_reply, frame_send
from .model_worker import in_background, joined, reply_generate, until

pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Answers' newest text lives in the cache under their ids, which the next test reuses."""
    cache.clear()


def _reply(team, *, status=Message.Status.STREAMING, **fields) -> Message:
    return assistant_reply(thread=team.thread, asker=team.owner, status=status, **fields)


def _silence(reply: Message, seconds: int) -> None:
    """The reply's worker was last heard of ``seconds`` ago (its job's heartbeat); a queued
    reply was last sent then."""
    ModelJob.objects.filter(answer=reply).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


def reply_interrupt_stale(*, silent_for: timedelta) -> list[int]:
    """The jobs' sweep, as housekeeping runs it: the answers it interrupted."""
    interrupted, _ = jobs_sweep(silent_for=silent_for, waiting_for=timedelta(hours=1))
    return list(Message.objects.filter(job__in=interrupted).values_list("pk", flat=True))


def test_a_reply_whose_worker_went_silent_is_interrupted_keeping_every_token_sent(team):
    reply = _reply(team, body="Nova", last_seq=1)
    frame_send(reply, text="Nova and Orbit", seq=2, delta=" and Orbit")
    _silence(reply, 60)

    assert reply_interrupt_stale(silent_for=timedelta(seconds=30)) == [reply.pk]

    reply.refresh_from_db()
    assert reply.status == Message.Status.INTERRUPTED
    assert reply.body == "Nova and Orbit", "the text sent after the last save is kept too"
    assert reply.last_seq == 2
    assert "stopped responding" in reply.stop_reason


def test_replies_still_heard_from_are_left_streaming(team):
    reply = _reply(team, body="Nova", last_seq=1)
    _silence(reply, 5)

    assert reply_interrupt_stale(silent_for=timedelta(seconds=30)) == []

    reply.refresh_from_db()
    assert reply.status == Message.Status.STREAMING


def test_a_lost_attempt_that_comes_back_cannot_write_into_the_ended_reply(team):
    reply = _reply(team, body="Nova", last_seq=1)
    _silence(reply, 60)
    reply_interrupt_stale(silent_for=timedelta(seconds=30))

    with pytest.raises(JobEnded):
        reply_progress_save(reply=reply_progress_record(reply=reply, text="Nova, late", seq=2))

    reply.refresh_from_db()
    assert reply.body == "Nova"
    assert reply.status == Message.Status.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_generation_stops_quietly_when_its_reply_was_interrupted_meanwhile(
    team, fake_model, settings
):
    settings.LLM_FAKE_ANSWER_TOKENS = settings.LLM_MAX_TOKENS = 100_000
    settings.LLM_PERSIST_INTERVAL_S = 0.01
    reply = _reply(team, status=Message.Status.QUEUED)
    answering = in_background(lambda: reply_generate(reply_id=reply.pk))
    until(lambda: Message.objects.get(pk=reply.pk).body.startswith(" w1 w2"), what="saved text")

    # What the housekeeping worker's sweep does once the job's worker has been silent too long
    # (here: however short its silence).
    interrupted, _ = jobs_sweep(silent_for=timedelta(seconds=-1), waiting_for=timedelta(hours=1))
    joined(answering)

    assert interrupted == [reply.job_id]
    reply.refresh_from_db()
    assert reply.status == Message.Status.INTERRUPTED, "neither done nor failed"
    assert reply.body.startswith(" w1 w2"), "what was streamed before is kept"


def test_retry_answers_the_same_question_again_and_keeps_the_old_answer(
    team, django_capture_on_commit_callbacks
):
    reply = _reply(team, status=Message.Status.INTERRUPTED, body="Nov")

    with django_capture_on_commit_callbacks(execute=False):
        again = reply_retry(reply=reply, by=team.member)

    assert again.pk != reply.pk
    assert again.status == Message.Status.QUEUED
    assert again.in_reply_to == reply.in_reply_to
    assert again.requested_by == team.member, "charged to who asked again, not to the asker"
    reply.refresh_from_db()
    assert reply.body == "Nov"
    assert reply.status == Message.Status.INTERRUPTED


def test_retries_count_against_the_waiting_questions_limit_of_who_retries(team, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 2
    ended = _reply(team, status=Message.Status.DONE, body="Nova")

    reply_retry(reply=ended, by=team.member)
    reply_retry(reply=ended, by=team.member)
    with pytest.raises(ValidationError, match="limit is 2"):
        reply_retry(reply=ended, by=team.member)

    waiting = Message.objects.filter(status=Message.Status.QUEUED)
    assert list(waiting.values_list("requested_by", flat=True)) == [team.member.pk] * 2
    # The question's author is not charged: alice can still ask.
    reply_retry(reply=ended, by=team.owner)


def test_an_answer_whose_question_was_deleted_cannot_be_retried_over_http(client, team):
    reply = _reply(team, status=Message.Status.DONE, body="Nova")
    assert reply.in_reply_to is not None
    message_delete(message=reply.in_reply_to, by=team.owner)

    client.force_login(team.member)
    response = client.post(reverse("message-retry", args=[reply.pk]))

    assert response.status_code == 409
    assert "question was deleted" in response.json()["error"]
    assert Message.objects.filter(role=Message.Role.ASSISTANT).count() == 1


def test_retry_over_the_limit_over_http_is_refused_with_the_reason(client, team, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 1
    ended = _reply(team, status=Message.Status.DONE, body="Nova")
    client.force_login(team.member)
    url = reverse("message-retry", args=[ended.pk])

    assert client.post(url).status_code == 202
    refused = client.post(url)

    assert refused.status_code == 409
    assert "limit is 1" in refused.json()["error"]


def test_a_retry_does_not_show_the_model_its_earlier_attempts(team):
    reply = _reply(team, status=Message.Status.INTERRUPTED, body="A half-finished answer")
    again = Message.objects.create(
        thread=team.thread,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        in_reply_to=reply.in_reply_to,
    )
    assert [message.body for message in reply_history(again)] == ["@assistant name the release"]


def test_members_retry_over_http_outsiders_get_404_and_active_replies_refuse(client, team):
    reply = _reply(team, status=Message.Status.INTERRUPTED, body="Nov")
    url = reverse("message-retry", args=[reply.pk])

    client.force_login(team.outsider)
    assert client.post(url).status_code == 404

    client.force_login(team.member)
    response = client.post(url)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    active = Message.objects.get(pk=response.json()["id"])
    assert client.post(reverse("message-retry", args=[active.pk])).status_code == 409


def test_the_housekeeping_sweep_runs_on_its_own_queue_every_few_seconds():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["sweep-model-jobs"]
    assert schedule["task"] == "jobs.sweep"
    assert schedule["schedule"] <= django_settings.REPLY_STALE_AFTER_S
    assert django_settings.TASK_QUEUES["jobs.*"]["queue"] == "housekeeping"
    assert django_settings.TASK_QUEUES["llm.*"]["queue"] == "llm"


def test_a_reply_queued_for_too_long_is_enqueued_again_at_most_once_per_period(team, sent_tasks):
    waiting = _reply(team, status=Message.Status.QUEUED)
    fresh = _reply(team, status=Message.Status.QUEUED)
    _silence(waiting, 400)

    _, requeued = jobs_sweep(silent_for=timedelta(seconds=30), waiting_for=timedelta(seconds=300))
    _, again = jobs_sweep(silent_for=timedelta(seconds=30), waiting_for=timedelta(seconds=300))

    assert requeued == [waiting.job_id]
    assert again == []
    assert [args for name, args in sent_tasks] == [[waiting.pk]]
    fresh.refresh_from_db()
    assert fresh.status == Message.Status.QUEUED
