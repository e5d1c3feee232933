"""Shared fixtures: people in a workspace, the Redis server, the model and the live stack.

With no REDIS_URL the suite starts the embedded Redis server itself; with REDIS_URL and
DATABASE_URL set it runs against those servers (CI's second tier).

Tests that load the llama.cpp model, in this process or in a worker, carry the ``model``
marker, so that ``pytest -m "not model"`` (the fast tier) runs without llama.cpp. Using the
``live_stack`` or ``loaded_model`` fixture marks a test by itself; a test that reaches the model
another way (``reply_generate`` on a queued reply) is marked by hand, and one that is not fails
here naming the marker, rather than loading the model in the fast tier.
"""

import contextlib
import gc
import os
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection, connections

from chat.events import MessageAdded, MessageChanged
from chat.message_read import MessageData
from chat.models import Thread
from config.celery import app as celery_app
from config.embedded_redis import is_running, start
from harness.live_stack import (
    LiveStack,
    WebStack,
    live_stack_running,
    servers_report,
    web_stack_running,
)
from llm.model import LoadedModel, model_load, model_spec_from_settings, models_unload
from workspace.models import Membership, Workspace

from .factories import MembershipFactory, ThreadFactory, UserFactory
from .published import Published, RecordingLayer
from .redis_control import RedisServer

MODEL_FIXTURES = frozenset({"live_stack", "loaded_model"})
STACK_FIXTURES = frozenset({"live_stack", "web_stack"})  # tests that run servers
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"... under pytest-xdist


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker, and before xdist groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)
        if XDIST_WORKER and item.get_closest_marker("model") is not None:
            # Under pytest-xdist (`make test`), the browser tests share one worker and its live
            # stack, the other model tests another, and the rest go to whichever is free.
            browser = item.get_closest_marker("browser") is not None
            item.add_marker(pytest.mark.xdist_group("browser" if browser else "model"))


def pytest_collection_finish(session: pytest.Session) -> None:
    if "llama_cpp" in sys.modules:
        raise pytest.UsageError(
            "llama_cpp was imported while the tests were collected: import it where a model "
            "is loaded (as llm/model.py does), so that the fast tier runs without it."
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test that failed while servers ran reports what each was doing (a flaky test in CI
    shows where a server was stuck, not only that the test waited in vain)."""
    report = yield
    on_servers = STACK_FIXTURES & set(getattr(item, "fixturenames", ()))
    if report.failed and call.when == "call" and on_servers and (servers := servers_report()):
        report.sections.append(("servers: threads and the end of their logs", servers))
    return report


class _LlamaCppOffLimits(types.ModuleType):
    """Stands in for llama_cpp during a test without the ``model`` marker."""

    def __init__(self, test: str) -> None:
        super().__init__("llama_cpp")
        self.test = test

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.fail(
            f"{self.test} uses llama_cpp.{name}: mark it @pytest.mark.model "
            "(the fast tier, `-m 'not model'`, runs without llama.cpp).",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def llama_cpp_only_for_model_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("model") is None:
        monkeypatch.setitem(sys.modules, "llama_cpp", _LlamaCppOffLimits(request.node.nodeid))


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[RedisServer]:
    """The channel layer and the Celery broker are real Redis, embedded unless REDIS_URL is set."""
    socket_path = settings.EMBEDDED_REDIS_SOCKET
    if not settings.USES_EMBEDDED_REDIS:
        yield RedisServer(url=settings.REDIS_URL)
        return
    if XDIST_WORKER and XDIST_WORKER not in socket_path.name:  # they would stop each other's
        pytest.fail(
            f"pytest-xdist worker {XDIST_WORKER} would share the embedded Redis {socket_path}: run "
            "several workers through `make test`, which gives each its own "
            "EMBEDDED_REDIS_SOCKET.",
            pytrace=False,
        )
    if is_running(socket_path):  # left behind by a run that was killed
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
    server = RedisServer(
        url=settings.REDIS_URL, socket_path=socket_path, process=start(socket_path)
    )
    yield server
    server.stop()


# What a transactional test's clean-up leaves in place on PostgreSQL (see below).
KEPT_BETWEEN_TESTS = frozenset({"django_content_type", "auth_permission"})


@pytest.fixture(scope="session", autouse=True)
def postgresql_emptied_by_delete() -> Iterator[None]:
    """On PostgreSQL, a transactional test's clean-up deletes the rows of its tables instead of
    truncating them, and keeps the content types and permissions.

    Django empties the database after each such test with one TRUNCATE of all its tables, which
    makes new files for every table and index (a quarter of a second here), then creates the
    content types and permissions again, which it has just removed (another tenth): tier 2
    runs some 300 such tests. A test leaves a few rows, which DELETE removes at once; Django's
    foreign keys on PostgreSQL are deferrable, so the order of the tables does not matter. The
    tables are locked first, as TRUNCATE locks them: a server of the live stack may still be
    writing the test's last changes (a document's pending updates), and a row it committed
    between the DELETE and the COMMIT would fail the foreign keys' check at the COMMIT.
    """
    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    def sql_flush(
        ops: DatabaseOperations,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        emptied = [ops.quote_name(table) for table in tables if table not in KEPT_BETWEEN_TESTS]
        if not emptied:
            return []
        return [
            "SET CONSTRAINTS ALL DEFERRED;",
            f"LOCK TABLE {', '.join(emptied)} IN ACCESS EXCLUSIVE MODE;",
            *(f"DELETE FROM {table};" for table in emptied),
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session", autouse=True)
def loaded_models_freed() -> Iterator[None]:
    """Free models loaded in the test process while the interpreter is still whole."""
    yield
    models_unload(wait=True)
    gc.collect()


@pytest.fixture
def admin_user(db: None) -> User:
    """pytest-django's admin, with the factories' password: hashing a password costs about a
    third of a CPU second on purpose, and this fixture serves a hundred tests."""
    return UserFactory.create(username="admin", is_staff=True, is_superuser=True)


@dataclass
class Team:
    workspace: Workspace
    thread: Thread
    owner: User
    member: User
    outsider: User


@pytest.fixture
def team(db: None) -> Team:
    """alice owns a workspace with a thread, bob is a member, mallory is not."""
    alice, bob, mallory = (
        UserFactory.create(username=name) for name in ("alice", "bob", "mallory")
    )
    membership: Membership = MembershipFactory.create(user=alice, role=Membership.Role.OWNER)
    MembershipFactory.create(user=bob, workspace=membership.workspace)
    thread = ThreadFactory.create(workspace=membership.workspace, title="Release planning")
    return Team(membership.workspace, thread, alice, bob, mallory)


@pytest.fixture
def published(settings: Any) -> Published:
    """Every event published while the test runs, kept by a recording channel layer instead
    of sent to Redis: inside a transaction, only once it commits, as in production."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.published.RecordingLayer"}}
    layer = get_channel_layer()
    assert isinstance(layer, RecordingLayer)
    return Published(layer)


@dataclass
class Broadcasts:
    """The messages published to their threads, as the events carry them (``MessageData``)."""

    published: Published

    @property
    def created(self) -> list[MessageData]:
        return [event["message"] for event in self.published.of(MessageAdded)]

    @property
    def changed(self) -> list[MessageData]:
        return [event["message"] for event in self.published.of(MessageChanged)]


@pytest.fixture
def broadcasts(published: Published) -> Broadcasts:
    """The messages published as added or changed."""
    return Broadcasts(published)


@pytest.fixture
def after_commit(
    django_capture_on_commit_callbacks: Any, sent_tasks: list[Any], published: Published
) -> Callable[..., Any]:
    """Run a change as it runs in production: its on-commit work included (its tasks
    recorded by ``sent_tasks``, its events by ``published``)."""

    def run(change: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return change(*args, **kwargs)

    return run


@pytest.fixture
def fresh_cache() -> None:
    """The cache emptied before the test (streaming answers' text, stop flags, rate counters)."""
    cache.clear()


@pytest.fixture
async def database_threads_closed() -> AsyncIterator[None]:
    """Close the connection the async views' database thread opened, so the test database
    can be dropped at the end (PostgreSQL refuses while a session is open)."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[object]]]:
    """Record the Celery tasks sent, as (name, args), instead of sending them to the broker."""
    sent: list[tuple[str, list[object]]] = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args, **options: sent.append((name, args))
    )
    return sent


@pytest.fixture
def fake_model(settings: Any) -> Iterator[None]:
    """Models are the deterministic stand-in (``LLM_BACKEND=fake``) on the real engine and job
    runner: every answer is " w1 w2 ..." (``model_worker.fake_answer``), 40 words, a step every
    5 ms, four at once; no llama.cpp, so the fast tier runs it."""
    settings.LLM_BACKEND = "fake"
    settings.LLM_FAKE_STEP_S = 0.005
    settings.LLM_FAKE_ANSWER_TOKENS = 40
    settings.LLM_SLOTS = 4
    yield
    models_unload(wait=True)


@pytest.fixture
def loaded_model() -> LoadedModel:
    """The bundled model, loaded in this process (once: ``model_load`` caches it)."""
    return model_load(model_spec_from_settings())


@pytest.fixture(scope="session")
def web_stack(django_db_setup: None, django_db_blocker: object) -> Iterator[WebStack]:
    """daphne alone, as a separate process on the test DB: sockets that need no model."""
    with web_stack_running() as stack:
        yield stack


@pytest.fixture(scope="session")
def live_stack(django_db_setup: None, django_db_blocker: object) -> Iterator[LiveStack]:
    """daphne and a Celery worker with the real model, as separate processes on the test DB."""
    with live_stack_running() as stack:
        yield stack
