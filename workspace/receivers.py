"""A change of membership tells the person's open sockets to check their access again.

Removal from a workspace and a change of role can happen through our views, the admin or a
shell, so they are caught where Django reports them. Real-time knows no workspace: it is told
through its account event, published after the change commits (``realtime.publish``).
"""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from realtime.events import account_changed

from .models import Membership


@receiver(post_save, sender=Membership)
def _membership_changed(sender: Any, instance: Membership, created: bool, **kwargs: Any) -> None:
    # A new membership gives access to what no socket of the person holds yet; a changed one
    # (a member made viewer, say) changes what their open sockets may do.
    if not created:
        account_changed(instance.user_id)


@receiver(post_delete, sender=Membership)
def _membership_ended(sender: Any, instance: Membership, **kwargs: Any) -> None:
    account_changed(instance.user_id)
