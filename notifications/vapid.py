"""The installation's VAPID key pair: how push services know our pushes come from us.

A browser subscribes with our public key (the page's ``applicationServerKey``) and its push
service then accepts only pushes signed with the matching private key. So the key is made once
per installation and kept: a new key orphans every subscription made with the old one.

It comes from ``VAPID_PRIVATE_KEY`` (PEM, or base64url as py-vapid writes it) when set, for
deployments whose machines share no disk; otherwise from the file ``VAPID_PRIVATE_KEY_FILE``
(``var/vapid-private-key.pem``), which ``manage.py bootstrap`` creates on first start. With
neither, push is off and the inbox says so. The key is never committed.
"""

import base64
import functools
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid


def vapid_key_ensure() -> Path | None:
    """Create the key file unless a key is configured or the file exists; the path of the file
    made, else None. Safe to run from several processes: only one creates it."""
    path = Path(settings.VAPID_PRIVATE_KEY_FILE)
    if settings.VAPID_PRIVATE_KEY.strip() or path.exists():
        return None
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return path


def vapid_key_new() -> str:
    """A new private key on one line (base64url of its 32 bytes), for ``VAPID_PRIVATE_KEY``."""
    secret = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(secret.to_bytes(32, "big")).rstrip(b"=").decode()


def vapid_signer() -> Vapid | None:
    """The key that signs our pushes, or None while none is set up."""
    text = settings.VAPID_PRIVATE_KEY.strip()
    if not text:
        path = Path(settings.VAPID_PRIVATE_KEY_FILE)
        text = path.read_text().strip() if path.exists() else ""
    return _signer_from(text) if text else None


def vapid_public_key() -> str | None:
    """The public key as browsers take it (``applicationServerKey``: the uncompressed P-256
    point, base64url without padding), or None while no key is set up."""
    signer = vapid_signer()
    if signer is None:
        return None
    point = signer.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


@functools.lru_cache(maxsize=4)
def _signer_from(text: str) -> Vapid:
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("The VAPID private key must be a P-256 (prime256v1) EC key.")
        return Vapid(private_key=key)
    return Vapid.from_string(private_key=text)
