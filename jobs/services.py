"""One lifecycle for every model job: create (the per-person limit), enqueue (after commit),
start, progress, end, stop, and the sweep of silent or lost jobs.

Every transition is a conditional update of the job's row, so of two parties moving a job
(its worker, a stop, the sweep, a second delivery of its task) exactly one does; the kind's
own record follows in the same transaction (``also``, or the kind's ``ended_here``).
A stop asked for while the job runs is kept in the job's row and flagged in the shared cache,
which its worker reads between tokens (``job_stop_requested``), whichever replica took it.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from llm.routing import JOB_MODEL_HEADER

from .kinds import job_kind
from .models import ModelJob
from .selectors import job_list_queued_behind

logger = logging.getLogger(__name__)

Status = ModelJob.Status
STOP_TTL_S = 24 * 3600
INTERRUPTED_REASON = "interrupted: the model worker stopped responding"
# heartbeat_at of a queued job whose task never reached the broker: the sweep sends it first.
NEVER_SENT = datetime(2000, 1, 1, tzinfo=UTC)


class JobLimitReached(ValidationError):
    """The person already has as many model jobs waiting or running as allowed."""


class JobEnded(Exception):
    """The job was ended elsewhere (stopped, interrupted as silent): its worker must stop."""


def job_create(
    *,
    kind: str,
    requested_by: User | None,
    workspace_id: int | None = None,
    model_id: int | None = None,
) -> ModelJob:
    """A queued job of ``kind`` for ``model_id`` (None: the default model).

    Raises JobLimitReached when ``requested_by`` already has ``MODEL_JOBS_MAX_PER_PERSON``
    jobs waiting or running, of any kind: one person's answers, writes and scripts together
    must not fill a model's queue ahead of everyone. The person's row is locked while counting
    (on PostgreSQL; SQLite writes one at a time), so two requests cannot both take the last place.
    """
    with transaction.atomic():
        if requested_by is not None:
            _person_limit_check(requested_by)
        return ModelJob.objects.create(
            kind=kind, requested_by=requested_by, workspace_id=workspace_id, model_id=model_id
        )


def _person_limit_check(person: User) -> None:
    get_user_model().objects.select_for_update().filter(pk=person.pk).exists()
    limit = settings.MODEL_JOBS_MAX_PER_PERSON
    active = ModelJob.objects.filter(
        requested_by=person, status__in=ModelJob.ACTIVE_STATUSES
    ).count()
    if active >= limit:
        raise JobLimitReached(
            f"You already have {active} requests waiting for the assistant (the limit is "
            f"{limit}, answers, catch-ups, document writes and API completions together). Ask "
            "again once one has ended, or stop one."
        )


def job_enqueue(job: ModelJob) -> None:
    """Send the job to its model's queue once the transaction that made it commits. Safe to
    repeat: only one delivery can start it."""
    transaction.on_commit(lambda: _send(job))


def _send(job: ModelJob) -> None:
    """Put the job's task on its model's queue. With the broker (Redis) away, the job stays
    queued, marked as never sent: the first sweep once the broker is back sends it (the
    request that made it, a question posted, say, has succeeded meanwhile)."""
    kind = job_kind(job.kind)
    try:
        celery_app.send_task(
            kind.task, args=kind.task_args(job), headers={JOB_MODEL_HEADER: job.model_id}
        )
    except BrokerUnavailable:
        logger.warning("Could not send %s: the broker is away; the sweep sends it", job)
        ModelJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(heartbeat_at=NEVER_SENT)


def job_move(job: ModelJob, *, model_id: int | None) -> None:
    """The job is for another model now (an assistant moved to another model while its
    answer waited): send it to that model's queue, where it takes its place."""
    ModelJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(model_id=model_id)
    job.model_id = model_id
    job_enqueue(job)


def job_start(job: ModelJob) -> bool:
    """Mark the job running; False if it is not queued (stopped meanwhile, or a task run
    twice). A stop request left in the cache under this id by an earlier life of the database
    (ids start again after a reset) is cleared: a running job is stopped from here on only."""
    _stop_flag_clear(job.pk)
    now = timezone.now()
    started = ModelJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if started:
        job.status, job.started_at, job.heartbeat_at = Status.RUNNING, now, now
    return bool(started)


def job_progress(job: ModelJob, *, seq: int) -> None:
    """The job's worker is alive and has reached frame ``seq`` (saved about once a second).
    Raises JobEnded if the job ended elsewhere."""
    now = timezone.now()
    if not ModelJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        last_seq=seq, heartbeat_at=now
    ):
        raise JobEnded(f"{job} is no longer running")
    job.last_seq, job.heartbeat_at = seq, now


def job_end(
    job: ModelJob,
    *,
    status: str,
    from_statuses: tuple[str, ...] = ModelJob.ACTIVE_STATUSES,
    silent_since: object = None,
    also: Callable[[], None] | None = None,
    **fields: object,
) -> bool:
    """End the job as ``status`` with ``fields`` if it is still in one of ``from_statuses``
    (with ``silent_since``, also unheard of since then); ``also`` runs in the same transaction
    when this call is the one that ends it. False if it had moved on.

    A stop that ended a running job names who asked for it. After commit, the queued jobs
    behind it are shown their new places.
    """
    still = ModelJob.objects.filter(pk=job.pk, status__in=from_statuses)
    if silent_since is not None:
        still = still.filter(heartbeat_at__lt=silent_since)
    with transaction.atomic():
        if not still.update(status=status, finished_at=timezone.now(), **fields):
            return False
        job.refresh_from_db()
        if also is not None:
            also()
        transaction.on_commit(lambda: _ended(job))
    return True


def _ended(job: ModelJob) -> None:
    _stop_flag_clear(job.pk)
    job_places_publish(job)


def job_end_stopped_or_done(
    job: ModelJob, *, also: Callable[[], None] | None, **fields: object
) -> bool:
    """End a running job its worker finished: ``stopped`` by whoever asked (if anyone did),
    else ``done``."""
    job.refresh_from_db(fields=["stop_requested_by", "stop_requested_at", "stop_reason"])
    if job.stop_requested_at is not None:
        return job_end(
            job,
            status=Status.STOPPED,
            from_statuses=(Status.RUNNING,),
            also=also,
            stopped_by_id=job.stop_requested_by_id,
            **fields,
        )
    return job_end(job, status=Status.DONE, from_statuses=(Status.RUNNING,), also=also, **fields)


def job_stop(job: ModelJob, *, by: User | None, reason: str) -> bool:
    """Stop the job, queued or running, whichever replica is asked; False once it has ended.

    A queued job ends here, stopped, and is never run. A running one keeps running until its
    worker reads the request (between tokens) and ends it stopped, keeping its text.
    """
    if job_end(
        job,
        status=Status.STOPPED,
        from_statuses=(Status.QUEUED,),
        also=lambda: job_kind(job.kind).ended_here(job),
        stopped_by=by,
        stop_reason=reason,
    ):
        return True
    asked = ModelJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, stop_requested_at__isnull=True
    ).update(stop_requested_by=by, stop_requested_at=timezone.now(), stop_reason=reason)
    if asked:
        _tolerant(cache.set, _stop_key(job.pk), reason, timeout=STOP_TTL_S)
        return True
    # Asked twice: still running, and stopping.
    return ModelJob.objects.filter(pk=job.pk, status=Status.RUNNING).exists()


def job_stop_requested(job_id: int | None) -> str | None:
    """Why the running job ``job_id`` is to stop, if anyone asked (its worker polls this
    between tokens). The cache answers; without it, the job's row does."""
    if job_id is None:
        return None
    try:
        reason = cache.get(_stop_key(job_id))
    except Exception:
        logger.warning("Cache unavailable: reading job %s's stop from the database", job_id)
        reason = (
            ModelJob.objects.filter(pk=job_id, stop_requested_at__isnull=False)
            .values_list("stop_reason", flat=True)
            .first()
        )
    return str(reason) if reason is not None else None


def jobs_sweep(*, silent_for: timedelta, waiting_for: timedelta) -> tuple[list[int], list[int]]:
    """The housekeeping pass over model jobs: end as interrupted the running jobs unheard of
    for ``silent_for`` (their worker died: killed, out of memory, machine lost; their kind
    keeps what they made), and send again the jobs queued for longer than ``waiting_for``
    (their task may be lost, as in a Redis restart; a second delivery of a live one finds it
    started and does nothing). Returns the ids interrupted and sent again."""
    now = timezone.now()
    silent_since = now - silent_for
    interrupted = [
        job.pk
        for job in ModelJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=silent_since)
        if job_end(
            job,
            status=Status.INTERRUPTED,
            from_statuses=(Status.RUNNING,),
            silent_since=silent_since,
            also=lambda job=job: job_kind(job.kind).ended_here(job),  # type: ignore[misc]
            stop_reason=INTERRUPTED_REASON,
        )
    ]
    sent_before = now - waiting_for
    requeued = []
    waiting = ModelJob.objects.filter(status=Status.QUEUED).filter(
        Q(heartbeat_at__lt=sent_before) | Q(heartbeat_at__isnull=True, created_at__lt=sent_before)
    )
    for job in waiting:
        # heartbeat_at of a queued job: when it was last sent again.
        if ModelJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(heartbeat_at=now):
            _send(job)
            requeued.append(job.pk)
    return interrupted, requeued


def job_places_publish(ended: ModelJob) -> None:
    """``ended`` left its queue: show the queued jobs behind it, in its workspace and for its
    model only, their new places, each kind its own."""
    behind = job_list_queued_behind(ended)
    by_kind: dict[str, list[ModelJob]] = {}
    for job in behind:
        by_kind.setdefault(job.kind, []).append(job)
    for kind, jobs in by_kind.items():
        job_kind(kind).places_changed(jobs)


def _stop_key(job_id: int) -> str:
    return f"job-stop:{job_id}"


def _stop_flag_clear(job_id: int) -> None:
    _tolerant(cache.delete, _stop_key(job_id))


def _tolerant(operation: Callable[..., object], *args: object, **kwargs: object) -> None:
    """The cache speeds stops up; the job's row is the record. Redis away: logged, not raised."""
    try:
        operation(*args, **kwargs)
    except Exception:
        logger.warning("Cache unavailable for %s", operation.__name__, exc_info=True)
