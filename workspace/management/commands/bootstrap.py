import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from chat.services import thread_create
from workspace.models import Workspace
from workspace.services import workspace_create


class Command(BaseCommand):
    help = (
        "Create a first admin account and a demo workspace and thread if none exist, "
        "then print where to go and how to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: object, url: str, **options: object) -> None:
        password_file = settings.VAR_DIR / "admin-password"
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.com", password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(f"Created the admin account “admin” (password in {password_file}).")
        if not Workspace.objects.exists():
            workspace = workspace_create(name="Demo", owner=admin)
            thread_create(workspace=workspace, title="Welcome", created_by=admin)
            self.stdout.write("Created the demo workspace “Demo” with the thread “Welcome”.")

        if admin.get_username() == "admin" and password_file.exists():
            login = f"admin / {password_file.read_text().strip()}"
        else:
            login = f"{admin.get_username()} (your own password)"
        bar = "=" * 72
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n  Roundtable is starting: open {url}\n  Log in as {login}\n"
                f"  In a thread, write “@{settings.ASSISTANT_NAME} …” to ask the model.\n{bar}\n"
            )
        )
