"""Web Push: a person turns it on for a workspace in a browser, and each notification of theirs
there is pushed to that device from the housekeeping queue.

The push service is a real HTTP server in this process (``PushService``), and the browser a real
key pair (``Browser``): what the server receives is decrypted with the browser's private key and
its VAPID signature checked against the installation's public key, as a push service and a
browser would. Nothing in between is patched.
"""

import base64
import io
import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from chat.services import message_create
from config.celery import app as celery_app
from notifications.models import Notification, PushSubscription
from notifications.services import PUSH_TASK, notification_settings_set
from notifications.tasks import push
from notifications.vapid import vapid_key_ensure, vapid_public_key
from workspace.services import membership_remove

from .factories import MembershipFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """A push service on 127.0.0.1: it keeps each push it is sent and answers ``status``."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 201

    def endpoint(self, device: str) -> str:
        return f"{self.url}/push/{device}"


@pytest.fixture
def push_service(settings) -> Iterator[PushService]:
    settings.PUSH_ALLOW_LOOPBACK = True  # the tests' own server, as for fetching sources
    service: PushService

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            service.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(service.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = PushService(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@dataclass
class Browser:
    """A browser's side of a subscription: its key pair and auth secret."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> dict[str, object]:
        """As ``PushSubscription.toJSON()`` gives it."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }

    def decrypt(self, received: Received) -> dict[str, str]:
        assert received.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            received.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
def vapid_key(settings) -> str:
    """This installation's VAPID key, set as an operator would; its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    settings.VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    return b64(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def vapid_claims(authorization: str, *, public_key: str) -> dict[str, str | int]:
    """The claims of a ``vapid t=<JWT>,k=<key>`` header (RFC 8292), once its ES256 signature
    has been checked against ``public_key``."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    parts = dict(param.split("=", 1) for param in params.split(","))
    assert parts["k"] == public_key
    header, claims, signature = parts["t"].split(".")
    raw = unb64(signature)
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(public_key))
    verifier.verify(  # raises InvalidSignature
        encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:])),
        f"{header}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert json.loads(unb64(header)) == {"typ": "JWT", "alg": "ES256"}
    return json.loads(unb64(claims))


def client_of(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def subscribe(client: Client, workspace_id: int, subscription: dict[str, object]):
    return client.post(
        f"/w/{workspace_id}/push/", json.dumps(subscription), content_type="application/json"
    )


@pytest.fixture
def bobs_phone(team, push_service, vapid_key) -> Browser:
    """bob turned push on for the team's workspace on his phone."""
    phone = Browser()
    answer = subscribe(
        client_of(team.member),
        team.workspace.pk,
        phone.subscription(push_service.endpoint("bobs-phone")),
    )
    assert answer.status_code == 201
    assert answer.json() == {"workspaces": [team.workspace.pk]}
    return phone


def pushes_sent(sent_tasks) -> list[int]:
    return [args[0] for name, args in sent_tasks if name == PUSH_TASK]


def mention_bob(team, after_commit) -> Notification:
    after_commit(message_create, thread=team.thread, author=team.owner, body="@bob ship it?")
    return Notification.objects.get(recipient=team.member)


# --- Sending ----------------------------------------------------------------------------


def test_a_notification_is_pushed_encrypted_for_the_device_and_signed_with_our_key(
    team, bobs_phone, push_service, vapid_key, after_commit, sent_tasks
):
    notification = mention_bob(team, after_commit)

    assert pushes_sent(sent_tasks) == [notification.pk]  # a task, after the commit
    assert push_service.received == []  # nothing was sent from the request itself
    push(notification.pk)  # the housekeeping worker runs it

    [received] = push_service.received
    assert bobs_phone.decrypt(received) == {
        "title": f"Roundtable · {team.workspace.name}",
        "body": "alice mentioned you in Release planning: “@bob ship it?”",
        "url": notification.target_url,
        "tag": f"roundtable-notification-{notification.pk}",
    }
    claims = vapid_claims(received.headers["authorization"], public_key=vapid_key)
    assert claims["aud"] == push_service.url
    assert claims["sub"] == "mailto:ops@example.com"
    assert int(claims["exp"]) > timezone.now().timestamp()
    assert int(received.headers["ttl"]) > 0


def test_the_push_task_runs_on_the_housekeeping_queue():
    route = celery_app.amqp.router.route({}, PUSH_TASK)
    assert route["queue"].name == "housekeeping"


def test_no_task_is_sent_for_people_without_a_device_for_that_workspace(
    team, push_service, vapid_key, after_commit, sent_tasks
):
    elsewhere = MembershipFactory.create(user=team.member).workspace
    phone = Browser().subscription(push_service.endpoint("bobs-phone"))
    assert subscribe(client_of(team.member), elsewhere.pk, phone).status_code == 201

    mention_bob(team, after_commit)

    assert pushes_sent(sent_tasks) == []


def test_a_notification_read_or_no_longer_wanted_before_the_task_ran_is_not_pushed(
    team, bobs_phone, push_service, after_commit
):
    read = mention_bob(team, after_commit)
    Notification.objects.filter(pk=read.pk).update(read_at=timezone.now())
    push(read.pk)

    Notification.objects.all().delete()
    unwanted = mention_bob(team, after_commit)
    notification_settings_set(person=team.member, level="none")
    push(unwanted.pk)

    assert push_service.received == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_removed(
    team, bobs_phone, push_service, after_commit, status
):
    push_service.status = status
    push(mention_bob(team, after_commit).pk)

    assert len(push_service.received) == 1
    assert not PushSubscription.objects.exists()


def test_a_push_service_failing_for_a_while_keeps_the_subscription(
    team, bobs_phone, push_service, after_commit
):
    push_service.status = 503
    push(mention_bob(team, after_commit).pk)

    assert len(push_service.received) == 1
    assert PushSubscription.objects.filter(person=team.member).exists()


def test_an_endpoint_on_a_private_address_is_never_posted_to(
    team, bobs_phone, push_service, after_commit, settings
):
    settings.PUSH_ALLOW_LOOPBACK = False  # as in production: 127.0.0.1 is this server itself
    push(mention_bob(team, after_commit).pk)

    assert push_service.received == []
    assert not PushSubscription.objects.exists()


# --- Subscribing ------------------------------------------------------------------------


def test_a_non_member_cannot_subscribe_for_a_workspace(team, push_service, vapid_key):
    mallory = client_of(team.outsider)
    phone = Browser().subscription(push_service.endpoint("mallory"))

    assert subscribe(mallory, team.workspace.pk, phone).status_code == 404
    assert not PushSubscription.objects.exists()


def test_leaving_a_workspace_removes_its_subscriptions_only(
    team, bobs_phone, push_service, after_commit
):
    elsewhere = MembershipFactory.create(user=team.member).workspace
    phone = bobs_phone.subscription(push_service.endpoint("bobs-phone"))
    assert subscribe(client_of(team.member), elsewhere.pk, phone).status_code == 201

    after_commit(membership_remove, workspace=team.workspace, user=team.member, by=team.member)

    assert list(PushSubscription.objects.values_list("workspace", flat=True)) == [elsewhere.pk]


def test_turning_it_off_removes_the_device_and_the_page_reads_what_is_on(
    team, bobs_phone, push_service
):
    bob = client_of(team.member)
    endpoint = {"endpoint": push_service.endpoint("bobs-phone")}
    status = bob.post("/push/", json.dumps(endpoint), content_type="application/json")
    assert status.json() == {"workspaces": [team.workspace.pk]}

    turned_off = bob.delete(
        f"/w/{team.workspace.pk}/push/", json.dumps(endpoint), content_type="application/json"
    )

    assert turned_off.status_code == 200
    assert turned_off.json() == {"workspaces": []}
    assert not PushSubscription.objects.exists()


def test_a_browser_pushes_to_whoever_subscribed_on_it_last(team, bobs_phone, push_service):
    MembershipFactory.create(user=team.outsider, workspace=team.workspace)
    same_phone = bobs_phone.subscription(push_service.endpoint("bobs-phone"))

    assert subscribe(client_of(team.outsider), team.workspace.pk, same_phone).status_code == 201

    assert list(PushSubscription.objects.values_list("person", flat=True)) == [team.outsider.pk]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"endpoint": "http://push.example.com/x"}, "https://"),
        ({"endpoint": "https://user:pw@push.example.com/x"}, "not a push service's URL"),
        ({"keys": {"p256dh": "AAAA", "auth": b64(os.urandom(16))}}, "p256dh key is not 65"),
        ({"keys": {"auth": b64(os.urandom(16))}}, "p256dh key is not 65"),
        ({"keys": None}, "no keys"),
    ],
)
def test_what_is_not_a_browsers_subscription_is_refused_saying_why(
    team, push_service, vapid_key, change, error
):
    subscription = {**Browser().subscription("https://push.example.com/x"), **change}

    answer = subscribe(client_of(team.member), team.workspace.pk, subscription)

    assert answer.status_code == 400
    assert error in answer.json()["error"]
    assert not PushSubscription.objects.exists()


def test_subscribing_is_for_logged_in_people_and_needs_the_csrf_token(team, push_service):
    phone = json.dumps(Browser().subscription(push_service.endpoint("x")))
    url = f"/w/{team.workspace.pk}/push/"

    assert Client().post(url, phone, content_type="application/json").status_code == 302
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(team.member)
    assert checked.post(url, phone, content_type="application/json").status_code == 403


# --- The page, the service worker and the key --------------------------------------------


def test_the_inbox_offers_push_per_workspace_with_the_installations_public_key(team, vapid_key):
    page = client_of(team.member).get("/inbox/").content.decode()

    assert f'data-key="{vapid_key}"' in page
    assert f'data-url="/w/{team.workspace.pk}/push/"' in page
    assert "static/js/push.js" in page


def test_without_a_key_the_inbox_says_push_is_not_set_up(team, settings, tmp_path):
    settings.VAPID_PRIVATE_KEY = ""
    settings.VAPID_PRIVATE_KEY_FILE = tmp_path / "none.pem"

    page = client_of(team.member).get("/inbox/").content.decode()

    assert "Push is not set up on this server" in page
    assert "push-toggle" not in page


def test_the_service_worker_is_served_from_the_site_root_under_our_csp(client):
    answer = client.get("/service-worker.js")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/javascript")
    assert "script-src 'self'" in answer["Content-Security-Policy"]
    script = answer.content.decode()
    assert 'addEventListener("push"' in script
    assert 'addEventListener("notificationclick"' in script
    assert "{%" not in script


def test_bootstrap_makes_the_key_once_readable_only_by_its_owner(settings, tmp_path, db):
    settings.VAR_DIR = tmp_path  # the first admin's password goes there too
    settings.VAPID_PRIVATE_KEY = ""
    settings.VAPID_PRIVATE_KEY_FILE = tmp_path / "vapid.pem"

    said = io.StringIO()
    call_command("bootstrap", stdout=said)
    assert "key for push notifications" in said.getvalue()
    first = vapid_public_key()
    assert vapid_key_ensure() is None  # kept, never made again

    assert first is not None
    assert vapid_public_key() == first
    assert stat.S_IMODE(settings.VAPID_PRIVATE_KEY_FILE.stat().st_mode) == 0o600


def test_a_configured_key_wins_and_no_file_is_made(settings, tmp_path, vapid_key):
    settings.VAPID_PRIVATE_KEY_FILE = tmp_path / "vapid.pem"

    assert vapid_key_ensure() is None
    assert not settings.VAPID_PRIVATE_KEY_FILE.exists()
    assert vapid_public_key() == vapid_key


def test_a_key_made_for_the_environment_signs_pushes(
    team, bobs_phone, push_service, after_commit, settings
):
    said = io.StringIO()
    call_command("vapid_key_new", stdout=said)
    settings.VAPID_PRIVATE_KEY = said.getvalue().strip()
    public_key = vapid_public_key()
    assert public_key is not None

    push(mention_bob(team, after_commit).pk)

    [received] = push_service.received
    assert vapid_claims(received.headers["authorization"], public_key=public_key)["sub"]


def test_signing_out_ends_the_pushes_turned_on_in_that_browser_only(team, push_service, vapid_key):
    laptop, phone = client_of(team.member), client_of(team.member)
    for client, device in ((laptop, "laptop"), (phone, "phone")):
        subscription = Browser().subscription(push_service.endpoint(device))
        assert subscribe(client, team.workspace.pk, subscription).status_code == 201

    laptop.post("/logout/")

    left = PushSubscription.objects.values_list("endpoint", flat=True)
    assert list(left) == [push_service.endpoint("phone")]


def test_staff_see_the_subscribed_devices_in_the_admin_but_not_their_keys(
    team, bobs_phone, admin_user
):
    subscription = PushSubscription.objects.get()
    staff = client_of(admin_user)

    listed = staff.get("/admin/notifications/pushsubscription/").content.decode()
    shown = staff.get(
        f"/admin/notifications/pushsubscription/{subscription.pk}/change/"
    ).content.decode()

    assert "bob" in listed
    assert "127.0.0.1" in listed  # its push service
    assert subscription.endpoint in shown
    assert subscription.auth not in shown
    assert subscription.p256dh not in shown
