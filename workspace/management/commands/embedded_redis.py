import os

from django.conf import settings
from django.core.management.base import BaseCommand

from workspace.embedded_redis import server_command


class Command(BaseCommand):
    help = "Run the embedded Redis server on the unix socket the settings point at (foreground)."

    def handle(self, *args: object, **options: object) -> None:
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)
        self.stdout.write(f"Embedded Redis on unix://{socket_path}")
        command = server_command(socket_path)
        os.execv(command[0], command)  # noqa: S606 - become the server, so Ctrl-C reaches it
