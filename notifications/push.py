"""Web Push: the subscription a browser hands us, checked, and one push sent to one device.

A browser's ``PushSubscription`` (as its ``toJSON()`` gives it) names an endpoint, a URL at its
push service, and two keys: the payload is encrypted for that browser alone (RFC 8291, by
pywebpush), and each request is signed with our VAPID key (RFC 8292, ``vapid``), so the push
service delivers it to that device and nowhere else.

The endpoint is a URL a member hands us and our server then posts to, so it is checked as any
such URL: https only, and the request goes through ``requests-hardened``, which connects only to
public addresses (the check is made on the address it connects to, so a name that resolves to a
private address later still cannot make us post inside) and follows no redirect.
"""

import base64
import binascii
import enum
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress

from .models import Notification, PushSubscription
from .vapid import vapid_signer

logger = logging.getLogger(__name__)

# How long a push service keeps a push for a device that is offline: after a day it is stale.
PUSH_TTL_S = 24 * 60 * 60
PUSH_TIMEOUT_S = (5.0, 10.0)  # connect, read
USER_AGENT = "Roundtable push"
P256_POINT_BYTES = 65  # an uncompressed P-256 public key: 0x04, then x and y
AUTH_SECRET_BYTES = 16


@dataclass(frozen=True)
class SubscriptionInfo:
    """What a browser's push subscription tells us, checked."""

    endpoint: str
    p256dh: str
    auth: str


def subscription_info_parse(raw: bytes) -> SubscriptionInfo:
    """A browser's ``PushSubscription.toJSON()``; ValidationError saying what is wrong
    otherwise."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("Send the browser's push subscription as JSON.") from exc
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict):
        raise ValidationError("The push subscription has no keys.")
    endpoint = endpoint_check(data.get("endpoint"))
    p256dh = _key_check(keys.get("p256dh"), P256_POINT_BYTES, "p256dh")
    if not base64_decode(p256dh).startswith(b"\x04"):
        raise ValidationError("The subscription's p256dh key is not a P-256 public key.")
    auth = _key_check(keys.get("auth"), AUTH_SECRET_BYTES, "auth")
    return SubscriptionInfo(endpoint=endpoint, p256dh=p256dh, auth=auth)


def endpoint_check(endpoint: object) -> str:
    """A push service's URL: https, with a host and no credentials (ValidationError)."""
    max_length = PushSubscription._meta.get_field("endpoint").max_length or 0
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > max_length:
        raise ValidationError("The push subscription has no usable endpoint.")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as exc:
        raise ValidationError("The push subscription's endpoint is not a URL.") from exc
    local_test_server = settings.PUSH_ALLOW_LOOPBACK and parts.hostname in ("127.0.0.1", "::1")
    if parts.scheme != "https" and not local_test_server:
        raise ValidationError("A push service's endpoint is an https:// URL.")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValidationError("The push subscription's endpoint is not a push service's URL.")
    return endpoint


def _key_check(value: object, length: int, name: str) -> str:
    if not isinstance(value, str) or len(base64_decode(value)) != length:
        raise ValidationError(f"The subscription's {name} key is not {length} bytes of base64url.")
    return value


def base64_decode(value: str) -> bytes:
    """base64url, padded or not (browsers leave the padding out); b"" if it is not."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


def push_payload(notification: Notification) -> dict[str, str]:
    """What the device shows: a title, the short text and where it happened (a path on this
    site). Its ``tag`` is the one the open page's own notification uses, so the browser shows
    one of the two, not both. Well under the 4 KB push services take (``Notification.text``
    is at most 300 characters)."""
    return {
        "title": f"Roundtable · {notification.workspace.name}",
        "body": notification.text,
        "url": notification.target_url,
        "tag": f"roundtable-notification-{notification.pk}",
    }


class Delivery(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # the device unsubscribed or its subscription expired: forget it
    FAILED = "failed"  # try again with the next notification


def push_send(subscription: PushSubscription, payload: dict[str, str]) -> Delivery:
    """Encrypt ``payload`` for the device and post it to its push service, signed with our
    VAPID key."""
    # Imported here: it brings aiohttp and more, a quarter of a second at the start of every
    # process, and only the housekeeping worker sends pushes.
    from pywebpush import WebPushException, webpush

    signer = vapid_signer()
    if signer is None:
        logger.warning("No VAPID key is set up: push notifications are not sent")
        return Delivery.FAILED
    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    try:
        webpush(
            info,
            json.dumps(payload),
            vapid_private_key=signer,
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            ttl=PUSH_TTL_S,
            timeout=PUSH_TIMEOUT_S[1],
            requests_session=_session(),
        )
    except WebPushException as exc:
        if exc.status_code in (404, 410):
            return Delivery.GONE
        logger.warning("Push to %s failed: %s", subscription.push_service, exc.status_code)
        return Delivery.FAILED
    except InvalidIPAddress:  # no push service lives at a private address
        logger.warning("Push endpoint %s is not public: dropped", subscription.push_service)
        return Delivery.GONE
    except requests.RequestException as exc:
        logger.warning("Push to %s failed: %s", subscription.push_service, exc)
        return Delivery.FAILED
    return Delivery.SENT


def _session() -> requests.Session:
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=settings.PUSH_ALLOW_LOOPBACK,
            never_redirect=True,
            default_timeout=PUSH_TIMEOUT_S,
            user_agent_override=USER_AGENT,
        )
    )
    session.trust_env = False  # no proxies or .netrc credentials from the environment
    return session
