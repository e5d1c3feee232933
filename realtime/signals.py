"""Sockets follow accounts: whatever can end a person's access tells their open sockets.

Logging out, a password change or deactivation can happen through our views, the admin or a
shell, so they are caught where Django reports them, not in one view. Each publishes
``account.changed`` to the person's user topic after the change commits; every web replica's
sockets of that person then check their access again (``MemberSocket``). A change of
membership tells them the same way, from the workspace app (``workspace.receivers``).
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest

from .events import account_changed

# Saves that cannot end anyone's access: a login stamps the account with its time.
_HARMLESS_UPDATES = frozenset({"last_login"})


@receiver(user_logged_out)
def _session_logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # Sent before the session is flushed: name it, so its sockets close without a re-check.
    session_key = request.session.session_key
    if user is not None and session_key:
        account_changed(user.pk, ended_session=session_key)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _account_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    if created or (update_fields is not None and set(update_fields) <= _HARMLESS_UPDATES):
        return
    account_changed(instance.pk)  # published after the change commits
