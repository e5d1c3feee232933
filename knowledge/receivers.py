"""What knowledge does when something it indexes goes away elsewhere."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from workspace.models import Workspace

from .vector_index import indexes_remove


@receiver(post_delete, sender=Workspace)
def workspace_indexes_remove(sender: type[Workspace], instance: Workspace, **kwargs: Any) -> None:
    """The passages went with the workspace (a cascade); their vectors on disk go too, once
    the deletion is committed."""
    workspace_id = instance.pk
    transaction.on_commit(lambda: indexes_remove(workspace_id))
