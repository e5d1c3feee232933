"""The Python client (clients/python), installed with pip from its folder, against daphne.
The model's side is played by the calls the worker makes, from a thread of this process."""

import importlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
from django.core.cache import cache
from django.utils import timezone

from api.services import api_token_create
from chat.models import Generation, Message
from realtime.topics import thread_topic
from tests.factories import (
    AssistantFactory,
    answer_finish,
    answer_streaming,
    assistant_reply,
    frame_send,
)
from tests.redis_control import topic_followed_wait

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

CLIENT_FOLDER = Path(__file__).resolve().parent.parent / "clients" / "python"
SOURCE = {
    "number": 1,
    "source_id": 3,
    "chunk_id": 30,
    "title": "Release notes",
    "locator": "page 2",
    "url": "/sources/3/",
    "cited": True,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install`` of the client's folder, into a folder of its own."""
    target = tmp_path_factory.mktemp("client")
    source = tmp_path_factory.mktemp("client-source") / "python"  # the build writes beside it
    shutil.copytree(CLIENT_FOLDER, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
    )  # fmt: skip
    return target


@pytest.fixture
def roundtable_client(installed, monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(installed))
    for name in [m for m in sys.modules if m.startswith("roundtable_client")]:
        del sys.modules[name]
    module = importlib.import_module("roundtable_client")
    assert Path(module.__file__ or "").is_relative_to(installed)
    return module


@pytest.fixture
def token(team) -> str:
    cache.clear()
    return api_token_create(user=team.member, name="client")[1]


@pytest.fixture
def idle(team) -> str:
    """An assistant on a model no worker serves: its answers wait on that model's own queue,
    so a model worker that other live tests left running never answers them in place of the
    stand-in below. Returns its mention."""
    AssistantFactory.create(workspace=team.workspace, handle="idle")
    return "@idle"


def answer_in_background(
    thread_id: int, pieces: list[str], sources: list[dict] | None = None
) -> threading.Thread:
    """Play the model worker: the thread's next queued answer, given ``sources`` (SOURCE
    alone unless told), streams ``pieces`` and ends, once the request that asked for it
    follows the thread (then it misses no frame)."""

    def work() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = Message.objects.filter(
                thread_id=thread_id, role=Message.Role.ASSISTANT, status=Message.Status.QUEUED
            ).first()
            if reply is not None:
                break
            time.sleep(0.05)
        else:
            return
        reply = answer_streaming(reply.pk)
        given = [SOURCE] if sources is None else sources
        Generation.objects.create(message=reply, model_name="stand-in", sources=given)
        if not topic_followed_wait(thread_topic(thread_id), followed=True):
            return
        text = ""
        for seq, piece in enumerate(pieces, start=1):
            text += piece
            frame_send(reply, text=text, seq=seq, delta=piece)
            time.sleep(0.05)
        answer_finish(reply, text=text, seq=len(pieces))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    return worker


def test_the_library_asks_and_streams_the_answer_then_its_sources(
    web_stack, team, token, roundtable_client, idle
):
    client = roundtable_client.Client(web_stack.http_url, token)
    assert [w["id"] for w in client.workspaces()] == [team.workspace.pk]
    worker = answer_in_background(team.thread.pk, ["In", " May", " [1]."])
    answer = client.ask(team.thread.pk, f"{idle} when do we ship?")
    chunks = list(answer)
    worker.join()
    assert "".join(chunks) == "In May [1]."
    assert answer.question["message"]["body"] == f"{idle} when do we ship?"
    assert answer.message["status"] == "done"
    assert answer.message["statistics"]["completion_tokens"] == 3
    assert answer.sources == [SOURCE]
    assert client.status(answer.message["id"])["body"] == "In May [1]."


def test_the_library_resumes_a_stream_after_its_last_event(
    web_stack, team, token, roundtable_client
):
    reply = assistant_reply(
        thread=team.thread, asker=team.member, status=Message.Status.DONE, body="Hello world",
        last_seq=2, finished_at=timezone.now(),
    )  # fmt: skip
    client = roundtable_client.Client(web_stack.http_url, token)
    assert client.stream(reply.pk, last_event_id="1:5").text() == " world"


def test_the_library_raises_the_apis_errors(web_stack, team, token, roundtable_client):
    wrong = roundtable_client.Client(web_stack.http_url, "rt_wrong")
    with pytest.raises(roundtable_client.RoundtableError) as refused:
        wrong.workspaces()
    assert refused.value.status == 401
    client = roundtable_client.Client(web_stack.http_url, token)
    with pytest.raises(roundtable_client.RoundtableError) as nobody:
        client.ask(team.thread.pk, "no mention here")
    assert (nobody.value.status, nobody.value.code) == (400, "no_answerer")


def run_cli(installed: Path, web_stack, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        "ROUNDTABLE_URL": web_stack.http_url,
        "ROUNDTABLE_TOKEN": token,
    }
    return subprocess.run(
        [sys.executable, "-m", "roundtable_client", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_asks_and_prints_the_answer_and_its_sources(
    web_stack, team, token, installed, idle
):
    assert (installed / "bin" / "roundtable").exists()
    worker = answer_in_background(team.thread.pk, ["Ship", " in May."])
    done = run_cli(installed, web_stack, token, "ask", str(team.thread.pk), f"{idle} when?")
    worker.join()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Ship in May.\n")
    assert "[1] Release notes, page 2" in done.stdout


def test_the_cli_marks_which_sources_the_answer_cited(web_stack, team, token, installed, idle):
    wifi = {**SOURCE, "number": 2, "chunk_id": 31, "title": "Office Wi-Fi", "locator": ""}
    worker = answer_in_background(team.thread.pk, ["In May", " [1]."], sources=[SOURCE, wifi])
    done = run_cli(installed, web_stack, token, "ask", str(team.thread.pk), f"{idle} when?")
    worker.join()
    assert done.returncode == 0, done.stderr
    assert "  [1] Release notes, page 2 (cited)\n" in done.stdout
    assert "  [2] Office Wi-Fi (not cited)\n" in done.stdout


def test_the_cli_shows_status_and_stops_an_answer(web_stack, team, token, installed):
    reply = assistant_reply(thread=team.thread, asker=team.member)
    status = run_cli(installed, web_stack, token, "status", str(reply.pk))
    assert status.returncode == 0, status.stderr
    assert '"status": "queued"' in status.stdout
    stopped = run_cli(installed, web_stack, token, "stop", str(reply.pk))
    assert '"status": "stopped"' in stopped.stdout
    again = run_cli(installed, web_stack, token, "stop", str(reply.pk))
    assert again.returncode == 1
    assert "409 (already_ended)" in again.stderr
