"""`make run`'s last words: the address and the login, once the web server and workers answer."""

import socket

import pytest
from django.contrib.auth.models import User

from config.management.commands.announce_when_ready import banner, not_ready


def test_the_web_server_is_awaited_first(unused_tcp_port):
    url = f"http://127.0.0.1:{unused_tcp_port}/"
    assert not_ready(url) == [f"the web server on 127.0.0.1:{unused_tcp_port}"]


def test_then_a_worker_on_every_queue_of_the_routes(settings):
    # Queues no worker serves, whatever else runs on this broker (the live tests' worker).
    settings.TASK_QUEUES = {
        "first.*": {"queue": "unserved-first"},
        "second.*": {"queue": "unserved-second"},
    }
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        assert not_ready(url) == [
            "a worker on the unserved-first queue",
            "a worker on the unserved-second queue",
        ]


@pytest.mark.django_db
def test_the_banner_gives_the_address_and_the_first_admins_login(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    (tmp_path / "admin-password").write_text("s3cret\n")
    User.objects.create_superuser("admin", "admin@example.com", "s3cret")
    text = banner("http://127.0.0.1:8123/")
    assert "open http://127.0.0.1:8123/" in text
    assert "Log in as admin / s3cret" in text
