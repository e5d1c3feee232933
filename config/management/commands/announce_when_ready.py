"""The last line `make run` prints: where to go and how to log in, once everything answers."""

import signal
import socket
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from config.celery import app

POLL_S = 0.5
HINT_AFTER_S = 60


class Command(BaseCommand):
    help = (
        "Wait until the web server accepts connections and every Celery queue has a worker, "
        "print the address and the login, then wait to be stopped (as honcho expects)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: object, url: str, **options: object) -> None:
        try:
            self.wait_until_ready(url)
            self.stdout.write(self.style.SUCCESS(banner(url)))
            signal.pause()  # honcho stops every process when one of them exits
        except KeyboardInterrupt:  # Ctrl-C reaches every process of the terminal
            pass

    def wait_until_ready(self, url: str) -> None:
        started = time.monotonic()
        hinted = False
        while missing := not_ready(url):
            if not hinted and time.monotonic() - started > HINT_AFTER_S:
                self.stdout.write(f"Still waiting for {', '.join(missing)}…")
                hinted = True
            time.sleep(POLL_S)


def not_ready(url: str) -> list[str]:
    """What does not answer yet: the web server first, then workers of each queue."""
    address = urlsplit(url)
    try:
        socket.create_connection((address.hostname, address.port or 80), timeout=1).close()
    except OSError:
        return [f"the web server on {address.netloc}"]
    wanted = {route["queue"] for route in settings.TASK_QUEUES.values()}
    try:
        replies = app.control.inspect(timeout=1).active_queues() or {}
    except OSError:  # the broker is not up yet
        replies = {}
    served = {queue["name"] for queues in replies.values() for queue in queues}
    return [f"a worker on the {queue} queue" for queue in sorted(wanted - served)]


def banner(url: str) -> str:
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    password_file = settings.VAR_DIR / "admin-password"
    if admin is None:
        login = "an account made with `manage.py createsuperuser`"
    elif admin.get_username() == "admin" and password_file.exists():
        login = f"admin / {password_file.read_text().strip()}"
    else:
        login = f"{admin.get_username()} (your own password)"
    bar = "=" * 72
    return (
        f"\n{bar}\n  Roundtable is ready: open {url}\n  Log in as {login}\n"
        f"  In a thread, write “@{settings.ASSISTANT_NAME} …” to ask the model.\n{bar}"
    )
