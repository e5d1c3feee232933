from django.core.management.base import BaseCommand

from chat.code_styles import code_stylesheet


class Command(BaseCommand):
    help = (
        "Print the stylesheet that colours highlighted code (Pygments' token classes), light "
        "and dark. It is committed as static/css/code.css: after upgrading Pygments, run "
        "`manage.py code_stylesheet > static/css/code.css`."
    )

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(code_stylesheet(), ending="")
