"""One queue per model: answers wait on their model's queue, places are counted per model and
per workspace, and `make run` starts a worker for each model that fits in memory."""

import os

import pytest
from django.core.management import call_command

from chat.models import Message
from chat.selectors import message_page
from chat.services import message_create
from config.celery import app as celery_app
from documents import writes
from documents.selectors import write_list_active
from jobs.services import job_enqueue
from llm.model import worker_threads
from llm.routing import DEFAULT_QUEUE, job_belongs_here, route_model_job
from llm.workers import WORKER_OVERHEAD_BYTES, worker_args, worker_env, workers_plan

from .factories import (
    AssistantFactory,
    LanguageModelFactory,
    MembershipFactory,
    ThreadFactory,
    assistant_reply,
)
from .gguf_files import tiny_llama
from .model_worker import reply_generate

pytestmark = pytest.mark.django_db


def _queue_of(task: str, args: list[object], *, model_id: int | None = None) -> str:
    return route_model_job(task, args, {}, {"headers": {"model_id": model_id}})["queue"]


def test_each_answer_waits_on_the_queue_of_its_assistants_model(team):
    scribe = AssistantFactory.create(workspace=team.workspace, handle="scribe")
    critic = AssistantFactory.create(workspace=team.workspace, handle="critic")
    by_default = assistant_reply(thread=team.thread, asker=team.member)
    by_scribe = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)
    by_critic = assistant_reply(thread=team.thread, asker=team.member, assistant=critic)

    queues = [
        _queue_of("llm.generate_reply", [reply.pk], model_id=reply.job.model_id)
        for reply in (by_default, by_scribe, by_critic)
        if reply.job is not None
    ]

    assert queues == [DEFAULT_QUEUE, scribe.model.queue, critic.model.queue]
    assert len(set(queues)) == 3
    assert _queue_of("llm.write_document", [1]) == DEFAULT_QUEUE, "writes use the default model"
    assert route_model_job("jobs.sweep", [], {}, {}) is None


def _taken_from_queue(queue: str) -> tuple[str, list[object]]:
    """The next task waiting on ``queue`` in the broker, taken off it: (name, args)."""
    with celery_app.connection_for_write() as connection, connection.SimpleQueue(queue) as q:
        message = q.get(timeout=5)
        message.ack()
    return message.headers["task"], message.payload[0]


def test_an_answer_reaches_its_models_queue_without_a_database_read_on_the_way(
    team, django_assert_num_queries, django_capture_on_commit_callbacks
):
    scribe = AssistantFactory.create(workspace=team.workspace, handle="scribe")
    by_scribe = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)
    by_default = assistant_reply(thread=team.thread, asker=team.member)

    # In the web process, after the write commits:
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(0):
        for answer in (by_scribe, by_default):
            assert answer.job is not None
            job_enqueue(answer.job)

    assert _taken_from_queue(scribe.model.queue) == ("llm.generate_reply", [by_scribe.pk])
    assert _taken_from_queue(DEFAULT_QUEUE) == ("llm.generate_reply", [by_default.pk])


def test_an_assistant_whose_model_is_switched_off_fails_at_once_saying_why(
    team, sent_tasks, django_capture_on_commit_callbacks
):
    AssistantFactory.create(
        workspace=team.workspace,
        handle="scribe",
        display_name="Scribe",
        model=LanguageModelFactory.create(name="Big", enabled=False),
    )
    with django_capture_on_commit_callbacks(execute=True):
        question = message_create(thread=team.thread, author=team.member, body="@scribe hi")

    answer = Message.objects.get(in_reply_to=question)
    assert answer.status == Message.Status.FAILED
    assert answer.error.startswith("Scribe cannot answer: its model Big is switched off.")
    assert answer.finished_at is not None
    assert sent_tasks == [], "nothing waits on a queue no worker serves"


def test_a_worker_sends_an_answer_whose_model_changed_to_that_models_queue(
    team, fake_model, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The assistant was moved to another model after its answer was queued: the worker of
    the old model must not load the new one, and the answer must not be lost."""
    scribe = AssistantFactory.create(workspace=team.workspace, handle="scribe")
    reply = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)
    settings.LLM_WORKER_QUEUE = "llm.model-999999"
    sent: list[dict[str, object]] = []
    monkeypatch.setattr(
        celery_app,
        "send_task",
        lambda name, args, **options: sent.append({"name": name, "args": args, **options}),
    )

    with django_capture_on_commit_callbacks(execute=True):
        reply_generate(reply_id=reply.pk)

    assert sent == [
        {"name": "llm.generate_reply", "args": [reply.pk], "headers": {"model_id": scribe.model_id}}
    ]
    assert (
        _queue_of("llm.generate_reply", [reply.pk], model_id=scribe.model_id) == scribe.model.queue
    )
    reply.refresh_from_db()
    assert reply.status == Message.Status.QUEUED


def test_a_place_in_the_queue_counts_only_the_same_models_answers_in_the_same_workspace(team):
    scribe = AssistantFactory.create(workspace=team.workspace, handle="scribe")
    other_thread = ThreadFactory.create(workspace=team.workspace)
    # Ahead on the default model: one in another thread of this workspace, one streaming.
    assistant_reply(thread=other_thread, asker=team.owner, status=Message.Status.STREAMING)
    assistant_reply(thread=team.thread, asker=team.owner)
    # Not ahead: another model's answer, and another workspace's answer on the same model.
    assistant_reply(thread=team.thread, asker=team.owner, assistant=scribe)
    elsewhere = MembershipFactory.create().workspace
    assistant_reply(thread=ThreadFactory.create(workspace=elsewhere), asker=team.outsider)
    mine = assistant_reply(thread=team.thread, asker=team.member)
    scribes = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)

    shown = {m.id: m for m in message_page(thread=team.thread).messages}

    assert shown[mine.pk].queue_ahead == 2
    assert shown[scribes.pk].queue_ahead == 1


def test_a_queued_write_shows_its_place_and_moves_up_when_an_answer_ahead_ends(
    team, sent_tasks, published, django_capture_on_commit_callbacks
):
    from chat import replies
    from documents.models import Document

    document = Document.objects.create(
        workspace=team.workspace, title="Plan", created_by=team.owner
    )
    answer = assistant_reply(thread=team.thread, asker=team.owner)
    with django_capture_on_commit_callbacks(execute=True):
        write = writes.write_request(document=document, by=team.member, instruction="continue")

    told = published.of(writes.events.WriteChanged)
    assert (told[-1]["write"]["id"], told[-1]["write"]["ahead"]) == (write.pk, 1)
    assert write_list_active(document_id=document.pk)[0]["ahead"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        replies.reply_stop(reply=answer, by=team.owner)

    told = published.of(writes.events.WriteChanged)
    assert (told[-1]["write"]["id"], told[-1]["write"]["ahead"]) == (write.pk, 0)


def test_workers_start_for_the_default_model_and_each_enabled_model_that_fits(settings, tmp_path):
    settings.LLM_MODEL_PATH = str(tiny_llama(tmp_path / "default.gguf", padding=2**20))
    fits = LanguageModelFactory.create(
        name="Fits", path=str(tiny_llama(tmp_path / "fits.gguf", padding=2**20)), available=True
    )
    LanguageModelFactory.create(
        name="Huge",
        path=str(tiny_llama(tmp_path / "huge.gguf", padding=64 * 2**20)),
        available=True,
    )
    LanguageModelFactory.create(name="Off", enabled=False, available=True)
    LanguageModelFactory.create(name="Broken", available=False, unavailable_reason="No file.")

    plan = workers_plan(memory_bytes=2 * WORKER_OVERHEAD_BYTES + 20 * 2**20)

    assert [(w.queue, w.model_name) for w in plan.started] == [
        (DEFAULT_QUEUE, "default"),
        (fits.queue, "Fits"),
    ]
    left_out = dict(plan.left_out)
    assert left_out["Off"] == "switched off in the admin"
    assert left_out["Broken"] == "unavailable: No file."
    assert "needs about" in left_out["Huge"]


def test_the_workers_command_says_which_models_it_serves_and_which_it_leaves_out(
    settings, tmp_path, capsys, monkeypatch
):
    settings.LLM_MODEL_PATH = str(tiny_llama(tmp_path / "default.gguf"))
    LanguageModelFactory.create(name="Off", enabled=False, available=True)
    started: list[list[str]] = []

    class Child:
        returncode = 0

        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            started.append([*args, env["LLM_WORKER_THREADS"], env["LLM_WORKER_QUEUE"]])

        def poll(self) -> int:
            return 0

        def wait(self, timeout: float) -> int:
            return 0

    monkeypatch.setattr("llm.management.commands.model_workers.subprocess.Popen", Child)
    monkeypatch.setattr("llm.management.commands.model_workers.models_register_bundled", lambda: [])

    with pytest.raises(SystemExit) as exited:
        call_command("model_workers", memory_mib=4096)

    out = capsys.readouterr().out
    assert "default on queue llm" in out
    assert "not started: Off (switched off in the admin)" in out
    assert exited.value.code == 0
    assert len(started) == 1
    assert started[0][-1] == DEFAULT_QUEUE
    assert started[0][-2] == str(os.cpu_count() or 1), "one worker: every core is its share"
    assert started[0][started[0].index("-Q") : started[0].index("-Q") + 2] == ["-Q", DEFAULT_QUEUE]


def test_workers_share_the_cores_and_a_model_asks_for_no_more_than_its_share(settings):
    plan = workers_plan(memory_bytes=0)  # nothing fits: no worker
    assert plan.threads_each == os.cpu_count()
    settings.LLM_WORKER_THREADS = 1
    assert worker_threads(4) == 1
    settings.LLM_WORKER_THREADS = 0  # a lone worker: every core
    assert worker_threads(0) == os.cpu_count()
    assert worker_threads(64) == os.cpu_count(), "never more threads than cores"


def test_the_registered_copy_of_the_default_models_file_is_served_by_its_one_worker(
    settings, tmp_path
):
    settings.LLM_MODEL_PATH = str(tiny_llama(tmp_path / "default.gguf"))
    settings.LLM_SLOTS = 3
    copy = LanguageModelFactory.create(
        name="Default again", path=settings.LLM_MODEL_PATH, available=True
    )

    plan = workers_plan(memory_bytes=2**30)

    assert [(w.queues, w.slots) for w in plan.started] == [([DEFAULT_QUEUE, copy.queue], 3)]
    assert plan.threads_each == os.cpu_count(), "a lone model gets every core"
    args = worker_args(plan.started[0].queue)
    assert args[args.index("-Q") + 1] == f"{DEFAULT_QUEUE},{copy.queue}"
    told = worker_env(plan.started[0], threads_each=plan.threads_each)
    assert told["LLM_WORKER_SLOTS"] == "3", "it runs as many jobs at once as its model decodes"


def test_a_worker_serving_two_queues_runs_the_jobs_of_both_and_no_other(settings):
    settings.LLM_WORKER_QUEUE = f"{DEFAULT_QUEUE},llm.model-7"

    assert job_belongs_here(DEFAULT_QUEUE)
    assert job_belongs_here("llm.model-7")
    assert not job_belongs_here("llm.model-8")
