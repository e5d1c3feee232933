import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from chat.services import thread_create
from notifications.vapid import vapid_key_ensure
from workspace.models import Workspace
from workspace.services import workspace_create


class Command(BaseCommand):
    help = (
        "Create a first admin account, a demo workspace and thread if none exist, and the "
        "installation's VAPID key for push notifications unless one is configured. "
        "`make run` prints the address and the login later, once every process is ready "
        "(`manage.py announce_when_ready`)."
    )

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.com", password)
            password_file = settings.VAR_DIR / "admin-password"
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                f"Created the admin account “admin” with the password “{password}” "
                f"(kept in {password_file})."
            )
        if not Workspace.objects.exists():
            workspace = workspace_create(name="Demo", owner=admin)
            thread_create(workspace=workspace, title="Welcome", created_by=admin)
            self.stdout.write("Created the demo workspace “Demo” with the thread “Welcome”.")
        made = vapid_key_ensure()
        if made is not None:
            self.stdout.write(f"Created this installation's key for push notifications in {made}.")
