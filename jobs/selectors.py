"""Reading model jobs: places in their model's queue, and whether the models are busy."""

from bisect import bisect_left
from datetime import datetime

from django.db.models import Q, QuerySet

from .models import ModelJob


def job_list_active_for_queue(
    *, workspace_id: int | None, model_id: int | None
) -> QuerySet[ModelJob]:
    """The jobs of a workspace waiting for or running on model ``model_id`` (None: the
    default), of every kind."""
    same_queue = Q(workspace__isnull=True) if workspace_id is None else Q(workspace=workspace_id)
    return ModelJob.objects.filter(
        same_queue, status__in=ModelJob.ACTIVE_STATUSES, model_id=model_id
    )


def jobs_any_active(*, queued_since: datetime) -> bool:
    """Whether any model job of this installation is running, or was queued since
    ``queued_since`` and has not started, whatever its model, workspace or kind: what
    background work that shares the machine (ingestion) waits for. A job queued earlier and
    still not started is not about to start (its model's worker is away): it is not waited
    for. One lookup on the index that leads with ``status``."""
    return ModelJob.objects.filter(
        Q(status=ModelJob.Status.RUNNING)
        | Q(status=ModelJob.Status.QUEUED, created_at__gte=queued_since)
    ).exists()


def job_places(jobs: list[ModelJob]) -> dict[int, int]:
    """``{job id: how many jobs are ahead of it}`` for the queued ``jobs``: the unfinished
    jobs of any kind for the same model in the same workspace, asked for before it (a model's
    queue serves them in that order). Other workspaces' jobs are never counted: a place must
    not tell one team how busy another is. One query per workspace and model."""
    groups: dict[tuple[int | None, int | None], list[ModelJob]] = {}
    for job in jobs:
        if job.status == ModelJob.Status.QUEUED:
            groups.setdefault((job.workspace_id, job.model_id), []).append(job)
    places = {}
    for (workspace_id, model_id), group in groups.items():
        ahead = list(
            job_list_active_for_queue(workspace_id=workspace_id, model_id=model_id)
            .filter(pk__lt=max(job.pk for job in group))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for job in group:
            places[job.pk] = bisect_left(ahead, job.pk)
    return places


def job_list_queued_behind(job: ModelJob) -> list[ModelJob]:
    """The queued jobs after ``job`` in its queue (its workspace and model)."""
    return list(
        job_list_active_for_queue(workspace_id=job.workspace_id, model_id=job.model_id)
        .filter(status=ModelJob.Status.QUEUED, pk__gt=job.pk)
        .order_by("pk")
    )
