"""The people and threads the benchmark talks in, made through the ORM in the bench process."""

from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core.management import call_command

from chat.models import Message, Thread
from chat.services import thread_create
from harness.ws_client import session_cookie
from workspace.models import Membership, Workspace

ASKER = "alice"


@dataclass
class World:
    workspace: Workspace
    asker: User
    members: list[User]  # including the asker, first
    cookies: list[str]  # session cookies, in the order of ``members``

    def thread(self, title: str) -> Thread:
        return thread_create(workspace=self.workspace, title=title, created_by=self.asker)


def world_create(*, members: int) -> World:
    """Migrate the bench database, then one workspace with ``members`` people logged in."""
    call_command("migrate", verbosity=0, interactive=False)
    password = make_password(None)  # unusable: sessions are made directly
    users = User.objects.bulk_create(
        [User(username=ASKER, password=password)]
        + [User(username=f"member{i:03d}", password=password) for i in range(1, members)]
    )
    users = list(User.objects.order_by("id"))
    workspace = Workspace.objects.create(name="Bench", created_by=users[0])
    Membership.objects.bulk_create(
        [
            Membership(
                workspace=workspace,
                user=user,
                role=Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER,
            )
            for i, user in enumerate(users)
        ]
    )
    return World(workspace, users[0], users, [session_cookie(user) for user in users])


def history_seed(thread: Thread, world: World, turns: list[str]) -> None:
    """Earlier messages by members, so the next prompt carries a long thread."""
    speakers = world.members[1:4] or [world.asker]  # three people talking
    Message.objects.bulk_create(
        [
            Message(thread=thread, author=speakers[i % len(speakers)], body=body)
            for i, body in enumerate(turns)
        ]
    )
