"""Fetching a member's URL: only public addresses, each hop checked, capped in size and time.

Every test runs under a guard that fails any connection to an address other than loopback,
so a hostile URL that slipped through would fail the test instead of reaching the network.
The local test server is reached only with KNOWLEDGE_FETCH_ALLOW_LOOPBACK, a setting that
exists for tests.
"""

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knowledge.fetching import FetchError, address_refusal, url_fetch

_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def only_loopback_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail any connection this test would open to a non-loopback address."""
    attempts: list[str] = []

    def guarded(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        attempts.append(str(host))
        if not ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            raise AssertionError(f"the test tried to connect to {host}")
        _real_connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        route(self)

    def reply(self, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _page(h: Handler) -> None:
    h.reply(b"<html><body><p>Hello from the test server</p></body></html>")


def _echo(h: Handler) -> None:
    cookie = h.headers.get("Cookie", "")
    auth = h.headers.get("Authorization", "")
    h.reply(f"host={h.headers['Host']};cookie={cookie};auth={auth}".encode(), "text/plain")


def _set_cookie_then_redirect(h: Handler) -> None:
    h.send_response(302)
    h.send_header("Set-Cookie", "session=secret; Path=/")
    h.send_header("Location", "/echo")
    h.send_header("Content-Length", "0")
    h.end_headers()


def _drip(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    for _ in range(200):  # 40 s if nobody stops reading
        try:
            h.wfile.write(b"x")
            h.wfile.flush()
        except OSError:
            return
        time.sleep(0.2)


def _endless(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    chunk = b"y" * 65536
    for _ in range(10_000):  # 640 MB if nobody stops reading
        try:
            h.wfile.write(chunk)
        except OSError:
            return


def _silent(h: Handler) -> None:
    time.sleep(3)  # no status line at all


def _declared_huge(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/pdf")
    h.send_header("Content-Length", str(10**12))
    h.end_headers()


def _gzip_bomb(h: Handler) -> None:
    body = gzip.compress(b"\0" * 5_000_000)
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Content-Encoding", "gzip")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


ROUTES = {
    "/page": _page,
    "/echo": _echo,
    "/cookie": _set_cookie_then_redirect,
    "/drip": _drip,
    "/endless": _endless,
    "/silent": _silent,
    "/huge": _declared_huge,
    "/bomb": _gzip_bomb,
    "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-private": lambda h: h.redirect("http://10.0.0.5/admin"),
    "/to-mapped": lambda h: h.redirect("http://[::ffff:7f00:1]/"),
    "/to-file": lambda h: h.redirect("file:///etc/passwd"),
    "/loop": lambda h: h.redirect("/loop"),
    "/hop": lambda h: h.redirect("/page"),
    "/pdf": lambda h: h.reply(b"%PDF-1.4 not really", "application/pdf"),
}


@pytest.fixture(scope="module")
def test_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def local_allowed(settings: object) -> None:
    settings.KNOWLEDGE_FETCH_ALLOW_LOOPBACK = True  # type: ignore[attr-defined]


def _resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make getaddrinfo answer for the given names (one list per lookup, in turn)."""
    asked: list[str] = []

    def fake(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
        if host in answers:
            asked.append(host)
            address = answers[host][min(len(asked) - 1, len(answers[host]) - 1)]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port))]
        return _real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://localhost:8000/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1 written as IPv6"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[fd00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[2002:7f00:1::]/", "6to4 address (wrapping 127.0.0.1)"),
        ("http://[2002:a9fe:a9fe::]/", "6to4 address (wrapping 169.254.169.254)"),
        ("http://[64:ff9b::7f00:1]/", "NAT64 address (wrapping 127.0.0.1)"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 address (wrapping 169.254.169.254)"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo address (wrapping 127.0.0.1)"),
        ("http://[::7f00:1]/", "IPv4-compatible address (wrapping 127.0.0.1)"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "private"),
    ],
)
def test_a_url_to_a_non_public_address_is_refused_before_connecting(
    url: str, says: str, only_loopback_connections: list[str]
) -> None:
    with pytest.raises(FetchError, match="only addresses on the public internet") as refused:
        url_fetch(url)
    assert says in str(refused.value)
    assert only_loopback_connections == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.pdf",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "//example.com/no-scheme",
    ],
)
def test_only_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchError, match=r"Only http:// and https://"):
        url_fetch(url)


def test_a_url_with_credentials_is_refused() -> None:
    with pytest.raises(FetchError, match="user name or password"):
        url_fetch("http://admin:hunter2@example.com/")


def test_a_name_is_refused_if_any_of_its_addresses_is_not_public(
    monkeypatch: pytest.MonkeyPatch, only_loopback_connections: list[str]
) -> None:
    def two_addresses(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    with pytest.raises(FetchError, match=r"docs\.example\.test \(169\.254\.169\.254\)"):
        url_fetch("http://docs.example.test/")
    assert only_loopback_connections == []


def test_a_name_that_turns_private_after_the_check_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch, only_loopback_connections: list[str]
) -> None:
    """DNS rebinding: public when checked, loopback when the connection is made."""
    asked = _resolving(monkeypatch, {"rebind.example.test": ["93.184.215.14", "127.0.0.1"]})
    with pytest.raises(FetchError, match="not public"):
        url_fetch("http://rebind.example.test/")
    assert len(asked) == 2  # checked, then resolved again to connect
    assert only_loopback_connections == []


def test_the_connection_goes_to_the_checked_address_with_the_urls_host_name(
    test_server: str, local_allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = test_server.rsplit(":", 1)[1]
    _resolving(monkeypatch, {"docs.example.test": ["127.0.0.1"]})
    fetched = url_fetch(f"http://docs.example.test:{port}/echo")
    assert fetched.body.decode().startswith(f"host=docs.example.test:{port};")


def test_a_page_is_fetched_with_its_type(test_server: str, local_allowed: None) -> None:
    fetched = url_fetch(f"{test_server}/page")
    assert b"Hello from the test server" in fetched.body
    assert fetched.content_type == "text/html"
    assert fetched.charset == "utf-8"
    assert fetched.url == f"{test_server}/page"


def test_the_local_server_is_refused_without_the_test_setting(test_server: str) -> None:
    with pytest.raises(FetchError, match="loopback"):
        url_fetch(f"{test_server}/page")


def test_redirects_are_followed_and_the_final_url_kept(
    test_server: str, local_allowed: None
) -> None:
    fetched = url_fetch(f"{test_server}/hop")
    assert fetched.url == f"{test_server}/page"
    assert fetched.filename == "page"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/to-metadata", "169.254.169.254 is a link-local address"),
        ("/to-private", "10.0.0.5 is a private address"),
        ("/to-mapped", "127.0.0.1 written as IPv6"),
        ("/to-file", "Only http:// and https://"),
    ],
)
def test_a_redirect_to_a_non_public_address_is_refused(
    test_server: str,
    local_allowed: None,
    path: str,
    says: str,
    only_loopback_connections: list[str],
) -> None:
    with pytest.raises(FetchError, match=says):
        url_fetch(f"{test_server}{path}")
    assert all(ipaddress.ip_address(host).is_loopback for host in only_loopback_connections)


def test_a_redirect_loop_ends(test_server: str, local_allowed: None) -> None:
    with pytest.raises(FetchError, match="Too many redirects"):
        url_fetch(f"{test_server}/loop", max_redirects=3)


def test_no_cookie_is_sent_back_even_to_the_server_that_set_it(
    test_server: str, local_allowed: None
) -> None:
    fetched = url_fetch(f"{test_server}/cookie")
    assert fetched.body.endswith(b";cookie=;auth=")


def test_a_dripping_server_is_cut_off_at_the_time_limit(
    test_server: str, local_allowed: None
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"longer than 1 s"):
        url_fetch(f"{test_server}/drip", timeout_s=1)
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers_is_cut_off(test_server: str, local_allowed: None) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer in time"):
        url_fetch(f"{test_server}/silent", timeout_s=1)
    assert time.monotonic() - started < 3


def test_an_endless_response_is_cut_off_at_the_size_limit(
    test_server: str, local_allowed: None
) -> None:
    with pytest.raises(FetchError, match="larger than the limit"):
        url_fetch(f"{test_server}/endless", max_bytes=1_000_000)


def test_a_declared_size_over_the_limit_is_refused_before_reading(
    test_server: str, local_allowed: None
) -> None:
    with pytest.raises(FetchError, match="larger than the limit"):
        url_fetch(f"{test_server}/huge", max_bytes=1_000_000)


def test_a_compressed_body_counts_at_its_decompressed_size(
    test_server: str, local_allowed: None
) -> None:
    with pytest.raises(FetchError, match="larger than the limit"):
        url_fetch(f"{test_server}/bomb", max_bytes=1_000_000)


def test_an_error_status_is_reported(test_server: str, local_allowed: None) -> None:
    with pytest.raises(FetchError, match="answered 404"):
        url_fetch(f"{test_server}/missing")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "1.1.1.1", "8.8.8.8"])
def test_public_addresses_pass_the_check(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None
