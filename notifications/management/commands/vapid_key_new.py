from django.core.management.base import BaseCommand

from notifications.vapid import vapid_key_new


class Command(BaseCommand):
    help = (
        "Print a new VAPID private key for push notifications, to set as VAPID_PRIVATE_KEY on "
        "every machine of an installation whose machines share no var/ folder. Set it once: a "
        "new key stops the pushes to every device subscribed with the old one."
    )

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(vapid_key_new())
