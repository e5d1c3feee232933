"""Shared fixtures: people in a workspace, the Redis server, and the live stack.

With no REDIS_URL the suite starts the embedded Redis server itself; with REDIS_URL and
DATABASE_URL set it runs against those servers (CI's second tier).
"""

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User

from chat.models import Thread
from harness.live_stack import LiveStack, live_stack_running
from llm.model import model_load
from workspace.embedded_redis import is_running, start
from workspace.models import Membership, Workspace

from .factories import MembershipFactory, ThreadFactory, UserFactory
from .redis_control import RedisServer


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[RedisServer]:
    """The channel layer and the Celery broker are real Redis, embedded unless REDIS_URL is set."""
    socket_path = settings.EMBEDDED_REDIS_SOCKET
    if not settings.USES_EMBEDDED_REDIS:
        yield RedisServer(url=settings.REDIS_URL)
        return
    if is_running(socket_path):  # left behind by a run that was killed
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
    server = RedisServer(
        url=settings.REDIS_URL, socket_path=socket_path, process=start(socket_path)
    )
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def loaded_models_freed() -> Iterator[None]:
    """Free models loaded in the test process while the interpreter is still whole."""
    yield
    model_load.cache_clear()
    gc.collect()


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


@pytest.fixture(scope="session")
def live_stack(django_db_setup: None, django_db_blocker: object) -> Iterator[LiveStack]:
    """daphne and a Celery worker with the real model, as separate processes on the test DB."""
    with live_stack_running() as stack:
        yield stack
