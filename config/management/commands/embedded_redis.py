import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.embedded_redis import is_running, server_command


class Command(BaseCommand):
    help = "Run the embedded Redis server on the unix socket the settings point at (foreground)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            action="store_true",
            help=(
                "Instead, wait until the embedded server answers (at once with REDIS_URL set): "
                "processes started beside it then connect without a burst of errors."
            ),
        )

    def handle(self, *args: object, wait: bool, **options: object) -> None:
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        if wait:
            while settings.USES_EMBEDDED_REDIS and not is_running(socket_path):
                time.sleep(0.1)
            return
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)
        self.stdout.write(f"Embedded Redis on unix://{socket_path}")
        command = server_command(socket_path)
        os.execv(command[0], command)  # noqa: S606 - become the server, so Ctrl-C reaches it
