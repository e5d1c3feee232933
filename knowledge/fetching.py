"""Fetching a web page or file that a member names, without letting the URL reach inside.

A URL is untrusted input that our server dereferences, so a crafted one could make it read the
cloud's metadata service (169.254.169.254), the machine's own services (127.0.0.1, spelled
``2130706433``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]`` ...) or the private network. Before
every hop (the first request and each redirect, which we follow ourselves) this module:

- accepts only ``http`` and ``https``, and no user name or password in the URL;
- resolves the host and refuses it unless *every* address it resolves to is public
  (``address_refusal``: IPv4 inside IPv6 is unwrapped, IPv4-mapped, 6to4, Teredo, NAT64 and
  IPv4-compatible forms are named and refused, and so are 100.64/10 and other non-global
  ranges);
- then sends the request through ``requests-hardened``, which resolves the name once more,
  checks that address again with its own filter and connects *to that address* (the Host
  header and TLS name stay the URL's): a name that resolves to a public address for our check
  and to a private one a moment later (DNS rebinding) still cannot make us connect inside.

Reading is capped in bytes (after decompression) and in total time, not only per socket
read, so a server that drips a byte at a time or streams forever is cut off. Nothing is sent
but the request itself: no cookies are kept between hops, no proxy or ``.netrc`` credentials
are read from the environment.
"""

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests
from django.conf import settings
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
READ_SIZE = 64 * 1024
USER_AGENT = "Roundtable knowledge fetcher (+https://github.com/roundtable)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Ranges that ``is_global`` lets through but that must not be reached from a server.
_EXTRA_REFUSED = (
    (ipaddress.ip_network("192.88.99.0/24"), "a 6to4 relay address"),
    (ipaddress.ip_network("5f00::/16"), "an IPv6 segment-routing address"),
    (ipaddress.ip_network("2001:20::/28"), "an overlay identifier (ORCHIDv2)"),
    (ipaddress.ip_network("3fff::/20"), "a documentation address"),
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class FetchError(Exception):
    """The URL could not be fetched; the message says why, worded for the member."""


class FetchRefused(FetchError):
    """The address itself is refused (not a web address, or one the rules above forbid: where
    it leads, its scheme, credentials in it): fetching it again can only fail again; another
    address is the remedy."""


@dataclass(frozen=True)
class Fetched:
    url: str  # where the content came from, after redirects
    content_type: str  # the media type the server declared, lowercased, without parameters
    charset: str | None
    body: bytes

    @property
    def filename(self) -> str:
        """The last segment of the URL's path (may be empty)."""
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from (e.g. "a loopback address"), or None if public.

    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64, compatible) is
    refused whatever it carries, naming the IPv4 address: these forms either reach the
    embedded address through a translator we do not control or are deprecated.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = _wrapping_refusal(ip)
        if wrapped is not None:
            return wrapped
    for refused, what in _REFUSALS:
        if refused(ip):
            return what
    return None


def _wrapping_refusal(ip: ipaddress.IPv6Address) -> str | None:
    if ip.ipv4_mapped is not None:
        inner = address_refusal(ip.ipv4_mapped)
        return f"{ip.ipv4_mapped} written as IPv6" + (f" ({inner})" if inner else "")
    embedded: ipaddress.IPv4Address | None = None
    form = ""
    if ip.sixtofour is not None:
        embedded, form = ip.sixtofour, "a 6to4 address"
    elif ip.teredo is not None:
        embedded, form = ip.teredo[1], "a Teredo address"
    elif any(ip in network for network in _NAT64):
        embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "a NAT64 address"
    elif ip in _IPV4_COMPATIBLE and int(ip) > 1:
        embedded, form = ipaddress.IPv4Address(int(ip)), "an IPv4-compatible address"
    elif ip.is_site_local:
        return "a site-local address"
    return f"{form} (wrapping {embedded})" if embedded is not None else None


_REFUSALS: list[tuple[Callable[[IPAddress], bool], str]] = [
    (lambda ip: ip.is_loopback, "a loopback address (this server itself)"),
    (lambda ip: ip.is_link_local, "a link-local address (such as a cloud metadata service)"),
    (lambda ip: ip.is_multicast, "a multicast address"),
    (lambda ip: ip.is_unspecified, "an unspecified address"),
    (lambda ip: ip in _SHARED, "a shared (carrier-grade NAT) address"),
    (lambda ip: ip.is_private, "a private address"),
    *((lambda ip, net=network: ip in net, what) for network, what in _EXTRA_REFUSED),
    (lambda ip: ip.is_reserved or not ip.is_global, "a reserved address"),
]


def _loopback_allowed(ip: IPAddress) -> bool:
    """Only for the tests' own server: KNOWLEDGE_FETCH_ALLOW_LOOPBACK is set by tests, never
    from the environment."""
    return settings.KNOWLEDGE_FETCH_ALLOW_LOOPBACK and ip.is_loopback  # not in IPv6 dress


def host_check(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, or raise FetchError unless all are public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"The name {host} could not be resolved.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        refusal = None if _loopback_allowed(ip) else address_refusal(ip)
        if refusal is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise FetchRefused(
                f"{shown} is {refusal}: only addresses on the public internet are fetched."
            )
        addresses.append(ip)
    if not addresses:
        raise FetchError(f"The name {host} has no address.")
    return addresses


def url_check(url: str) -> tuple[str, int]:
    """The URL's host and port, or FetchRefused if it is not an http(s) URL we may request."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchRefused("That is not a valid web address.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchRefused("Only http:// and https:// addresses can be fetched.")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("Addresses with a user name or password are not fetched.")
    if not parts.hostname:
        raise FetchRefused("That address has no host name.")
    return parts.hostname, port or (443 if scheme == "https" else 80)


def _session(*, connect_s: float, read_s: float) -> requests.Session:
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=settings.KNOWLEDGE_FETCH_ALLOW_LOOPBACK,
            never_redirect=True,  # each hop is checked here before it is requested
            default_timeout=(connect_s, read_s),
            user_agent_override=USER_AGENT,
        )
    )
    session.trust_env = False  # no proxies, no .netrc credentials from the environment
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # keep no cookies
    return session


def url_fetch(
    url: str,
    *,
    max_bytes: int | None = None,
    timeout_s: float | None = None,
    max_redirects: int | None = None,
) -> Fetched:
    """GET ``url`` following redirects, each hop checked; raise FetchError saying why not."""
    max_bytes = settings.KNOWLEDGE_MAX_BYTES if max_bytes is None else max_bytes
    timeout_s = settings.KNOWLEDGE_FETCH_TIMEOUT_S if timeout_s is None else timeout_s
    redirects_left = (
        settings.KNOWLEDGE_FETCH_MAX_REDIRECTS if max_redirects is None else max_redirects
    )
    deadline = time.monotonic() + timeout_s
    while True:
        host, port = url_check(url)
        host_check(host, port)
        remaining = _remaining(deadline, timeout_s)
        session = _session(connect_s=min(remaining, 10.0), read_s=min(remaining, 10.0))
        try:
            response = session.get(
                url,
                stream=True,
                headers={"Accept": "*/*", "Accept-Encoding": "gzip, deflate"},
            )
        except InvalidIPAddress as exc:  # the name changed its answer since host_check
            raise FetchRefused(
                f"{host} now resolves to {exc}, which is not public: not fetched."
            ) from exc
        except requests.Timeout as exc:
            raise FetchError(f"{host} did not answer in time.") from exc
        except requests.exceptions.SSLError as exc:
            raise FetchError(f"{host}'s certificate could not be verified.") from exc
        except requests.RequestException as exc:
            raise FetchError(f"Could not connect to {host}.") from exc
        with session, response:
            location = response.headers.get("Location")
            if response.status_code in REDIRECT_STATUSES and location:
                if redirects_left <= 0:
                    raise FetchError("Too many redirects.")
                redirects_left -= 1
                url = urljoin(url, location)
                continue
            if response.status_code >= 400:
                raise FetchError(f"{host} answered {response.status_code} {response.reason}.")
            body = _body_read(response, max_bytes=max_bytes, deadline=deadline, timeout_s=timeout_s)
            media_type, charset = _content_type(response.headers.get("Content-Type", ""))
            return Fetched(url=url, content_type=media_type, charset=charset, body=body)


def _remaining(deadline: float, timeout_s: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"Fetching took longer than {timeout_s:g} s: stopped.")
    return remaining


def _body_read(
    response: requests.Response, *, max_bytes: int, deadline: float, timeout_s: float
) -> bytes:
    """The body, decompressed, read a piece at a time (``read1`` returns what has arrived, so
    a dripping server cannot hold one read open past the deadline)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(_too_large(max_bytes))
    raw: Any = response.raw
    pieces: list[bytes] = []
    size = 0
    try:
        while True:
            _remaining(deadline, timeout_s)
            piece = raw.read1(READ_SIZE, decode_content=True)
            if not piece:  # the end (read1 returns something, however little, until then)
                break
            size += len(piece)
            if size > max_bytes:
                raise FetchError(_too_large(max_bytes))
            pieces.append(piece)
    except (requests.RequestException, OSError, ValueError) as exc:
        raise FetchError("The connection failed while reading the page.") from exc
    except Exception as exc:  # urllib3's own errors (read timeout, protocol, decoding)
        if type(exc).__module__.startswith("urllib3"):
            raise FetchError(_urllib3_reason(exc)) from exc
        raise
    return b"".join(pieces)


def _urllib3_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return "The server stopped sending before the page was complete."
    if "Decode" in name:
        return "The page's compression could not be read."
    return "The connection failed while reading the page."


def _too_large(max_bytes: int) -> str:
    return f"It is larger than the limit of {max_bytes / 1024 / 1024:g} MB: not fetched."


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"').strip()
    return media_type.strip().lower(), charset
